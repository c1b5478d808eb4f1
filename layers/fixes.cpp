// The fix search behind diagnose(): for each kind of shape problem, candidate changes computed for
// this very case, each applied and checked by re-running the shape arithmetic (check_shape /
// trace_shapes) before it is offered. Searches, not closed forms: the only formulas are the ones in
// kernels/ problem structs.
#include <algorithm>
#include <cmath>
#include <sstream>
#include <strider/core/error.hpp>
#include <strider/layers/detail/fixes.hpp>
#include <strider/layers/solve.hpp>

namespace strider::nn::detail {
namespace {

std::string who(const LayerSpec& l) { return l.path.empty() ? l.type : l.path; }

LayerSpec with_conv(const LayerSpec& l, const ConvSpec& c) {
  LayerSpec r = l;
  r.detail = c;
  return r;
}

// Whether dimension d (0: height, 1: width) of conv `c` fits `in` on its own (the other dimension
// made trivially valid), so each violated dimension can be searched separately.
bool dim_fits(const LayerSpec& l, ConvSpec c, Shape in, int d) {
  const int o = 1 - d;
  c.kernel[o] = c.stride[o] = c.dilation[o] = 1;
  c.padding[o] = c.output_padding[o] = 0;
  in[0] = 1;
  in[static_cast<size_t>(2 + o)] = 1;
  return check_shape(with_conv(l, c), in).ok();
}

// "kernel 4, stride 2, padding 1"
std::string geometry_str(const ConvSpec& c) {
  std::string s =
      "kernel " + pair_str(c.kernel) + ", stride " + pair_str(c.stride) + ", padding " + pair_str(c.padding);
  if (c.transposed && (c.output_padding[0] || c.output_padding[1]))
    s += ", output_padding " + pair_str(c.output_padding);
  if (c.dilation[0] != 1 || c.dilation[1] != 1) s += ", dilation " + pair_str(c.dilation);
  return s;
}

std::string fix_key(const Fix& f) {
  std::ostringstream os;
  os << static_cast<int>(f.kind) << '|' << shape_str(f.input);
  for (const auto& c : f.changes) os << '|' << c.path << (c.insert_before ? "<" : "=") << c.layer.str();
  return os.str();
}

}  // namespace

const TrailStep* find_producer(const std::vector<TrailStep>& trail, ShapeIssue issue) {
  if (issue != ShapeIssue::kChannels && issue != ShapeIssue::kFeatures) return nullptr;
  for (auto it = trail.rbegin(); it != trail.rend(); ++it) {
    const TrailStep& s = *it;
    if (s.layer.produced_channels()) return &s;
    if (issue == ShapeIssue::kChannels) {
      if (s.input.size() < 2 || s.output.size() < 2 || s.input[1] != s.output[1]) return &s;
    } else if (s.input.empty() || s.output.empty() || s.input.back() != s.output.back()) {
      return &s;
    }
  }
  return nullptr;
}

FixFinder::FixFinder(const Diagnosis& d, ModelContext chain, bool whole_model)
    : d_(d), chain_(std::move(chain)), whole_model_(whole_model) {}

bool FixFinder::verify(const Fix& f) const {
  if (f.kind == Fix::Kind::kLayerInput) return check_shape(d_.layer, f.input).ok();
  std::vector<LayerSpec> layers = chain_.layers;
  Shape in = chain_.input;
  try {
    f.apply(layers, in);
  } catch (const Error&) {
    return false;
  }
  return trace_shapes(layers, in).ok();
}

bool FixFinder::add(Fix f, const std::string& note_if_repeated) {
  if (!verify(f)) return false;
  const std::string key = fix_key(f);
  for (Fix& g : fixes_) {
    if (fix_key(g) != key) continue;
    g.text += note_if_repeated;
    return !note_if_repeated.empty();
  }
  fixes_.push_back(std::move(f));
  return true;
}

Fix FixFinder::change(const LayerSpec& layer, std::string text) const {
  Fix f;
  f.kind = Fix::Kind::kChangeLayers;
  f.text = std::move(text);
  f.changes.push_back({layer.path, layer, false});
  return f;
}

std::string FixFinder::output_of(const LayerSpec& layer) const {
  const ShapeCheck c = check_shape(layer, d_.input);
  return c.ok() ? spatial_str(c.output) : "(no output)";
}

// ---- kernel vs input ----------------------------------------------------------------------------------

void FixFinder::spatial() {
  const ConvSpec* cp = d_.layer.conv();
  if (cp == nullptr || d_.input.size() != 4) return;
  const ConvSpec& c = *cp;
  const Shape& in = d_.input;
  const LayerSpec& l = d_.layer;
  const bool bad[2] = {!dim_fits(l, c, in, 0), !dim_fits(l, c, in, 1)};
  // Searches dimension by dimension for the first value of `field` in [from, to] (step +1/-1) that fits.
  auto search = [&](ConvSpec base, std::array<int, 2> ConvSpec::*field, int step,
                    int limit) -> std::optional<ConvSpec> {
    for (int d = 0; d < 2; ++d) {
      if (!bad[d]) continue;
      bool found = false;
      for (int v = (base.*field)[d] + step; step > 0 ? v <= limit : v >= limit; v += step) {
        ConvSpec t = base;
        (t.*field)[d] = v;
        if (dim_fits(l, t, in, d)) {
          base = t;
          found = true;
          break;
        }
      }
      if (!found) return std::nullopt;
    }
    return base;
  };
  auto input_search = [&](int span) -> std::optional<Shape> {
    Shape x = in;
    for (int d = 0; d < 2; ++d) {
      if (!bad[d]) continue;
      const auto at = static_cast<size_t>(2 + d);
      bool found = false;
      for (std::int64_t v = in[at] + 1; v <= in[at] + span; ++v) {
        Shape t = x;
        t[at] = v;
        if (dim_fits(l, c, t, d)) {
          x = t;
          found = true;
          break;
        }
      }
      if (!found) return std::nullopt;
    }
    return x;
  };
  const int extent = std::max(c.dilation[0] * c.kernel[0], c.dilation[1] * c.kernel[1]) + 1;
  if (!c.transposed) {
    if (auto k = search(c, &ConvSpec::kernel, -1, 1)) {
      const LayerSpec s = with_conv(l, *k);
      add(change(s, who(l) + ": kernel " + pair_str(k->kernel) + " (the largest that fits this input) gives " +
                        output_of(s) + ": " + s.str()),
          "; kernel " + pair_str(k->kernel) + " is also the largest that fits this input");
    }
    if (auto p = search(c, &ConvSpec::padding, +1, std::max(c.padding[0], c.padding[1]) + extent)) {
      const LayerSpec s = with_conv(l, *p);
      add(change(s, who(l) + ": padding " + pair_str(p->padding) + " (the smallest that fits the " +
                        std::to_string(c.kernel[0]) + "x" + std::to_string(c.kernel[1]) + " kernel) gives " +
                        output_of(s) + ": " + s.str()));
    }
    if ((bad[0] && c.dilation[0] > 1) || (bad[1] && c.dilation[1] > 1)) {
      ConvSpec t = c;
      t.dilation = {1, 1};
      const LayerSpec s = with_conv(l, t);
      add(change(s, who(l) + ": dilation 1 gives " + output_of(s) + ": " + s.str()));
    }
    if (auto x = input_search(2 * extent)) {
      Fix f;
      f.kind = Fix::Kind::kLayerInput;
      f.input = *x;
      f.text = who(l) + " needs an input of at least " + spatial_str(*x) + " (it got " + spatial_str(in) + ")";
      add(f);
    }
    return;
  }
  // Transposed: the output came out empty.
  if (auto p = search(c, &ConvSpec::padding, -1, 0)) {
    const LayerSpec s = with_conv(l, *p);
    add(change(s, who(l) + ": padding " + pair_str(p->padding) + " (the largest that gives an output) gives " +
                      output_of(s) + ": " + s.str()));
  }
  if (auto k = search(c, &ConvSpec::kernel, +1,
                      std::max(c.kernel[0], c.kernel[1]) + 2 * std::max(c.padding[0], c.padding[1]) + 2)) {
    const LayerSpec s = with_conv(l, *k);
    add(change(s, who(l) + ": kernel " + pair_str(k->kernel) + " (the smallest that gives an output) gives " +
                      output_of(s) + ": " + s.str()));
  }
  if (auto x = input_search(2 * std::max(c.padding[0], c.padding[1]) + 2)) {
    Fix f;
    f.kind = Fix::Kind::kLayerInput;
    f.input = *x;
    f.text = who(l) + " needs an input of at least " + spatial_str(*x) + " (it got " + spatial_str(in) + ")";
    add(f);
  }
}

// ---- channels and features ------------------------------------------------------------------------------

void FixFinder::channels() {
  const std::int64_t want = d_.check.expected, got = d_.check.got;
  LayerSpec consumer = d_.layer;
  if (auto* c = consumer.conv()) c->in_channels = got;
  if (auto* b = std::get_if<BatchNormSpec>(&consumer.detail)) b->num_features = got;
  add(change(consumer, who(d_.layer) + ": build it for " + std::to_string(got) + " input channels: " + consumer.str()));
  if (d_.producer) {
    // The producer outputs `want` channels, and the channel-sized layers between them follow.
    Fix f;
    f.kind = Fix::Kind::kChangeLayers;
    LayerSpec p = d_.producer->layer;
    if (auto* c = p.conv()) c->out_channels = want;
    if (auto* li = std::get_if<LinearSpec>(&p.detail)) li->out_features = want;
    f.changes.push_back({p.path, p, false});
    std::string also;
    bool after = false;
    for (const TrailStep& s : d_.trail) {
      if (s.layer.path == p.path) {
        after = true;
        continue;
      }
      if (!after) continue;
      if (auto* b = std::get_if<BatchNormSpec>(&s.layer.detail)) {
        LayerSpec bn = s.layer;
        std::get<BatchNormSpec>(bn.detail).num_features = want;
        also += (also.empty() ? "" : ", ") + who(bn) + ": " + bn.str();
        f.changes.push_back({bn.path, bn, false});
        (void)b;
      }
    }
    f.text =
        who(p) + ": output " + std::to_string(want) + " channels: " + p.str() + (also.empty() ? "" : ", and " + also);
    add(f);
  } else if (chain_.input.size() >= 2) {
    Fix f;
    f.kind = whole_model_ || !d_.trail.empty() ? Fix::Kind::kModelInput : Fix::Kind::kLayerInput;
    f.input = f.kind == Fix::Kind::kModelInput ? chain_.input : d_.input;
    f.input[1] = want;
    f.text = "feed " + std::string(f.kind == Fix::Kind::kModelInput ? "the model" : who(d_.layer)) + " inputs with " +
             std::to_string(want) + " channels: " + shape_str(f.input);
    if (got == 1 && want == 3) f.text += " (grey images into an RGB model: repeat the channel, x.expand({N, 3, H, W}))";
    add(f);
  }
}

void FixFinder::features() {
  const std::int64_t want = d_.check.expected, got = d_.check.got;
  const Shape& in = d_.input;
  LayerSpec consumer = d_.layer;
  auto* li = std::get_if<LinearSpec>(&consumer.detail);
  if (li == nullptr) return;
  if (in.size() > 2) {
    // Probably a missing Flatten: (N, C, H, W) into Linear.
    std::int64_t flat = 1;
    for (size_t i = 1; i < in.size(); ++i) flat *= in[i];
    LayerSpec fl;
    fl.type = "Flatten";
    fl.path = "(new Flatten)";
    fl.detail = FlattenSpec{1, -1};
    Fix f;
    f.kind = Fix::Kind::kChangeLayers;
    f.changes.push_back({d_.layer.path, fl, true});
    Shape flat_shape{in[0], flat};
    if (flat == want) {
      f.text = "insert Flatten() before " + who(d_.layer) + ": it turns " + shape_str(in) + " into " +
               shape_str(flat_shape) + ", the " + std::to_string(want) + " features it expects";
    } else {
      LayerSpec wide = consumer;
      std::get<LinearSpec>(wide.detail).in_features = flat;
      f.changes.push_back({d_.layer.path, wide, false});
      f.text = "insert Flatten() before " + who(d_.layer) + " (giving " + shape_str(flat_shape) +
               ") and build it for " + std::to_string(flat) + " input features: " + wide.str();
    }
    add(f);
  }
  li->in_features = got;
  add(change(consumer, who(d_.layer) + ": build it for " + std::to_string(got) + " input features: " + consumer.str()));
  if (d_.producer && std::get_if<LinearSpec>(&d_.producer->layer.detail)) {
    LayerSpec p = d_.producer->layer;
    std::get<LinearSpec>(p.detail).out_features = want;
    add(change(p, who(p) + ": output " + std::to_string(want) + " features: " + p.str()));
  }
}

// ---- rank, batch statistics, size, flatten dims ------------------------------------------------------

void FixFinder::rank() {
  const Shape& in = d_.input;
  const bool model_level = whole_model_ && d_.trail.empty();
  Fix f;
  f.kind = model_level ? Fix::Kind::kModelInput : Fix::Kind::kLayerInput;
  if (d_.check.expected == 4 && in.size() == 3) {
    f.input = {1, in[0], in[1], in[2]};
    f.text = "add the batch dimension: x.unsqueeze(0) gives " + shape_str(f.input);
    add(f);
  } else if (d_.check.expected == 4 && in.size() == 2) {
    const ConvSpec* c = d_.layer.conv();
    const std::int64_t ch = c ? c->in_channels : std::get<BatchNormSpec>(d_.layer.detail).num_features;
    if (ch > 0 && in[1] % ch == 0) {
      const auto s = static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(in[1] / ch))));
      if (s * s * ch == in[1]) {
        f.kind = Fix::Kind::kLayerInput;
        f.input = {in[0], ch, s, s};
        f.text = "reshape the " + shape_str(in) + " features to " + shape_str(f.input) + " before " + who(d_.layer) +
                 " (x.view({" + std::to_string(in[0]) + ", " + std::to_string(ch) + ", " + std::to_string(s) + ", " +
                 std::to_string(s) + "}))";
        add(f);
      }
    }
  }
}

void FixFinder::batch_stats() {
  for (std::int64_t n = std::max<std::int64_t>(d_.input[0] + 1, 2); n <= 16; ++n) {
    Fix f;
    f.kind = Fix::Kind::kLayerInput;
    f.input = d_.input;
    f.input[0] = n;
    f.text = "a batch of at least " + std::to_string(n) + " samples: " + shape_str(f.input);
    if (add(f)) break;
  }
  LayerSpec eval = d_.layer;
  std::get<BatchNormSpec>(eval.detail).training = false;
  add(change(eval, "run " + who(d_.layer) + " in eval mode (model->eval()) to normalise with its running statistics"));
}

void FixFinder::too_large() {
  Fix f;
  f.kind = Fix::Kind::kLayerInput;
  f.input = d_.input;
  while (!f.input.empty() && f.input[0] > 1) {
    f.input[0] = (f.input[0] + 1) / 2;
    if (check_shape(d_.layer, f.input).ok()) {
      f.text = "split the batch into chunks of at most " + std::to_string(f.input[0]) + ": " + shape_str(f.input);
      add(f);
      return;
    }
  }
}

void FixFinder::flatten_dims() {
  for (const FlattenSpec fs : {FlattenSpec{1, -1}, FlattenSpec{0, -1}}) {
    LayerSpec s = d_.layer;
    s.detail = fs;
    if (add(change(s, who(d_.layer) + ": " + s.str() + " gives " + output_of(s)))) return;
  }
}

// ---- model level ------------------------------------------------------------------------------------------

std::optional<Shape> FixFinder::model_input() {
  const Shape& in = chain_.input;
  if (in.size() < 2) return std::nullopt;
  const bool image = in.size() == 4;
  const std::int64_t cur = image ? std::max(in[2], in[3]) : in.back();
  const std::int64_t hi = std::min<std::int64_t>(std::max<std::int64_t>(2 * cur, 256), 4096);
  auto candidate = [&](std::int64_t s) {
    Shape x = in;
    if (image) {
      x[2] = x[3] = s;
    } else {
      x.back() = s;
    }
    return x;
  };
  // Runs of consecutive sizes that work; pick the run nearest to the input, suggest its lower end.
  std::int64_t best = -1, best_dist = 0;
  for (std::int64_t s = 1; s <= hi; ++s) {
    if (!trace_shapes(chain_.layers, candidate(s)).ok()) continue;
    const std::int64_t start = s;
    while (s + 1 <= hi && trace_shapes(chain_.layers, candidate(s + 1)).ok()) ++s;
    const std::int64_t dist = cur < start ? start - cur : (cur > s ? cur - s : 0);
    if (best < 0 || dist < best_dist) {
      best = start;
      best_dist = dist;
    }
  }
  if (best < 0) return std::nullopt;
  Fix f;
  f.kind = Fix::Kind::kModelInput;
  f.input = candidate(best);
  f.text = image ? "resize the inputs to " + spatial_str(f.input) + ": " + shape_str(f.input)
                 : "feed inputs of shape " + shape_str(f.input);
  add(f);
  return f.input;
}

void FixFinder::design_for_input(const Shape& expects) {
  if (chain_.input.size() != 4) return;
  const ShapeTrace design = trace_shapes(chain_.layers, expects);
  const ShapeTrace actual = trace_shapes(chain_.layers, chain_.input);
  const auto failed = actual.failed_at();
  if (!design.ok() || !failed) return;
  const Shape& target_out = design.output();
  const std::string here = spatial_str(chain_.input), there = spatial_str(expects);
  int found = 0;
  for (std::size_t j = *failed + 1; j-- > 0 && found < 2;) {
    const ConvSpec* c = chain_.layers[j].conv();
    const Shape& r = actual.inputs[j];
    const Shape& t = design.checks[j].output;
    if (c == nullptr || r.size() != 4 || t.size() != 4) continue;
    auto solve = c->transposed ? solve_conv_transpose : solve_conv;
    const auto ch = solve(r[2], t[2]);
    const auto cw = r[2] == r[3] && t[2] == t[3] ? ch : solve(r[3], t[3]);
    const bool square = r[2] == r[3] && t[2] == t[3];
    bool done = false;
    for (size_t sum = 0; sum < 12 && !done; ++sum) {
      for (size_t a = 0; a <= sum && !done; ++a) {
        const size_t b = square ? a : sum - a;
        if ((square && 2 * a != sum) || a >= ch.size() || b >= cw.size()) continue;
        ConvSpec n = *c;
        n.kernel = {ch[a].kernel, cw[b].kernel};
        n.stride = {ch[a].stride, cw[b].stride};
        n.padding = {ch[a].padding, cw[b].padding};
        n.output_padding = {ch[a].output_padding, cw[b].output_padding};
        n.dilation = {1, 1};
        const LayerSpec s = with_conv(chain_.layers[j], n);
        std::vector<LayerSpec> layers = chain_.layers;
        layers[j] = s;
        const ShapeTrace tr = trace_shapes(layers, chain_.input);
        if (!tr.ok() || tr.output() != target_out) continue;
        const std::string text = std::string(found == 0 ? "build it for " + here + " instead, e.g. change "
                                                        : "or build it for " + here + " by changing ") +
                                 who(s) + " to " + geometry_str(n) + " (" + spatial_str(r) + " -> " + spatial_str(t) +
                                 ", as at " + there + "): " + s.str();
        if (add(change(s, text))) ++found;
        done = true;
      }
    }
  }
}

}  // namespace strider::nn::detail
