// Diagnosis: assembling and printing it, the forward-time context, and the thrown error. The fix
// search itself is in fixes.cpp.
#include <algorithm>
#include <sstream>
#include <strider/layers/detail/fixes.hpp>
#include <strider/layers/diagnose.hpp>
#include <strider/layers/module.hpp>

namespace strider::nn {
namespace {

// ---- forward context (one per thread) --------------------------------------------------------

struct ForwardStep {
  const Module* module;
  Shape input, output;
};

struct ForwardContext {
  const Module* root = nullptr;
  Shape input;
  std::vector<ForwardStep> steps;
  int depth = 0;
};

thread_local ForwardContext g_forward;

// ---- printing ---------------------------------------------------------------------------------

// "28x28 -> discriminator.0 -> 14x14 -> ... -> 1x1 -> discriminator.11": only the layers that change
// what is shown (HxW for spatial problems, the whole shape otherwise).
std::string trail_str(const Diagnosis& d) {
  const bool spatial = d.check.issue == ShapeIssue::kSpatial;
  auto show = [&](const Shape& s) { return spatial && s.size() == 4 ? spatial_str(s) : shape_str(s); };
  std::ostringstream os;
  std::string last = show(d.trail.front().input);
  os << last;
  for (const TrailStep& s : d.trail) {
    const std::string out = show(s.output);
    if (out == last) continue;
    os << " -> " << (s.layer.path.empty() ? s.layer.type : s.layer.path) << " -> " << out;
    last = out;
  }
  os << " -> " << (d.layer.path.empty() ? d.layer.type : d.layer.path);
  return os.str();
}

std::string model_name(const Diagnosis& d) { return d.model.empty() ? "the model" : d.model; }

}  // namespace

// ---- Fix --------------------------------------------------------------------------------------------

void Fix::apply(std::vector<LayerSpec>& layers, Shape& in) const {
  switch (kind) {
    case Kind::kModelInput:
      in = input;
      return;
    case Kind::kLayerInput:
      STRIDER_THROW(ValueError, "Fix::apply: \"" << text
                                                 << "\" states the input one layer needs; it does not "
                                                    "change the model (check it with check_shape on that layer)");
    case Kind::kChangeLayers:
      break;
  }
  for (const Change& c : changes) {
    auto it = std::find_if(layers.begin(), layers.end(), [&](const LayerSpec& l) { return l.path == c.path; });
    STRIDER_CHECK(it != layers.end(), ValueError,
                  "Fix::apply: layer \"" << c.path << "\" is not in this chain of " << layers.size() << " layers");
    if (c.insert_before) {
      layers.insert(it, c.layer);
    } else {
      *it = c.layer;
    }
  }
}

// ---- Diagnosis -----------------------------------------------------------------------------------------

std::string Diagnosis::str() const {
  std::ostringstream os;
  const bool mismatch = check.issue == ShapeIssue::kChannels || check.issue == ShapeIssue::kFeatures;
  os << layer.label() << ' ';
  if (mismatch) {
    os << check.arithmetic << " from ";
    if (producer) {
      os << producer->layer.label();
    } else {
      os << (trail.empty() && has_model ? "the model's input" : "its input");
    }
    os << " (input " << shape_str(input) << ")";
  } else {
    os << "got input " << shape_str(input) << ": " << check.arithmetic;
  }
  if (!trail.empty()) os << "\n  shape trail: " << trail_str(*this);
  if (model_expects) {
    const bool image = model_input.size() == 4;
    os << "\n  " << model_name(*this) << " expects "
       << (image ? spatial_str(*model_expects) + " images" : shape_str(*model_expects) + " inputs") << " and got "
       << (image ? spatial_str(model_input) : shape_str(model_input));
  }
  if (fixes.empty()) {
    os << "\n  no fix found by the shape search for this case";
  } else {
    os << "\n  fixes (each checked by re-running the shape arithmetic):";
    for (const Fix& f : fixes) os << "\n    - " << f.text;
  }
  return os.str();
}

Diagnosis diagnose(const LayerSpec& failing, const Shape& input, const ShapeCheck& check, std::vector<TrailStep> trail,
                   const ModelContext* model) {
  Diagnosis d;
  d.layer = failing;
  d.input = input;
  d.check = check;
  d.trail = std::move(trail);
  if (const TrailStep* p = detail::find_producer(d.trail, check.issue)) d.producer = *p;
  d.has_model = model != nullptr;
  // The chain fixes are verified on: the model, or else the layers seen so far ending at this one.
  ModelContext chain;
  if (model) {
    d.model = model->name;
    d.model_input = model->input;
    chain = *model;
  } else {
    chain.input = d.trail.empty() ? input : d.trail.front().input;
    for (const TrailStep& s : d.trail) {
      LayerSpec l = s.layer;
      // A custom step may have no shape function: replay what it did.
      if (auto* c = std::get_if<CustomSpec>(&l.detail)) {
        c->shape_fn = [in = s.input, out = s.output, fn = c->shape_fn](const Shape& x) {
          if (x == in) {
            ShapeCheck ok;
            ok.output = out;
            return ok;
          }
          if (fn) return fn(x);
          ShapeCheck unknown;
          unknown.issue = ShapeIssue::kUnknown;
          unknown.arithmetic = "output shape unknown for this input";
          return unknown;
        };
      }
      chain.layers.push_back(std::move(l));
    }
    chain.layers.push_back(failing);
  }
  detail::FixFinder finder(d, chain, model != nullptr);
  // Model-level fixes first: the usual cause is a model fed inputs of another size than it was built
  // for, not the layer where the shapes finally stop fitting.
  if (model && (check.issue == ShapeIssue::kSpatial || check.issue == ShapeIssue::kFeatures)) {
    d.model_expects = finder.model_input();
    if (d.model_expects && check.issue == ShapeIssue::kSpatial) finder.design_for_input(*d.model_expects);
  }
  switch (check.issue) {
    case ShapeIssue::kSpatial:
      finder.spatial();
      break;
    case ShapeIssue::kChannels:
      finder.channels();
      break;
    case ShapeIssue::kFeatures:
      finder.features();
      break;
    case ShapeIssue::kRank:
      finder.rank();
      break;
    case ShapeIssue::kBatchStats:
      finder.batch_stats();
      break;
    case ShapeIssue::kTooLarge:
      finder.too_large();
      break;
    case ShapeIssue::kDim:
      finder.flatten_dims();
      break;
    default:
      break;
  }
  d.fixes = finder.take();
  return d;
}

LayerShapeError::LayerShapeError(Diagnosis d)
    : ShapeError(d.str()), diagnosis_(std::make_shared<const Diagnosis>(std::move(d))) {}

// ---- forward-time context ----------------------------------------------------------------------------------

ForwardScope::ForwardScope(const Module& module, const Shape& input) {
  if (g_forward.depth++ == 0) {
    g_forward.root = &module;
    g_forward.input = input;
    g_forward.steps.clear();
  }
}

ForwardScope::~ForwardScope() {
  if (--g_forward.depth == 0) {
    g_forward.root = nullptr;
    g_forward.steps.clear();
  }
}

void ForwardScope::step(const Module& child, const Shape& input, const Shape& output) {
  g_forward.steps.push_back({&child, input, output});
}

std::size_t ForwardScope::steps_recorded() { return g_forward.steps.size(); }

void throw_shape_error(const Module& layer, const LayerSpec& spec, const Shape& input, const ShapeCheck& check) {
  std::vector<TrailStep> trail;
  std::optional<ModelContext> model;
  if (g_forward.depth > 0 && g_forward.root != nullptr && g_forward.root != &layer) {
    for (const ForwardStep& s : g_forward.steps) trail.push_back({s.module->spec(), s.input, s.output});
    // Model-level fixes need the model's chain; trust it only when planning it reproduces this
    // very failure (same layer, same input, same issue).
    ModelContext m{g_forward.root->path(), g_forward.root->layer_specs(), g_forward.input};
    const ShapeTrace t = trace_shapes(m.layers, m.input);
    if (const auto f = t.failed_at();
        f && m.layers[*f].path == spec.path && t.inputs[*f] == input && t.checks[*f].issue == check.issue) {
      model = std::move(m);
    }
  }
  throw LayerShapeError(diagnose(spec, input, check, std::move(trail), model ? &*model : nullptr));
}

}  // namespace strider::nn
