// Pointwise losses on raw contiguous buffers of n elements: binary cross-entropy on probabilities,
// binary cross-entropy on logits, mean squared error; forward and backward on every backend.
//
//   cpu::    OpenMP loops, sums in double                              kernels/cpu/loss.cpp
//   cuda::   elementwise kernels; one-block deterministic reduction    kernels/cuda/loss.cu
//
// Per element (PyTorch's formulas; x = input, t = target):
//   BinaryCrossEntropy            l = -(t max(log x, -100) + (1 - t) max(log1p(-x), -100))
//                                 dl/dx = (x - t) / max(x (1 - x), 1e-12)
//   BinaryCrossEntropyWithLogits  l = max(x, 0) - x t + log1p(exp(-|x|))      (finite for any finite x)
//                                 dl/dx = sigmoid(x) - t
//   MeanSquaredError              l = (x - t)^2,   dl/dx = 2 (x - t)
// Reductions (PyTorch's `reduction`): Mean (the default) and Sum write one value to out[0]
// (the sum accumulates in double; Mean of n = 0 elements is NaN, Sum is 0); None writes out[i] = l_i.
// Backward: grad_input[i] = g * dl/dx_i with g = grad_out[0] (Mean: / n) or grad_out[i] (None).
// grad_out is a buffer on the same device as the others (autograd's upstream gradient).
//
// Input ranges. BinaryCrossEntropy takes probabilities: input and target in [0, 1].
//   cpu:  loss_forward checks both (one extra read of the buffers) and throws a ValueError naming
//         the first bad index and value.
//   cuda: not checked (it would need a device-to-host sync); a value outside [0, 1] gives NaN in
//         the loss, never a plausible-looking number. The Tensor layer validates when it wants an
//         error on every device (PyTorch's CUDA kernel asserts instead).
//   loss_backward does not re-check (it follows a checked forward).
// Buffers are dense; grad_input may alias input (not target or grad_out).
#pragma once

#include <cmath>
#include <cstdint>

#include <strider/config.hpp>
#include <strider/kernels/philox.hpp>  // STRIDER_HD

namespace strider::kernels {

enum class LossKind : std::uint8_t { BinaryCrossEntropy, BinaryCrossEntropyWithLogits, MeanSquaredError };
enum class LossReduction : std::uint8_t { None, Mean, Sum };

// "binary_cross_entropy", "binary_cross_entropy_with_logits", "mse_loss" (PyTorch's names).
const char* loss_name(LossKind kind);
// "none", "mean", "sum".
const char* loss_reduction_name(LossReduction reduction);

// What every entry point runs first: a known kind and reduction, n >= 0, and no null buffer that the
// pass reads or writes (input, target, and for backward grad_out and grad_input, when n > 0; the
// forward `out` also for n = 0 unless reduction is None). `output` is out (forward) or grad_input
// (backward); forward passes grad_out = nullptr. Throws ShapeError / ValueError naming the pass,
// `backend` and the values.
void loss_check(LossKind kind, LossReduction reduction, std::int64_t n, bool backward, const char* backend,
                const void* input, const void* target, const void* grad_out, const void* output);

// Per-element loss and derivative, shared by the CPU loops and the CUDA kernels.
template <class T>
STRIDER_HD T loss_value(LossKind kind, T x, T t) {
  using std::abs, std::exp, std::log, std::log1p;
  switch (kind) {
    case LossKind::BinaryCrossEntropy: {
      // Comparisons keep NaN (an out-of-range x) instead of clamping it to -100.
      T log_x = log(x), log_1mx = log1p(-x);
      if (log_x < T(-100)) log_x = T(-100);
      if (log_1mx < T(-100)) log_1mx = T(-100);
      return -(t * log_x + (T(1) - t) * log_1mx);
    }
    case LossKind::BinaryCrossEntropyWithLogits:
      return (x > T(0) ? x : T(0)) - x * t + log1p(exp(-abs(x)));
    case LossKind::MeanSquaredError:
      return (x - t) * (x - t);
  }
  return x;
}

template <class T>
STRIDER_HD T loss_grad(LossKind kind, T x, T t) {
  using std::exp;
  switch (kind) {
    case LossKind::BinaryCrossEntropy: {
      T denom = x * (T(1) - x);
      if (denom < T(1e-12)) denom = T(1e-12);
      return (x - t) / denom;
    }
    case LossKind::BinaryCrossEntropyWithLogits: {
      const T sig = x >= T(0) ? T(1) / (T(1) + exp(-x)) : exp(x) / (T(1) + exp(x));
      return sig - t;
    }
    case LossKind::MeanSquaredError:
      return T(2) * (x - t);
  }
  return x;
}

// loss_forward:  out = reduce(l(input, target)); out has 1 element (Mean, Sum) or n (None).
// loss_backward: grad_input = grad_out * dl/dinput (see above); grad_out has 1 element (Mean,
//                Sum) or n (None).
namespace cpu {
template <class T>
void loss_forward(LossKind kind, LossReduction reduction, std::int64_t n, const T* input, const T* target, T* out);
template <class T>
void loss_backward(LossKind kind, LossReduction reduction, std::int64_t n, const T* input, const T* target,
                   const T* grad_out, T* grad_input);
}  // namespace cpu

#if STRIDER_HAS_CUDA
// Device pointers; the work is queued on the legacy default stream and the host does not wait.
namespace cuda {
template <class T>
void loss_forward(LossKind kind, LossReduction reduction, std::int64_t n, const T* input, const T* target, T* out);
template <class T>
void loss_backward(LossKind kind, LossReduction reduction, std::int64_t n, const T* input, const T* target,
                   const T* grad_out, T* grad_input);
}  // namespace cuda
#endif

}  // namespace strider::kernels
