// The layers' shape functions (see spec.hpp). Convolution and batch-norm validity come from their
// kernels' problem structs; this file only maps a spec and an input shape onto them.
#include <climits>
#include <sstream>
#include <strider/core/error.hpp>
#include <strider/kernels/batchnorm.hpp>
#include <strider/kernels/conv2d.hpp>
#include <strider/layers/spec.hpp>

namespace strider::nn {
namespace {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

// The reason part of a kernel-level message: "conv2d: padded input ...: fixes: ..." -> "padded
// input ...". The fixes are left out because diagnose.cpp computes (and verifies) its own.
std::string kernel_reason(const std::string& msg) {
  std::string s = msg;
  const auto colon = s.find(": ");
  if (colon != std::string::npos) s = s.substr(colon + 2);
  for (const char* cut : {": fixes:", "; "}) {
    const auto at = s.find(cut);
    if (at != std::string::npos) s = s.substr(0, at);
  }
  return s;
}

ShapeCheck fail(ShapeIssue issue, std::string arithmetic, std::int64_t expected = 0, std::int64_t got = 0) {
  ShapeCheck c;
  c.issue = issue;
  c.arithmetic = std::move(arithmetic);
  c.expected = expected;
  c.got = got;
  return c;
}

ShapeCheck rank_failure(const Shape& in, int rank, const char* layout) {
  std::ostringstream os;
  os << "expects a " << rank << "-D input " << layout << ", got a " << in.size() << "-D one " << shape_str(in);
  return fail(ShapeIssue::kRank, os.str(), rank, static_cast<std::int64_t>(in.size()));
}

bool fits_int(const Shape& in) {
  for (auto d : in) {
    if (d < 0 || d > INT_MAX) return false;
  }
  return true;
}

ShapeCheck check_conv(const ConvSpec& c, const Shape& in) {
  if (in.size() != 4) return rank_failure(in, 4, "(N, C, H, W)");
  if (in[1] != c.in_channels) {
    return fail(ShapeIssue::kChannels,
                "expects " + std::to_string(c.in_channels) + " input channels but got " + std::to_string(in[1]),
                c.in_channels, in[1]);
  }
  if (!fits_int(in)) return fail(ShapeIssue::kTooLarge, "input " + shape_str(in) + " has a size beyond 2^31 - 1");
  const kernels::Conv2dProblem p = conv_problem(c, in);
  try {
    p.validate();
  } catch (const ShapeError& e) {
    const bool too_large = p.input_size() > INT_MAX || p.weight_size() > INT_MAX ||
                           (p.P() >= 1 && p.Q() >= 1 && p.output_size() > INT_MAX);
    return fail(too_large ? ShapeIssue::kTooLarge : ShapeIssue::kSpatial, kernel_reason(e.what()));
  } catch (const ValueError& e) {
    return fail(ShapeIssue::kOptions, kernel_reason(e.what()));
  }
  ShapeCheck ok;
  ok.output = {in[0], c.out_channels, p.P(), p.Q()};
  ok.flops = p.flops();
  return ok;
}

ShapeCheck check_batch_norm(const BatchNormSpec& b, const Shape& in) {
  if (in.size() != 4) return rank_failure(in, 4, "(N, C, H, W)");
  if (in[1] != b.num_features) {
    return fail(
        ShapeIssue::kChannels,
        "expects " + std::to_string(b.num_features) + " channels (num_features) but got " + std::to_string(in[1]),
        b.num_features, in[1]);
  }
  kernels::BatchNormProblem p;
  p.N = in[0];
  p.C = in[1];
  p.HW = in[2] * in[3];
  p.eps = b.eps;
  p.momentum = b.momentum.value_or(0.1);
  const bool batch_stats = b.training || !b.track_running_stats;
  try {
    p.validate(batch_stats);
  } catch (const ShapeError& e) {
    const bool single = batch_stats && p.N * p.HW <= 1 && p.HW >= 1 && p.N >= 0;
    return fail(single ? ShapeIssue::kBatchStats : ShapeIssue::kTooLarge, kernel_reason(e.what()));
  } catch (const ValueError& e) {
    return fail(ShapeIssue::kOptions, kernel_reason(e.what()));
  }
  ShapeCheck ok;
  ok.output = in;
  ok.flops = 2 * p.numel();  // one multiply and one add per element once the statistics are folded
  return ok;
}

ShapeCheck check_linear(const LinearSpec& l, const Shape& in) {
  if (in.empty()) return rank_failure(in, 2, "(N, in_features) (or any (..., in_features))");
  if (in.back() != l.in_features) {
    return fail(ShapeIssue::kFeatures,
                "expects " + std::to_string(l.in_features) + " input features (the last dim) but got " +
                    std::to_string(in.back()),
                l.in_features, in.back());
  }
  ShapeCheck ok;
  ok.output = in;
  ok.output.back() = l.out_features;
  std::int64_t rows = 1;
  for (size_t i = 0; i + 1 < in.size(); ++i) rows *= in[i];
  ok.flops = 2 * rows * l.in_features * l.out_features;
  return ok;
}

ShapeCheck check_flatten(const FlattenSpec& f, const Shape& in) {
  const auto rank = static_cast<int>(in.size());
  if (rank == 0) {
    ShapeCheck ok;
    ok.output = {1};
    return ok;
  }
  const int s = f.start_dim < 0 ? f.start_dim + rank : f.start_dim;
  const int e = f.end_dim < 0 ? f.end_dim + rank : f.end_dim;
  if (s < 0 || s >= rank || e < 0 || e >= rank || s > e) {
    std::ostringstream os;
    os << "start_dim " << f.start_dim << " and end_dim " << f.end_dim << " do not select a range of the " << rank
       << " dims of " << shape_str(in);
    return fail(ShapeIssue::kDim, os.str(), f.start_dim, rank);
  }
  ShapeCheck ok;
  for (int i = 0; i < s; ++i) ok.output.push_back(in[static_cast<size_t>(i)]);
  std::int64_t n = 1;
  for (int i = s; i <= e; ++i) n *= in[static_cast<size_t>(i)];
  ok.output.push_back(n);
  for (int i = e + 1; i < rank; ++i) ok.output.push_back(in[static_cast<size_t>(i)]);
  return ok;
}

std::string double_str(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

}  // namespace

kernels::Conv2dProblem conv_problem(const ConvSpec& c, const Shape& in) {
  kernels::Conv2dProblem p;
  p.N = static_cast<int>(in.at(0));
  p.C = static_cast<int>(in.at(1));
  p.H = static_cast<int>(in.at(2));
  p.W = static_cast<int>(in.at(3));
  p.K = static_cast<int>(std::min<std::int64_t>(c.out_channels, INT_MAX));
  p.R = c.kernel[0];
  p.S = c.kernel[1];
  p.stride_h = c.stride[0];
  p.stride_w = c.stride[1];
  p.pad_h = c.padding[0];
  p.pad_w = c.padding[1];
  p.dil_h = c.dilation[0];
  p.dil_w = c.dilation[1];
  p.groups = c.groups;
  p.out_pad_h = c.transposed ? c.output_padding[0] : 0;
  p.out_pad_w = c.transposed ? c.output_padding[1] : 0;
  p.transposed = c.transposed;
  p.has_bias = c.bias;
  return p;
}

ShapeCheck check_shape(const LayerSpec& spec, const Shape& in) {
  return std::visit(Overloaded{
                        [&](const ConvSpec& c) { return check_conv(c, in); },
                        [&](const BatchNormSpec& b) { return check_batch_norm(b, in); },
                        [&](const LinearSpec& l) { return check_linear(l, in); },
                        [&](const FlattenSpec& f) { return check_flatten(f, in); },
                        [&](const ElementwiseSpec& e) {
                          ShapeCheck ok;
                          ok.output = in;
                          std::int64_t n = 1;
                          for (auto d : in) n *= d;
                          ok.flops = n * e.flops_per_element;
                          return ok;
                        },
                        [&](const CustomSpec& c) {
                          if (c.shape_fn) return c.shape_fn(in);
                          return fail(ShapeIssue::kUnknown,
                                      "has no shape function, so its output shape is unknown (a custom "
                                      "layer can override Module::output_shape)");
                        },
                    },
                    spec.detail);
}

std::string pair_str(const std::array<int, 2>& v) {
  return v[0] == v[1] ? std::to_string(v[0]) : std::to_string(v[0]) + "x" + std::to_string(v[1]);
}

std::string spatial_str(const Shape& s) {
  if (s.size() == 4) return std::to_string(s[2]) + "x" + std::to_string(s[3]);
  return shape_str(s);
}

std::string LayerSpec::str() const {
  std::ostringstream os;
  os << type << '(';
  std::visit(Overloaded{
                 [&](const ConvSpec& c) {
                   os << c.in_channels << " -> " << c.out_channels << ", kernel " << pair_str(c.kernel) << ", stride "
                      << pair_str(c.stride) << ", padding " << pair_str(c.padding);
                   if (c.transposed && (c.output_padding[0] || c.output_padding[1]))
                     os << ", output_padding " << pair_str(c.output_padding);
                   if (c.dilation[0] != 1 || c.dilation[1] != 1) os << ", dilation " << pair_str(c.dilation);
                   if (c.groups != 1) os << ", groups " << c.groups;
                   if (!c.bias) os << ", bias=false";
                 },
                 [&](const BatchNormSpec& b) {
                   os << b.num_features << ", eps=" << double_str(b.eps)
                      << ", momentum=" << (b.momentum ? double_str(*b.momentum) : "None");
                   if (!b.affine) os << ", affine=false";
                   if (!b.track_running_stats) os << ", track_running_stats=false";
                 },
                 [&](const LinearSpec& l) {
                   os << l.in_features << " -> " << l.out_features;
                   if (!l.bias) os << ", bias=false";
                 },
                 [&](const FlattenSpec& f) { os << "start_dim=" << f.start_dim << ", end_dim=" << f.end_dim; },
                 [&](const ElementwiseSpec& e) { os << e.args; },
                 [&](const CustomSpec& c) { os << c.args; },
             },
             detail);
  os << ')';
  return os.str();
}

std::string LayerSpec::label() const { return path.empty() ? str() : path + ": " + str(); }

std::optional<std::int64_t> LayerSpec::produced_channels() const {
  if (const auto* c = conv()) return c->out_channels;
  if (const auto* l = std::get_if<LinearSpec>(&detail)) return l->out_features;
  return std::nullopt;
}

std::optional<std::size_t> ShapeTrace::failed_at() const {
  if (ok()) return std::nullopt;
  return checks.size() - 1;
}

const Shape& ShapeTrace::output() const {
  if (checks.empty() || !checks.back().ok()) return inputs.empty() ? input : inputs.back();
  return checks.back().output;
}

ShapeTrace trace_shapes(const std::vector<LayerSpec>& layers, const Shape& input) {
  ShapeTrace t;
  t.input = input;
  Shape cur = input;
  for (const LayerSpec& l : layers) {
    t.inputs.push_back(cur);
    t.checks.push_back(check_shape(l, cur));
    if (!t.checks.back().ok()) break;
    cur = t.checks.back().output;
  }
  return t;
}

}  // namespace strider::nn
