// Differentiable neural-network ops on Tensors (the functional API layers/ builds on):
// convolution, transposed convolution, batch norm, losses, fused optimizer steps.
//
// Every op checks its arguments (devices, dtypes, shapes through the kernels' own problem
// checks) before any kernel runs, dispatches by device — cpu (float32 fast path; float64 through
// the float64 reference kernels, for gradcheck), cuda (strider's hand-written kernels, or cuDNN
// when selected) — and records its backward for autograd.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <strider/core/tensor.hpp>

namespace strider {

// ---- convolution backends ----------------------------------------------------------------------
enum class ConvBackend {
  Native,  // strider's own kernels: cpu:: on the CPU, the hand-written CUDA kernels on a GPU
  Cudnn,   // cuDNN on CUDA tensors (real-CUDA builds with cuDNN only); the CPU ignores it
};
// Process-wide default for CUDA tensors (initially Native). Selecting Cudnn in a build without
// cuDNN throws DeviceError saying so.
void set_conv_backend(ConvBackend backend);
ConvBackend conv_backend();
ConvBackend parse_conv_backend(const std::string& name);  // "native"/"strider"/"hand-written", "cudnn"
bool cudnn_is_available();

// ---- convolution --------------------------------------------------------------------------------
struct Conv2dOptions {
  std::array<int, 2> stride{1, 1};
  std::array<int, 2> padding{0, 0};
  std::array<int, 2> dilation{1, 1};
  std::array<int, 2> output_padding{0, 0};  // conv_transpose2d only
  int groups = 1;
};

// x (N, C, H, W), weight (K, C/groups, R, S), optional bias (K) -> (N, K, P, Q).
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), const Conv2dOptions& opt = {});
// x (N, C, H, W), weight (C, K/groups, R, S), optional bias (K) -> (N, K, P, Q), PyTorch's
// conv_transpose2d.
Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
                        const Conv2dOptions& opt = {});

// ---- batch norm -----------------------------------------------------------------------------------
// x (N, C, H, W) or (N, C); weight/bias (C) or undefined (affine = false); running_mean/var (C) or
// undefined. training: normalise with batch statistics and update the running stats in place
// (momentum, unbiased variance, as PyTorch); eval: normalise with the running stats.
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);

// ---- losses -------------------------------------------------------------------------------------
enum class Reduction { None, Mean, Sum };
// input: probabilities in [0, 1]; target in [0, 1], same shape. log clamped at -100 (PyTorch).
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
// input: logits (any real); numerically stable.
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        Reduction reduction = Reduction::Mean);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);

// log(softmax(x)) along `dim` (negative counts from the end), computed stably as
// x - max - log(sum(exp(x - max))). A composite of differentiable ops.
Tensor log_softmax(const Tensor& x, std::int64_t dim = -1);
// Multi-class cross entropy, PyTorch's F.cross_entropy with class-index targets: logits (N, C),
// labels N integers in [0, C) -> -log_softmax(logits)[n, label[n]], reduced. IndexError naming
// the first bad label; ShapeError when logits is not (N, C) with N == labels.size().
Tensor cross_entropy(const Tensor& logits, const std::vector<std::int32_t>& labels,
                     Reduction reduction = Reduction::Mean);

}  // namespace strider

namespace strider {

// ---- fused optimizer steps (one kernel per parameter tensor); run under NoGradGuard ---------------
struct AdamStep {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  std::int64_t step = 1;  // 1 for the first update (bias correction as torch.optim.Adam)
};
// Updates param, exp_avg, exp_avg_sq in place (all the same shape, device, dtype, contiguous).
void adam_step(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, const AdamStep& s);

struct SgdStep {
  double lr = 1e-2, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
  bool first_step = true;  // initialises the momentum buffer with the gradient (torch.optim.SGD)
};
// Updates param (and momentum_buffer when momentum != 0) in place.
void sgd_step(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, const SgdStep& s);

}  // namespace strider
