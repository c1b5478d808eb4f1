// Shape planning and the summary table (plan.hpp).
#include <algorithm>
#include <cstdio>
#include <sstream>
#include <strider/layers/plan.hpp>

namespace strider::nn {
namespace {

// "4.72 MFLOPs"
std::string flops_human(std::int64_t f) {
  const char* units[] = {"FLOPs", "kFLOPs", "MFLOPs", "GFLOPs", "TFLOPs"};
  double v = static_cast<double>(f);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
  return buf;
}

}  // namespace

std::string thousands(std::int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

Plan plan(const std::vector<LayerSpec>& layers, const Shape& input, const std::string& model) {
  Plan p;
  p.model = model;
  p.input = input;
  const ShapeTrace t = trace_shapes(layers, input);
  std::vector<TrailStep> trail;
  for (size_t i = 0; i < t.checks.size(); ++i) {
    const ShapeCheck& c = t.checks[i];
    PlanRow r;
    r.path = layers[i].path;
    r.type = layers[i].type;
    r.description = layers[i].str();
    r.input = t.inputs[i];
    r.params = layers[i].params;
    p.total_params += r.params;
    if (c.ok()) {
      r.output = c.output;
      r.flops = c.flops;
      p.total_flops += c.flops;
      trail.push_back({layers[i], t.inputs[i], c.output});
    } else {
      r.failed = true;
      const ModelContext ctx{model, layers, input};
      p.diagnosis = diagnose(layers[i], t.inputs[i], c, trail, &ctx);
    }
    p.rows.push_back(std::move(r));
  }
  if (p.ok()) p.output = t.output();
  return p;
}

Plan plan(const Module& module, const Shape& input) {
  Plan p = plan(module.layer_specs(), input, module.path());
  p.model_type = module.type();
  p.total_params = module.num_parameters();
  return p;
}

std::string summary(const Module& module, const Shape& input) { return plan(module, input).str(); }

std::string Plan::str() const {
  struct Cells {
    std::string mark, path, type, output, params, flops;
  };
  std::vector<Cells> cells{{"", "layer", "type", "output shape", "params", "FLOPs"}};
  for (const PlanRow& r : rows) {
    cells.push_back({r.failed ? ">>" : "", r.path.empty() ? "(root)" : r.path, r.type,
                     r.failed ? "FAILS, see below" : shape_str(r.output), thousands(r.params),
                     r.failed ? "-" : thousands(r.flops)});
  }
  size_t w[5] = {0, 0, 0, 0, 0};
  for (const Cells& c : cells) {
    w[0] = std::max(w[0], c.path.size());
    w[1] = std::max(w[1], c.type.size());
    w[2] = std::max(w[2], c.output.size());
    w[3] = std::max(w[3], c.params.size());
    w[4] = std::max(w[4], c.flops.size());
  }
  auto pad = [](const std::string& s, size_t n, bool right) {
    const std::string fill(n > s.size() ? n - s.size() : 0, ' ');
    return right ? fill + s : s + fill;
  };
  std::ostringstream os;
  os << (model.empty() ? "model" : model);
  if (!model_type.empty()) os << " (" << model_type << ")";
  os << ", input " << shape_str(input) << "\n";
  const size_t width = 3 + w[0] + 2 + w[1] + 2 + w[2] + 2 + w[3] + 2 + w[4];
  for (size_t i = 0; i < cells.size(); ++i) {
    const Cells& c = cells[i];
    os << pad(c.mark, 3, false) << pad(c.path, w[0], false) << "  " << pad(c.type, w[1], false) << "  "
       << pad(c.output, w[2], false) << "  " << pad(c.params, w[3], true) << "  " << pad(c.flops, w[4], true) << "\n";
    if (i == 0) os << std::string(width, '-') << "\n";
  }
  os << std::string(width, '-') << "\n";
  os << "total params: " << thousands(total_params) << "\n";
  if (ok()) {
    os << "output: " << shape_str(output) << "\n";
    os << "forward FLOPs: " << thousands(total_flops) << " (" << flops_human(total_flops) << ")\n";
  } else {
    const PlanRow& f = rows.back();
    os << "forward FLOPs up to " << (f.path.empty() ? f.type : f.path) << ": " << thousands(total_flops) << " ("
       << flops_human(total_flops) << ")\n";
    os << "\n" << diagnosis->str() << "\n";
  }
  return os.str();
}

}  // namespace strider::nn
