// 2-D batch normalisation (BatchNorm2d) on raw NCHW buffers: the problem struct, its one validity
// check, and the three passes on every backend.
//
//   cpu::    double-accumulating loops, OpenMP over channels        kernels/cpu/batchnorm.cpp
//   cuda::   one block per channel for the reductions               kernels/cuda/batchnorm.cu
//
// Semantics are PyTorch's (torch.nn.functional.batch_norm / BatchNorm2d):
//   training   mean[c]   = sum_{n,hw} x / M,   var[c] = sum_{n,hw} (x - mean)^2 / M   (biased)
//              M = N * HW values per channel; invstd = 1 / sqrt(var + eps)
//              y = (x - mean) * invstd * gamma[c] + beta[c]
//              running_mean = (1 - momentum) running_mean + momentum mean
//              running_var  = (1 - momentum) running_var  + momentum var * M / (M - 1)  (unbiased)
//   eval       y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta
//   backward   (training mode; xhat = (x - mean) invstd)
//              grad_beta  = sum_{n,hw} grad_y
//              grad_gamma = sum_{n,hw} grad_y xhat
//              grad_x     = gamma invstd (grad_y - grad_beta / M - xhat grad_gamma / M)
//
// Contract shared by every pass on every backend:
//   * The problem is checked first (batch_norm_check); an invalid problem or a missing buffer throws
//     the same ShapeError / ValueError with the same message everywhere.
//   * Buffers are dense: x, y, grad_y, grad_x (N, C, HW); every other buffer (C). No aliasing
//     between inputs and outputs.
//   * Outputs are OVERWRITTEN. running_mean / running_var are read and updated in place.
//   * gamma / beta may be null (affine = false: gamma = 1, beta = 0). running_mean and running_var
//     are both null (track_running_stats = false) or both set. grad_x, grad_gamma, grad_beta may
//     each be null (not needed). save_mean / save_invstd are required.
//   * Statistics accumulate in double for float and double data alike (two passes: mean, then the
//     sum of squared deviations), so var is never negative and large means do not cancel.
//   * The layer decides the mode: a BatchNorm2d with track_running_stats = false normalises with
//     batch statistics in eval mode too, i.e. calls forward_training with null running stats.
//     momentum = None (cumulative moving average) is the caller's business: it passes
//     momentum = 1 / num_batches_tracked.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>

#include <strider/config.hpp>

namespace strider::kernels {

struct BatchNormProblem {
  std::int64_t N = 1;   // batch
  std::int64_t C = 1;   // channels (num_features)
  std::int64_t HW = 1;  // H * W
  double eps = 1e-5;
  double momentum = 0.1;

  std::int64_t numel() const { return N * C * HW; }
  std::int64_t per_channel() const { return N * HW; }  // M: values each channel's statistics cover

  // The one validity check. Throws
  //   ShapeError  N < 0, C < 1 or HW < 1; in training, N * HW < 2 ("expected more than 1 value per
  //               channel when training", as PyTorch); more than 2^62 elements;
  //   ValueError  eps not a finite value >= 0; momentum not in [0, 1].
  void validate(bool training) const;

  // "batch_norm(N=2, C=3, HW=16, eps=1e-05, momentum=0.1)".
  std::string str() const;
};

// What every entry point of every backend runs first: p.validate(training), then a ValueError naming
// `op`, `backend` and the first null buffer among `required` (name, pointer) when the problem has
// elements. Also rejects a running_mean without a running_var and vice versa (`running`: the pass's
// running_mean and running_var, or {nullptr, nullptr} when it has none).
void batch_norm_check(const BatchNormProblem& p, bool training, const char* op, const char* backend,
                      std::initializer_list<std::pair<const char*, const void*>> required,
                      std::pair<const void*, const void*> running = {nullptr, nullptr});

// --------------------------------------------------------------------------------------------
// The passes. T = float or double. Argument order: inputs, then outputs.
// --------------------------------------------------------------------------------------------
// forward_training: batch statistics; writes y, save_mean, save_invstd (C) and updates the running
//                   statistics when they are non-null.
// forward_eval:     running statistics (required).
// backward:         training mode, from the statistics forward_training saved.
namespace cpu {
template <class T>
void batch_norm_forward_training(const BatchNormProblem& p, const T* x, const T* gamma, const T* beta, T* y,
                                 T* save_mean, T* save_invstd, T* running_mean, T* running_var);
template <class T>
void batch_norm_forward_eval(const BatchNormProblem& p, const T* x, const T* gamma, const T* beta,
                             const T* running_mean, const T* running_var, T* y);
template <class T>
void batch_norm_backward(const BatchNormProblem& p, const T* grad_y, const T* x, const T* save_mean,
                         const T* save_invstd, const T* gamma, T* grad_x, T* grad_gamma, T* grad_beta);
}  // namespace cpu

#if STRIDER_HAS_CUDA
// Device pointers; the work is queued on the legacy default stream and the host does not wait.
namespace cuda {
template <class T>
void batch_norm_forward_training(const BatchNormProblem& p, const T* x, const T* gamma, const T* beta, T* y,
                                 T* save_mean, T* save_invstd, T* running_mean, T* running_var);
template <class T>
void batch_norm_forward_eval(const BatchNormProblem& p, const T* x, const T* gamma, const T* beta,
                             const T* running_mean, const T* running_var, T* y);
template <class T>
void batch_norm_backward(const BatchNormProblem& p, const T* grad_y, const T* x, const T* save_mean,
                         const T* save_invstd, const T* gamma, T* grad_x, T* grad_gamma, T* grad_beta);
}  // namespace cuda
#endif

}  // namespace strider::kernels
