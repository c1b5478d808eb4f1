// Fused optimizer steps on raw contiguous buffers: Adam and SGD (momentum, dampening, Nesterov,
// L2 weight decay), one call per parameter tensor, on every backend.
//
//   cpu::    OpenMP loop                               kernels/cpu/optim.cpp
//   cuda::   one grid-stride kernel per call           kernels/cuda/optim.cu
//
// The update rules are torch.optim.Adam (amsgrad = False, maximize = False) and torch.optim.SGD,
// element by element, in the parameter's type T (PyTorch's "opmath" for float is float too):
//
//   Adam, step t >= 1 (the count after this step: 1 on the first call)
//     g  = grad + weight_decay * param                      (only when weight_decay != 0)
//     m  = beta1 m + (1 - beta1) g                          (exp_avg)
//     v  = beta2 v + (1 - beta2) g^2                        (exp_avg_sq)
//     param -= (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//   (the form of PyTorch's fused Adam; its foreach path writes m as a lerp, equal up to rounding).
//   The bias corrections are computed in double on the host and rounded to T once.
//
//   SGD
//     d = grad + weight_decay * param                       (only when weight_decay != 0)
//     if momentum != 0:
//       buf = d                                             on the first step (first_step = true)
//       buf = momentum buf + (1 - dampening) d              afterwards
//       d   = nesterov ? d + momentum buf : buf
//     param -= lr * d
//
// Buffers (n elements each, dense, no aliasing): param, exp_avg, exp_avg_sq and momentum_buffer are
// updated in place; grad is read. exp_avg / exp_avg_sq start as zeros (the caller allocates them
// zeroed, as PyTorch's state init). momentum_buffer is required when momentum != 0 and ignored
// (may be null) otherwise; on the first step its old contents are not read.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include <strider/config.hpp>
#include <strider/kernels/philox.hpp>  // STRIDER_HD

namespace strider::kernels {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;  // L2 penalty added to the gradient (Adam, not AdamW)

  // Throws ValueError naming the value and the valid range when lr < 0, eps < 0, a beta outside
  // [0, 1), weight_decay < 0, or any of them NaN or infinite.
  void validate() const;
  // "Adam(lr=0.0002, betas=(0.5, 0.999), eps=1e-08, weight_decay=0)".
  std::string str() const;
};

struct SgdOptions {
  double lr = 1e-3;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;

  // Throws ValueError naming the value and the fix when lr < 0, momentum < 0, weight_decay < 0,
  // any value NaN or infinite, or nesterov without momentum > 0 and dampening == 0.
  void validate() const;
  // "SGD(lr=0.01, momentum=0.9, dampening=0, weight_decay=0, nesterov=false)".
  std::string str() const;
};

// What every entry point runs first: the options' validate(), step >= 1 (Adam), n >= 0, and no null
// buffer that the step reads or writes when n > 0. Throws ValueError / ShapeError naming the backend.
void adam_check(const AdamOptions& o, std::int64_t step, std::int64_t n, const char* backend, const void* param,
                const void* grad, const void* exp_avg, const void* exp_avg_sq);
void sgd_check(const SgdOptions& o, std::int64_t n, const char* backend, const void* param, const void* grad,
               const void* momentum_buffer);

// The per-step constants of Adam in T, computed once on the host.
template <class T>
struct AdamScalars {
  T step_size;         // lr / (1 - beta1^t)
  T bias_correction2_sqrt;  // sqrt(1 - beta2^t)
  T beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay;
};

template <class T>
AdamScalars<T> adam_scalars(const AdamOptions& o, std::int64_t step) {
  const double t = static_cast<double>(step);
  return AdamScalars<T>{static_cast<T>(o.lr / (1.0 - std::pow(o.beta1, t))),
                        static_cast<T>(std::sqrt(1.0 - std::pow(o.beta2, t))),
                        static_cast<T>(o.beta1),
                        static_cast<T>(1.0 - o.beta1),
                        static_cast<T>(o.beta2),
                        static_cast<T>(1.0 - o.beta2),
                        static_cast<T>(o.eps),
                        static_cast<T>(o.weight_decay)};
}

// One element of an Adam step; shared by the CPU loop and the CUDA kernel. kMaybeDecay = false:
// the caller has checked that s.weight_decay is 0 (a loop without the branch vectorises).
template <class T, bool kMaybeDecay = true>
STRIDER_HD void adam_update(const AdamScalars<T>& s, T& param, T grad, T& exp_avg, T& exp_avg_sq) {
  using std::sqrt;
  T g = grad;
  if (kMaybeDecay && s.weight_decay != T(0)) g = g + s.weight_decay * param;
  const T m = s.beta1 * exp_avg + s.one_minus_beta1 * g;
  const T v = s.beta2 * exp_avg_sq + s.one_minus_beta2 * g * g;
  const T denom = sqrt(v) / s.bias_correction2_sqrt + s.eps;
  exp_avg = m;
  exp_avg_sq = v;
  param = param - s.step_size * m / denom;
}

// The per-step constants of SGD in T.
template <class T>
struct SgdScalars {
  T lr, momentum, one_minus_dampening, weight_decay;
  bool nesterov, first_step;
};

template <class T>
SgdScalars<T> sgd_scalars(const SgdOptions& o, bool first_step) {
  return SgdScalars<T>{static_cast<T>(o.lr), static_cast<T>(o.momentum), static_cast<T>(1.0 - o.dampening),
                       static_cast<T>(o.weight_decay), o.nesterov, first_step};
}

// One element of an SGD step; `buf` is only touched when momentum != 0.
template <class T>
STRIDER_HD void sgd_update(const SgdScalars<T>& s, T& param, T grad, T* buf) {
  T d = grad;
  if (s.weight_decay != T(0)) d = d + s.weight_decay * param;
  if (s.momentum != T(0)) {
    const T b = s.first_step ? d : s.momentum * *buf + s.one_minus_dampening * d;
    *buf = b;
    d = s.nesterov ? d + s.momentum * b : b;
  }
  param = param - s.lr * d;
}

// adam_step: `step` is the step count after this update (1 on the first call), as PyTorch's
//            state["step"] after its increment.
// sgd_step:  first_step = true on the parameter's first update (PyTorch: momentum_buffer is None).
namespace cpu {
template <class T>
void adam_step(const AdamOptions& o, std::int64_t step, std::int64_t n, T* param, const T* grad, T* exp_avg,
               T* exp_avg_sq);
template <class T>
void sgd_step(const SgdOptions& o, bool first_step, std::int64_t n, T* param, const T* grad, T* momentum_buffer);
}  // namespace cpu

#if STRIDER_HAS_CUDA
// Device pointers; the work is queued on the legacy default stream and the host does not wait.
namespace cuda {
template <class T>
void adam_step(const AdamOptions& o, std::int64_t step, std::int64_t n, T* param, const T* grad, T* exp_avg,
               T* exp_avg_sq);
template <class T>
void sgd_step(const SgdOptions& o, bool first_step, std::int64_t n, T* param, const T* grad, T* momentum_buffer);
}  // namespace cuda
#endif

}  // namespace strider::kernels
