// Shape diagnostics that explain themselves: the one place that turns a failed shape check
// (spec.hpp) into a message naming the layer by its path, what it received, how the layers before
// it produced that shape, the violated arithmetic, and fixes computed for this very case.
//
// Used by forward() (through Module::check_input, before any kernel runs) and by plan() alike, so
// both print the same diagnosis. Every proposed fix is a concrete change (Fix) that was applied
// and checked by re-running the shape arithmetic before it is offered: on the whole model when the
// model is known, else on the layers seen so far.
//
// Forward-time context: Sequential::forward opens a ForwardScope; the outermost one is the model
// (its input shape is the model's input) and every scope records the shapes its children produce.
// Shapes only: the cost is a few small vectors per forward.
#pragma once

#include <memory>
#include <optional>
#include <strider/core/error.hpp>
#include <strider/layers/spec.hpp>
#include <string>
#include <vector>

namespace strider::nn {

class Module;

// A layer the input went through, with what it received and produced.
struct TrailStep {
  LayerSpec layer;
  Shape input, output;
};

// One proposed fix: in words, and as a change that can be applied to the layer chain and checked.
struct Fix {
  enum class Kind {
    kChangeLayers,  // replace layers (or insert new ones) in the chain, by path
    kLayerInput,    // give the failing layer this input (a layer-local statement)
    kModelInput,    // give the model this input
  };
  struct Change {
    std::string path;  // the layer replaced, or the one inserted before
    LayerSpec layer;   // the new layer
    bool insert_before = false;
  };
  Kind kind = Kind::kChangeLayers;
  std::string text;
  std::vector<Change> changes;  // kChangeLayers
  Shape input;                  // kLayerInput, kModelInput

  // Applies a kChangeLayers or kModelInput fix to a chain and its input. ValueError when a changed
  // path is not in the chain, or for a kLayerInput fix (it has no model-level meaning).
  void apply(std::vector<LayerSpec>& layers, Shape& input) const;
};

// The model the failing layer ran in: its chain of layers (Module::layer_specs) and its input.
struct ModelContext {
  std::string name;  // the root's path, e.g. "discriminator" ("" when unnamed)
  std::vector<LayerSpec> layers;
  Shape input;
};

// A diagnosis is plain data and outlives the model, except that the shape functions of custom layers
// (CustomSpec) in it may refer to their modules: call them only while those modules exist.
struct Diagnosis {
  LayerSpec layer;                    // the failing layer
  Shape input;                        // what it received
  ShapeCheck check;                   // its failed check: the issue and the violated arithmetic
  std::vector<TrailStep> trail;       // the layers before it, from the model's input on
  std::optional<TrailStep> producer;  // channel/feature mismatch: the layer whose output it got
  bool has_model = false;             // a model context was known (model-level fixes possible)
  std::string model;                  // its name
  Shape model_input;
  std::optional<Shape> model_expects;  // an input the whole model accepts, when one was found
  std::vector<Fix> fixes;              // every one verified; model-level first

  // The full message (what the thrown ShapeError says and what summary() appends).
  std::string str() const;
};

// Diagnoses `failing`, which got `input` and failed `check`. `trail`: the layers before it.
// `model`: the chain the trail started from, when known (its layers must contain `failing` by path).
Diagnosis diagnose(const LayerSpec& failing, const Shape& input, const ShapeCheck& check, std::vector<TrailStep> trail,
                   const ModelContext* model);

// The ShapeError forward() throws for an input a layer cannot take: what() is the diagnosis.
class LayerShapeError : public ShapeError {
 public:
  explicit LayerShapeError(Diagnosis d);
  const Diagnosis& diagnosis() const { return *diagnosis_; }

 private:
  std::shared_ptr<const Diagnosis> diagnosis_;
};

// Diagnoses `layer`'s failed check in the current forward context and throws LayerShapeError.
[[noreturn]] void throw_shape_error(const Module& layer, const LayerSpec& spec, const Shape& input,
                                    const ShapeCheck& check);

// Opened by a container's forward(); the outermost scope on this thread is the model.
class ForwardScope {
 public:
  ForwardScope(const Module& module, const Shape& input);
  ~ForwardScope();
  ForwardScope(const ForwardScope&) = delete;
  ForwardScope& operator=(const ForwardScope&) = delete;
  // A child ran: `child` turned `input` into `output`. Containers record their leaves (a nested
  // container records its own children instead).
  void step(const Module& child, const Shape& input, const Shape& output);
  // Steps recorded so far on this thread: a container records a child as one step only when the
  // child recorded none itself (a nested container records its own children).
  static std::size_t steps_recorded();
};

}  // namespace strider::nn
