// 2-D convolution and transposed convolution on raw NCHW float buffers: the problem struct, its
// one validity check, and the six passes on every backend.
//
//   ref::    float64 naive direct loops (the judge in tests)       kernels/cpu/conv2d_ref.cpp
//   cpu::    fast float32: im2col/col2im + OpenBLAS sgemm, OpenMP  kernels/cpu/conv2d.cpp
//   cuda::   hand-written kernels (direct and implicit GEMM)       kernels/cuda/conv2d*.cu
//   cudnn::  cuDNN 9, algorithm found by cuDNN and cached          kernels/cudnn/conv2d_cudnn.cpp
//
// Contract shared by every pass on every backend:
//   * p.validate() runs first; an invalid problem throws the same ShapeError / ValueError with the
//     same message everywhere (see Conv2dProblem::validate).
//   * Outputs are OVERWRITTEN (cuDNN's beta = 0), never accumulated into. Callers that accumulate
//     gradients add the result themselves.
//   * Buffers are dense NCHW, row-major, no aliasing between inputs and outputs.
//   * bias / grad_bias are read / written only when p.has_bias; they may be null otherwise.
//   * N == 0 is a valid, empty batch: forward and backward-data write nothing, backward-weight
//     writes zeros to grad_weight (and grad_bias).
//
// Shapes (PyTorch's):                 conv2d                     conv_transpose2d
//   x, grad_x                         (N, C, H, W)               (N, C, H, W)
//   weight, grad_weight               (K, C/groups, R, S)        (C, K/groups, R, S)
//   bias, grad_bias                   (K)                        (K)
//   y, grad_y                         (N, K, P, Q)               (N, K, P, Q)
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <string>

#include <strider/config.hpp>
#if STRIDER_HAS_CUDA
#include <strider/kernels/cuda_runtime.hpp>  // cudaStream_t
#endif

namespace strider::kernels {

// One convolution problem, CUTLASS-style. C/H/W describe the op's input, K its output channels,
// P()/Q() its output size, for conv2d and conv_transpose2d alike.
struct Conv2dProblem {
  int N = 1;                // batch
  int C = 1, H = 1, W = 1;  // input channels, height, width
  int K = 1;                // output channels
  int R = 1, S = 1;         // kernel height, width
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int dil_h = 1, dil_w = 1;
  int groups = 1;
  int out_pad_h = 0, out_pad_w = 0;  // conv_transpose2d only ("output_padding")
  bool transposed = false;           // false: conv2d, true: conv_transpose2d
  bool has_bias = false;

  // Output size. conv2d:           P = floor((H + 2 pad - dil (R - 1) - 1) / stride) + 1
  //              conv_transpose2d: P = (H - 1) stride - 2 pad + dil (R - 1) + output_padding + 1
  // Computed in 64 bits; meaningful only for a problem that passes validate().
  std::int64_t P() const;
  std::int64_t Q() const;

  // 2 x multiply-adds of the forward pass (the same count for backward-data and backward-weight),
  // without bias and without the zeros a transposed convolution never multiplies.
  std::int64_t flops() const;

  // Element counts of the buffers in the table above.
  std::int64_t input_size() const;   // N C H W
  std::int64_t output_size() const;  // N K P Q
  std::int64_t weight_size() const;  // C K / groups R S (both layouts)
  std::int64_t bias_size() const { return K; }

  // The one validity check. Throws
  //   ValueError  for a hyper-parameter outside its own range, whatever the input: kernel, stride,
  //               dilation or groups < 1, padding or output_padding < 0, output_padding on a
  //               conv2d, output_padding not smaller than stride or dilation;
  //   ShapeError  for sizes that do not fit together: batch < 0, channels or input size < 1,
  //               channels not divisible by groups, padded input smaller than the dilated kernel,
  //               transposed output smaller than 1x1, a buffer of 2^31 elements or more (the
  //               kernels index with 32-bit ints).
  // The message names the violated condition with its values and the ways out.
  void validate() const;

  // Fills N, C, H, W from an NCHW input shape and K, R, S from a weight shape (PyTorch layouts,
  // see the table above), after checking that they agree with each other and with `groups` and
  // `transposed` (set those first). Throws ShapeError naming both shapes and the fix. Does not
  // call validate().
  Conv2dProblem& set_shapes(const std::int64_t input_nchw[4], const std::int64_t weight[4]);

  // "conv2d(N=2, C=3, H=64, W=64 -> K=64, P=32, Q=32; kernel 4x4, stride 2x2, padding 1x1,
  //  dilation 1x1, groups 1, bias)"; usable on invalid problems too.
  std::string str() const;
};

std::ostream& operator<<(std::ostream& os, const Conv2dProblem& p);

// Every pass of both ops is one of three operations on a plain convolution
//   yc[n, co, ho, wo] = sum_{ci in group(co), r, s} xc[n, ci, ho sh - ph + r dh, wo sw - pw + s dw]
//                                                   * w[co, ci - group start, r, s]
// (input positions outside Hi x Wi read as zero), with explicit sizes on both sides:
//   xc (N, Ci, Hi, Wi), w (Co, Ci/groups, R, S), yc (N, Co, Ho, Wo).
// conv2d:           xc = x, yc = y   (Ci = C, Hi x Wi = H x W, Co = K, Ho x Wo = P x Q)
// conv_transpose2d: xc = y, yc = x   (Ci = K, Hi x Wi = P x Q, Co = C, Ho x Wo = H x W); its weight
//                   layout (C, K/groups, R, S) is exactly (Co, Ci/groups, R, S).
// The three operations, and which pass each one is:
//   lowered forward          yc = conv(xc, w)        conv2d forward, conv_transpose2d backward-data
//   lowered backward-data    gxc = conv^T(gyc, w)    conv2d backward-data, conv_transpose2d forward
//   lowered backward-weight  gw = sum xc (x) gyc     conv2d backward-weight (xc = x, gyc = grad_y);
//                                                    conv_transpose2d backward-weight (xc = grad_y,
//                                                    gyc = x)
// Ho x Wo are explicit rather than derived: with output_padding >= stride (legal when it is
// smaller than the dilation) the transposed problem's H x W is smaller than the floor formula.
struct Conv2dLowered {
  int N = 0;
  int Ci = 0, Hi = 0, Wi = 0;
  int Co = 0, Ho = 0, Wo = 0;
  int R = 1, S = 1;
  int stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  int groups = 1;

  int ci_per_group() const { return Ci / groups; }
  int co_per_group() const { return Co / groups; }
};

// The plain convolution behind `p` (see above). Calls p.validate().
Conv2dLowered lower(const Conv2dProblem& p);

enum class Conv2dPass { kForward, kBackwardData, kBackwardWeight };

// What every pass entry point of every backend runs first: p.validate(); then a ValueError when a
// conv2d_* function gets a transposed problem or a conv_transpose2d_* function a plain one; then a
// ValueError for a null buffer (bias / grad_bias only when p.has_bias; a buffer with no elements,
// as x and y with N == 0, may be null). `buffers` in the order of
// the pass's signature: forward (x, weight, bias, y), backward-data (grad_y, weight, grad_x),
// backward-weight (x, grad_y, grad_weight, grad_bias). `backend` names the caller in messages
// ("cpu", "cuda", ...). Returns lower(p).
Conv2dLowered conv2d_begin_pass(const Conv2dProblem& p, bool transposed, Conv2dPass pass, const char* backend,
                                std::initializer_list<const void*> buffers);

// --------------------------------------------------------------------------------------------
// The six passes. Names: <op>_<pass>; argument order: inputs, then outputs.
//   conv2d_forward(p, x, weight, bias, y)
//   conv2d_backward_data(p, grad_y, weight, grad_x)
//   conv2d_backward_weight(p, x, grad_y, grad_weight, grad_bias)
//   conv_transpose2d_forward / _backward_data / _backward_weight: the same signatures.
// --------------------------------------------------------------------------------------------

// Naive float64 direct loops, single-threaded: obviously correct, slow. The judge in tests, and
// the float64 (gradcheck) path of core/.
namespace ref {
void conv2d_forward(const Conv2dProblem& p, const double* x, const double* weight, const double* bias, double* y);
void conv2d_backward_data(const Conv2dProblem& p, const double* grad_y, const double* weight, double* grad_x);
void conv2d_backward_weight(const Conv2dProblem& p, const double* x, const double* grad_y, double* grad_weight,
                            double* grad_bias);
void conv_transpose2d_forward(const Conv2dProblem& p, const double* x, const double* weight, const double* bias,
                              double* y);
void conv_transpose2d_backward_data(const Conv2dProblem& p, const double* grad_y, const double* weight,
                                    double* grad_x);
void conv_transpose2d_backward_weight(const Conv2dProblem& p, const double* x, const double* grad_y,
                                      double* grad_weight, double* grad_bias);
}  // namespace ref

// Fast float32 CPU path: im2col / col2im + sgemm (cpu/gemm.hpp), OpenMP threads. See kernels/README.md.
namespace cpu {
// How the work is split over OpenMP threads. kAuto picks kBatch when there are at least as many
// (image, group) pairs as threads and the per-thread weight-gradient buffers stay small, else
// kWithin. The choice never changes results beyond float rounding; tests run both.
enum class Conv2dParallel { kAuto, kBatch, kWithin };
void conv2d_forward(const Conv2dProblem& p, const float* x, const float* weight, const float* bias, float* y,
                    Conv2dParallel parallel = Conv2dParallel::kAuto);
void conv2d_backward_data(const Conv2dProblem& p, const float* grad_y, const float* weight, float* grad_x,
                          Conv2dParallel parallel = Conv2dParallel::kAuto);
void conv2d_backward_weight(const Conv2dProblem& p, const float* x, const float* grad_y, float* grad_weight,
                            float* grad_bias, Conv2dParallel parallel = Conv2dParallel::kAuto);
void conv_transpose2d_forward(const Conv2dProblem& p, const float* x, const float* weight, const float* bias,
                              float* y, Conv2dParallel parallel = Conv2dParallel::kAuto);
void conv_transpose2d_backward_data(const Conv2dProblem& p, const float* grad_y, const float* weight, float* grad_x,
                                    Conv2dParallel parallel = Conv2dParallel::kAuto);
void conv_transpose2d_backward_weight(const Conv2dProblem& p, const float* x, const float* grad_y, float* grad_weight,
                                      float* grad_bias, Conv2dParallel parallel = Conv2dParallel::kAuto);
}  // namespace cpu

#if STRIDER_HAS_CUDA
// Hand-written CUDA kernels (kernels/cuda/conv2d*.cu). Pointers are device memory; the work is
// queued on `stream` and the host does not wait. Launch failures throw CudaError.
namespace cuda {
enum class Conv2dAlgo {
  kDirect,        // v1: one thread per output element, no shared memory (kernels/cuda/conv2d.cu)
  kImplicitGemm,  // v2: shared-memory tiled implicit GEMM (kernels/cuda/conv2d_implicit_gemm.cu)
};
void conv2d_forward(const Conv2dProblem& p, const float* x, const float* weight, const float* bias, float* y,
                    cudaStream_t stream, Conv2dAlgo algo = Conv2dAlgo::kImplicitGemm);
void conv2d_backward_data(const Conv2dProblem& p, const float* grad_y, const float* weight, float* grad_x,
                          cudaStream_t stream, Conv2dAlgo algo = Conv2dAlgo::kImplicitGemm);
void conv2d_backward_weight(const Conv2dProblem& p, const float* x, const float* grad_y, float* grad_weight,
                            float* grad_bias, cudaStream_t stream, Conv2dAlgo algo = Conv2dAlgo::kImplicitGemm);
void conv_transpose2d_forward(const Conv2dProblem& p, const float* x, const float* weight, const float* bias,
                              float* y, cudaStream_t stream, Conv2dAlgo algo = Conv2dAlgo::kImplicitGemm);
void conv_transpose2d_backward_data(const Conv2dProblem& p, const float* grad_y, const float* weight, float* grad_x,
                                    cudaStream_t stream, Conv2dAlgo algo = Conv2dAlgo::kImplicitGemm);
void conv_transpose2d_backward_weight(const Conv2dProblem& p, const float* x, const float* grad_y, float* grad_weight,
                                      float* grad_bias, cudaStream_t stream,
                                      Conv2dAlgo algo = Conv2dAlgo::kImplicitGemm);
}  // namespace cuda
#endif

#if STRIDER_HAS_CUDNN
// cuDNN 9 (legacy cudnnConvolution* API). The algorithm for each (problem, pass) is chosen by
// cudnnFind*Algorithm on first use and cached; the workspace is a cached device buffer that only
// grows. One handle per (host thread, device). Throws CudaError on cuDNN failures and ValueError
// for the one problem cuDNN cannot express (conv_transpose2d with output_padding >= stride).
namespace cudnn {
void conv2d_forward(const Conv2dProblem& p, const float* x, const float* weight, const float* bias, float* y,
                    cudaStream_t stream);
void conv2d_backward_data(const Conv2dProblem& p, const float* grad_y, const float* weight, float* grad_x,
                          cudaStream_t stream);
void conv2d_backward_weight(const Conv2dProblem& p, const float* x, const float* grad_y, float* grad_weight,
                            float* grad_bias, cudaStream_t stream);
void conv_transpose2d_forward(const Conv2dProblem& p, const float* x, const float* weight, const float* bias,
                              float* y, cudaStream_t stream);
void conv_transpose2d_backward_data(const Conv2dProblem& p, const float* grad_y, const float* weight, float* grad_x,
                                    cudaStream_t stream);
void conv_transpose2d_backward_weight(const Conv2dProblem& p, const float* x, const float* grad_y, float* grad_weight,
                                      float* grad_bias, cudaStream_t stream);
// Drops cached algorithms and workspaces of the calling thread (e.g. before a device reset).
void conv2d_clear_cache();
}  // namespace cudnn
#endif

}  // namespace strider::kernels
