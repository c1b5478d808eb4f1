// LayerSpec: what a layer is, as plain values (no tensors), and its shape function.
//
// Every layer describes itself as a LayerSpec (Module::spec()). check_shape(spec, input) is the
// layer's shape function: the output shape and FLOPs for an input shape, or which condition the
// input violates, WITHOUT allocating tensors or running kernels. Convolutions go through
// kernels::Conv2dProblem and batch norm through kernels::BatchNormProblem, so the arithmetic and its
// validity checks live in exactly one place. forward() (before any kernel runs), the planner and the
// fix search in diagnose.cpp all call check_shape, so they agree by construction.
//
// Because a spec is a value, a hypothetical layer ("this conv with kernel 1") can be checked
// without building it: that is how every proposed fix is verified.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <strider/core/shape.hpp>
#include <string>
#include <variant>
#include <vector>

namespace strider::kernels {
struct Conv2dProblem;
}

namespace strider::nn {

struct ConvSpec {  // Conv2d and ConvTranspose2d
  std::int64_t in_channels = 1, out_channels = 1;
  std::array<int, 2> kernel{1, 1}, stride{1, 1}, padding{0, 0}, dilation{1, 1}, output_padding{0, 0};
  int groups = 1;
  bool bias = true;
  bool transposed = false;
};

struct BatchNormSpec {
  std::int64_t num_features = 1;
  double eps = 1e-5;
  std::optional<double> momentum = 0.1;  // nullopt: cumulative moving average
  bool affine = true, track_running_stats = true;
  bool training = true;  // the module's mode: decides whether batch statistics are needed
};

struct LinearSpec {
  std::int64_t in_features = 1, out_features = 1;
  bool bias = true;
};

struct FlattenSpec {
  int start_dim = 1, end_dim = -1;
};

struct ElementwiseSpec {  // activations: output shape = input shape
  std::string args;       // inside the parentheses when printed, e.g. "negative_slope=0.2"
  int flops_per_element = 1;
};

struct ShapeCheck;
struct CustomSpec {  // a user's layer: its own shape function, or none (the planner stops there)
  std::string args;
  std::function<ShapeCheck(const Shape&)> shape_fn;
};

struct LayerSpec {
  std::string type;  // "Conv2d", "LeakyReLU", ...
  std::string path;  // "discriminator.11"; "" for an unnamed root
  std::int64_t params = 0;
  std::variant<ConvSpec, BatchNormSpec, LinearSpec, FlattenSpec, ElementwiseSpec, CustomSpec> detail;

  // "Conv2d(512 -> 1, kernel 4, stride 1, padding 0, bias=false)": how the layer prints everywhere
  // (module printing, errors, the summary table).
  std::string str() const;
  // "discriminator.11: Conv2d(...)", or just str() without a path.
  std::string label() const;

  const ConvSpec* conv() const { return std::get_if<ConvSpec>(&detail); }
  ConvSpec* conv() { return std::get_if<ConvSpec>(&detail); }
  // The channel (or feature) count this layer outputs when it sets one: Conv2d/ConvTranspose2d
  // out_channels, Linear out_features; nullopt for layers that pass channels through.
  std::optional<std::int64_t> produced_channels() const;
};

// What went wrong, for the diagnosis to pick its fixes.
enum class ShapeIssue {
  kNone,
  kRank,        // wrong number of dims
  kChannels,    // dim 1 (conv, batch norm) is not the layer's in_channels / num_features
  kFeatures,    // last dim is not Linear's in_features
  kSpatial,     // conv: padded input smaller than the kernel; transposed conv: output below 1x1
  kBatchStats,  // batch norm in training with one value per channel
  kTooLarge,    // sizes beyond what the kernels index (2^31 elements)
  kDim,         // Flatten dims out of range
  kOptions,     // the layer's own options are invalid (only hypothetical specs: layers check theirs)
  kUnknown,     // a custom layer without a shape function
};

struct ShapeCheck {
  Shape output;            // when ok()
  std::int64_t flops = 0;  // forward FLOPs (2 x multiply-adds for conv/linear)
  ShapeIssue issue = ShapeIssue::kNone;
  std::string arithmetic;              // the violated condition with its numbers, e.g. "padded input 1x1 ..."
  std::int64_t expected = 0, got = 0;  // kChannels / kFeatures / kRank: what the layer wanted and got
  bool ok() const { return issue == ShapeIssue::kNone; }
};

// The layer's shape function (see the top of this file). Never throws for shape problems.
ShapeCheck check_shape(const LayerSpec& spec, const Shape& input);

// The shapes of a chain of layers (a Sequential, flattened), up to the first layer that fails.
struct ShapeTrace {
  Shape input;                     // the chain's input
  std::vector<Shape> inputs;       // inputs[i]: what layer i received (for the layers reached)
  std::vector<ShapeCheck> checks;  // checks[i]: layer i's result; the last one failed when !ok()
  bool ok() const { return checks.empty() || checks.back().ok(); }
  std::optional<std::size_t> failed_at() const;
  const Shape& output() const;  // the last layer's output (the input when there are no layers)
};
ShapeTrace trace_shapes(const std::vector<LayerSpec>& layers, const Shape& input);

// The conv problem of `spec` on an NCHW `input` (4 dims, each within int range: check first).
kernels::Conv2dProblem conv_problem(const ConvSpec& spec, const Shape& input);

// "64x64" for a 4-D shape; shape_str() otherwise.
std::string spatial_str(const Shape& s);
// "4" for (4, 4), "4x3" otherwise.
std::string pair_str(const std::array<int, 2>& v);

}  // namespace strider::nn
