// Module: the base of every layer and model, PyTorch-C++ style, held by std::shared_ptr.
//
//   auto d = std::make_shared<nn::Sequential>(
//       std::make_shared<nn::Conv2d>(nn::Conv2dOptions(3, 64, 4).stride(2).padding(1).bias(false)),
//       std::make_shared<nn::LeakyReLU>(0.2));
//   d->set_name("discriminator");          // paths: "discriminator.0", "discriminator.1"
//   d->to(Device::cuda());                  // moves parameters and buffers in place
//   optim::Adam opt(d->parameters(), optim::AdamOptions(2e-4).betas(0.5, 0.999));
//
// A module has named children (registration order kept), parameters (leaf tensors that require
// grad) and buffers (state that is not trained, e.g. BatchNorm2d's running statistics). Each module
// knows its path in the model: the root's name, then the children's names joined by dots; errors
// name layers by it. Names in named_parameters()/state_dict() are relative to the module asked
// ("0.weight"), as in PyTorch.
//
// Shape planning: each leaf layer describes itself as a LayerSpec (spec.hpp) whose shape function
// forward() checks the input against before any kernel runs; containers describe themselves as the
// chain of their children (append_specs), which is what plan() and the error diagnosis walk.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <strider/core/tensor.hpp>
#include <strider/layers/spec.hpp>
#include <string>
#include <utility>
#include <vector>

namespace strider::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// What load_state_dict(strict = false) skipped.
struct LoadResult {
  std::vector<std::string> missing;     // in the module, not in the state dict
  std::vector<std::string> unexpected;  // in the state dict, not in the module
};

class Module : public std::enable_shared_from_this<Module> {
 public:
  explicit Module(std::string type);
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // ---- forward --------------------------------------------------------------------------------
  // The default throws ValueError: every concrete module overrides it.
  virtual Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  // ---- identity -------------------------------------------------------------------------------
  const std::string& type() const { return type_; }  // "Conv2d", "Sequential", ...
  const std::string& name() const { return name_; }  // its name under its parent ("11"), or the root's
  const std::string& path() const { return path_; }  // "discriminator.11"; "" for an unnamed root
  // Names a root ("discriminator"); the paths of all descendants follow. Returns *this.
  Module& set_name(const std::string& name);

  // ---- children, parameters, buffers ------------------------------------------------------------
  // Names are non-empty, without '.', unique within the module (ValueError otherwise).
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }
  // Stores `t` (a handle: the caller keeps sharing it) and marks it requires_grad. Returns it.
  Tensor register_parameter(const std::string& name, Tensor t, bool requires_grad = true);
  // keep_dtype: to(DType) leaves it alone (counters such as num_batches_tracked stay float64).
  Tensor register_buffer(const std::string& name, Tensor t, bool keep_dtype = false);

  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const { return children_; }
  std::vector<std::shared_ptr<Module>> children() const;
  // Pre-order, this module first (name ""), then "0", "0.conv", ...
  std::vector<std::pair<std::string, std::shared_ptr<const Module>>> named_modules() const;
  // The child called `name`; IndexError listing the children otherwise.
  std::shared_ptr<Module> child(const std::string& name) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  NamedTensors named_parameters(bool recurse = true) const;  // "features.0.weight"
  std::vector<Tensor> buffers(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  std::int64_t num_parameters(bool recurse = true) const;  // elements, as torchinfo counts them

  // ---- modes and devices --------------------------------------------------------------------------
  // Sets the mode of this module and every descendant (BatchNorm2d: batch vs running statistics).
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Move/convert every parameter and buffer IN PLACE: the tensors keep their identity (handles held
  // elsewhere, e.g. by an optimizer, see the moved data), gradients move along. Build optimizers
  // after to() all the same, as in PyTorch: their state is created where the parameters are.
  void to(Device device);
  void to(DType dtype);
  void to(Device device, DType dtype);
  // Clears (set_to_none) or zeroes the gradient of every parameter.
  void zero_grad(bool set_to_none = true);

  // ---- checkpoints ------------------------------------------------------------------------------------
  // Parameters and buffers by relative name, module by module in registration order (the tensors
  // share storage with the module's; detached).
  NamedTensors state_dict() const;
  // Copies the values in (converting dtype and device). Checks everything before copying anything:
  // missing, unexpected and mis-shaped entries are all named in one error (ValueError; ShapeError
  // when only shapes differ). strict = false skips missing and unexpected entries (returned), never
  // mis-shaped ones.
  LoadResult load_state_dict(const NamedTensors& state, bool strict = true);

  // ---- printing -------------------------------------------------------------------------------------
  // "Sequential(\n  (0): Conv2d(3 -> 64, kernel 4, stride 2, padding 1, bias=false)\n  ...\n)".
  std::string str() const;
  // What a custom leaf prints inside its parentheses (built-in layers print their spec).
  virtual std::string extra_repr() const { return ""; }

  // ---- shape planning (spec.hpp, plan.hpp) -----------------------------------------------------------
  // This layer as a value. The default describes a custom layer whose shape function is
  // output_shape(); built-in layers return their options.
  virtual LayerSpec spec() const;
  // Appends the chain this module runs: a leaf appends spec(); a module with children appends its
  // children's chains in registration order. A module whose forward() is NOT the chain of its
  // children in registration order must override this (e.g. append one CustomSpec of its own).
  virtual void append_specs(std::vector<LayerSpec>& out) const;
  std::vector<LayerSpec> layer_specs() const;
  // A custom leaf's shape function; the default reports an unknown shape (ShapeIssue::kUnknown).
  virtual ShapeCheck output_shape(const Shape& input) const;

 protected:
  // Runs the layer's shape function on `input` and throws the diagnosed ShapeError (diagnose.hpp)
  // when it does not fit. Leaf layers call it first thing in forward().
  void check_input(const Shape& input) const;
  // A spec with type, path and parameter count filled in.
  LayerSpec make_spec(decltype(LayerSpec::detail) detail) const;

  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;

 private:
  struct Buffer {
    std::string name;
    Tensor tensor;
    bool keep_dtype = false;
  };
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name, const char* what) const;
  void set_path(const std::string& path);
  void collect(const std::string& prefix, bool recurse, bool params, bool bufs, NamedTensors& out) const;
  void move_to(std::optional<Device> device, std::optional<DType> dtype);

  std::string type_, name_, path_;
  bool training_ = true;
  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<Buffer> buffers_;
};

std::ostream& operator<<(std::ostream& os, const Module& m);

}  // namespace strider::nn
