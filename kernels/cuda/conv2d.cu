// Hand-written CUDA kernels for kernels/conv2d.hpp: conv2d and conv_transpose2d, all six passes.
//
// Every pass runs one of three operations on the lowered plain convolution (Conv2dLowered:
// xc (N, Ci, Hi, Wi) * w (Co, Ci/g, R, S) -> yc (N, Co, Ho, Wo)); see kernels/conv2d.hpp:
//   forward          conv2d forward,         conv_transpose2d backward-data
//   backward-data    conv2d backward-data,   conv_transpose2d forward
//   backward-weight  conv2d backward-weight, conv_transpose2d backward-weight (xc, gyc swapped)
//
// Kernel versions (Conv2dAlgo selects; both are tested on every problem):
//   v1 kDirect       (this file) direct_forward / direct_backward_data / direct_backward_weight:
//                    one thread per output element, plain loops over its taps, no shared memory.
//   v2 kImplicitGemm (conv2d_implicit_gemm.cu) shared-memory tiled implicit GEMM, 64x64x16 tiles,
//                    4x4 register blocking; backward-data per stride phase (no zero taps);
//                    backward-weight split over the pixel reduction with float atomics.
//   bias_grad        (this file, used by both) one block per channel, deterministic tree sum.
//
// Limits: every buffer < 2^31 elements (Conv2dProblem::validate), so int indices suffice.
#include <strider/kernels/conv2d.hpp>
#include <strider/kernels/cuda_runtime.hpp>

#include <strider/core/error.hpp>

namespace strider::kernels::cuda {

// Launchers of conv2d_implicit_gemm.cu (v2).
namespace detail {
void implicit_gemm_forward(const Conv2dLowered& l, const float* xc, const float* w, const float* bias, float* yc,
                           cudaStream_t stream);
void implicit_gemm_backward_data(const Conv2dLowered& l, const float* gyc, const float* w, const float* bias,
                                 float* gxc, cudaStream_t stream);
void implicit_gemm_backward_weight(const Conv2dLowered& l, const float* xc, const float* gyc, float* gw,
                                   cudaStream_t stream);
}  // namespace detail

namespace {

constexpr int kThreads = 256;
constexpr int kBiasThreads = 256;  // a power of two (tree reduction)

dim3 grid_for(int elements) { return dim3(static_cast<unsigned>((elements + kThreads - 1) / kThreads)); }

// v1 forward. grid (ceil(N Co Ho Wo / 256)), block (256): thread i computes output element
//   i = ((n Co + co) Ho + ho) Wo + wo   (NCHW order: consecutive threads, consecutive wo)
//   yc[i] = bias[co] + sum_{ci < Ci/g, r, s} xc[n, g Ci/g + ci, ho sh - ph + r dh, wo sw - pw + s dw]
//                                            * w[co, ci, r, s]          with g = co / (Co/g)
// Taps outside the input are skipped. bias may be null.
__global__ void direct_forward(Conv2dLowered l, const float* __restrict__ xc, const float* __restrict__ w,
                               const float* __restrict__ bias, float* __restrict__ yc) {
  const int total = l.N * l.Co * l.Ho * l.Wo;
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i >= total) return;
  const int wo = i % l.Wo, ho = (i / l.Wo) % l.Ho, co = (i / (l.Wo * l.Ho)) % l.Co, n = i / (l.Wo * l.Ho * l.Co);
  const int Cg = l.Ci / l.groups, g = co / (l.Co / l.groups);
  float acc = bias ? bias[co] : 0.0f;
  for (int ci = 0; ci < Cg; ++ci) {
    const float* x_plane = xc + (n * l.Ci + g * Cg + ci) * l.Hi * l.Wi;
    const float* w_taps = w + (co * Cg + ci) * l.R * l.S;
    for (int r = 0; r < l.R; ++r) {
      const int hi = ho * l.stride_h - l.pad_h + r * l.dil_h;
      if (hi < 0 || hi >= l.Hi) continue;
      for (int s = 0; s < l.S; ++s) {
        const int wi = wo * l.stride_w - l.pad_w + s * l.dil_w;
        if (wi < 0 || wi >= l.Wi) continue;
        acc += x_plane[hi * l.Wi + wi] * w_taps[r * l.S + s];
      }
    }
  }
  yc[i] = acc;
}

// v1 backward-data (the adjoint of direct_forward, as a gather). grid (ceil(N Ci Hi Wi / 256)),
// block (256): thread i computes input-gradient element i = ((n Ci + ci) Hi + hi) Wi + wi:
//   gxc[i] = bias[ci] + sum over co in ci's group, r, s with
//            ho = (hi + ph - r dh) / sh exact and in [0, Ho), wo likewise,
//            of gyc[n, co, ho, wo] * w[co, ci - g Ci/g, r, s]
// bias may be null (it is set only for conv_transpose2d forward).
__global__ void direct_backward_data(Conv2dLowered l, const float* __restrict__ gyc, const float* __restrict__ w,
                                     const float* __restrict__ bias, float* __restrict__ gxc) {
  const int total = l.N * l.Ci * l.Hi * l.Wi;
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i >= total) return;
  const int wi = i % l.Wi, hi = (i / l.Wi) % l.Hi, ci = (i / (l.Wi * l.Hi)) % l.Ci, n = i / (l.Wi * l.Hi * l.Ci);
  const int Cg = l.Ci / l.groups, Kg = l.Co / l.groups, g = ci / Cg;
  float acc = bias ? bias[ci] : 0.0f;
  for (int k = 0; k < Kg; ++k) {
    const int co = g * Kg + k;
    const float* gy_plane = gyc + (n * l.Co + co) * l.Ho * l.Wo;
    const float* w_taps = w + (co * Cg + (ci - g * Cg)) * l.R * l.S;
    for (int r = 0; r < l.R; ++r) {
      const int th = hi + l.pad_h - r * l.dil_h;
      if (th < 0 || th % l.stride_h != 0 || th / l.stride_h >= l.Ho) continue;
      for (int s = 0; s < l.S; ++s) {
        const int tw = wi + l.pad_w - s * l.dil_w;
        if (tw < 0 || tw % l.stride_w != 0 || tw / l.stride_w >= l.Wo) continue;
        acc += gy_plane[(th / l.stride_h) * l.Wo + tw / l.stride_w] * w_taps[r * l.S + s];
      }
    }
  }
  gxc[i] = acc;
}

// v1 backward-weight. grid (ceil(Co Ci/g R S / 256)), block (256): thread i computes weight-gradient
// element i = ((co Ci/g + ci) R + r) S + s:
//   gw[i] = sum_{n, ho, wo} gyc[n, co, ho, wo] * xc[n, g Ci/g + ci, ho sh - ph + r dh, wo sw - pw + s dw]
// A long serial loop per thread (N Ho Wo terms): simple, slow for large batches.
__global__ void direct_backward_weight(Conv2dLowered l, const float* __restrict__ xc, const float* __restrict__ gyc,
                                       float* __restrict__ gw) {
  const int Cg = l.Ci / l.groups, Kg = l.Co / l.groups;
  const int total = l.Co * Cg * l.R * l.S;
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i >= total) return;
  const int s = i % l.S, r = (i / l.S) % l.R, ci = (i / (l.S * l.R)) % Cg, co = i / (l.S * l.R * Cg);
  const int g = co / Kg;
  float acc = 0.0f;
  for (int n = 0; n < l.N; ++n) {
    const float* x_plane = xc + (n * l.Ci + g * Cg + ci) * l.Hi * l.Wi;
    const float* gy_plane = gyc + (n * l.Co + co) * l.Ho * l.Wo;
    for (int ho = 0; ho < l.Ho; ++ho) {
      const int hi = ho * l.stride_h - l.pad_h + r * l.dil_h;
      if (hi < 0 || hi >= l.Hi) continue;
      for (int wo = 0; wo < l.Wo; ++wo) {
        const int wi = wo * l.stride_w - l.pad_w + s * l.dil_w;
        if (wi < 0 || wi >= l.Wi) continue;
        acc += gy_plane[ho * l.Wo + wo] * x_plane[hi * l.Wi + wi];
      }
    }
  }
  gw[i] = acc;
}

// grad_bias. grid (K), block (kBiasThreads): block k sums channel k of the (N, K, HW) buffer g.
// Thread t adds elements j = t, t + kBiasThreads, ... of the N HW channel elements (j = n HW + i,
// consecutive threads read consecutive i), then a shared-memory tree halves the partial sums down
// to thread 0, which writes gb[k]. Fixed order: deterministic.
__global__ void bias_grad(const float* __restrict__ g, int N, int K, int HW, float* __restrict__ gb) {
  __shared__ float partial[kBiasThreads];
  const int k = static_cast<int>(blockIdx.x), t = static_cast<int>(threadIdx.x);
  float acc = 0.0f;
  for (int j = t; j < N * HW; j += kBiasThreads) acc += g[((j / HW) * K + k) * HW + j % HW];
  partial[t] = acc;
  __syncthreads();
  for (int half = kBiasThreads / 2; half > 0; half /= 2) {
    if (t < half) partial[t] += partial[t + half];
    __syncthreads();
  }
  if (t == 0) gb[k] = partial[0];
}

// ---------------------------------------------------------------------------------------------
// Launchers of the three lowered operations, per algorithm.
// ---------------------------------------------------------------------------------------------

void lowered_forward(const Conv2dLowered& l, const float* xc, const float* w, const float* bias, float* yc,
                     cudaStream_t stream, Conv2dAlgo algo) {
  const int total = l.N * l.Co * l.Ho * l.Wo;
  if (total == 0) return;
  if (algo == Conv2dAlgo::kImplicitGemm) {
    detail::implicit_gemm_forward(l, xc, w, bias, yc, stream);
    return;
  }
  STRIDER_LAUNCH(direct_forward, grid_for(total), dim3(kThreads), 0, stream, l, xc, w, bias, yc);
}

void lowered_backward_data(const Conv2dLowered& l, const float* gyc, const float* w, const float* bias, float* gxc,
                           cudaStream_t stream, Conv2dAlgo algo) {
  const int total = l.N * l.Ci * l.Hi * l.Wi;
  if (total == 0) return;
  if (algo == Conv2dAlgo::kImplicitGemm) {
    detail::implicit_gemm_backward_data(l, gyc, w, bias, gxc, stream);
    return;
  }
  STRIDER_LAUNCH(direct_backward_data, grid_for(total), dim3(kThreads), 0, stream, l, gyc, w, bias, gxc);
}

void lowered_backward_weight(const Conv2dLowered& l, const float* xc, const float* gyc, float* gw,
                             cudaStream_t stream, Conv2dAlgo algo) {
  if (algo == Conv2dAlgo::kImplicitGemm) {
    detail::implicit_gemm_backward_weight(l, xc, gyc, gw, stream);
    return;
  }
  const int total = l.Co * (l.Ci / l.groups) * l.R * l.S;
  STRIDER_LAUNCH(direct_backward_weight, grid_for(total), dim3(kThreads), 0, stream, l, xc, gyc, gw);
}

void launch_bias_grad(const Conv2dProblem& p, const float* grad_y, float* grad_bias, cudaStream_t stream) {
  STRIDER_LAUNCH(bias_grad, dim3(static_cast<unsigned>(p.K)), dim3(kBiasThreads), 0, stream, grad_y, p.N, p.K,
                 static_cast<int>(p.P() * p.Q()), grad_bias);
}

constexpr bool kConv = false, kTransposed = true;
constexpr const char* kBackend = "cuda";

}  // namespace

void conv2d_forward(const Conv2dProblem& p, const float* x, const float* weight, const float* bias, float* y,
                    cudaStream_t stream, Conv2dAlgo algo) {
  const Conv2dLowered l = conv2d_begin_pass(p, kConv, Conv2dPass::kForward, kBackend, {x, weight, bias, y});
  lowered_forward(l, x, weight, p.has_bias ? bias : nullptr, y, stream, algo);
}

void conv2d_backward_data(const Conv2dProblem& p, const float* grad_y, const float* weight, float* grad_x,
                          cudaStream_t stream, Conv2dAlgo algo) {
  const Conv2dLowered l = conv2d_begin_pass(p, kConv, Conv2dPass::kBackwardData, kBackend, {grad_y, weight, grad_x});
  lowered_backward_data(l, grad_y, weight, nullptr, grad_x, stream, algo);
}

void conv2d_backward_weight(const Conv2dProblem& p, const float* x, const float* grad_y, float* grad_weight,
                            float* grad_bias, cudaStream_t stream, Conv2dAlgo algo) {
  const Conv2dLowered l =
      conv2d_begin_pass(p, kConv, Conv2dPass::kBackwardWeight, kBackend, {x, grad_y, grad_weight, grad_bias});
  lowered_backward_weight(l, x, grad_y, grad_weight, stream, algo);
  if (p.has_bias) launch_bias_grad(p, grad_y, grad_bias, stream);
}

void conv_transpose2d_forward(const Conv2dProblem& p, const float* x, const float* weight, const float* bias,
                              float* y, cudaStream_t stream, Conv2dAlgo algo) {
  const Conv2dLowered l = conv2d_begin_pass(p, kTransposed, Conv2dPass::kForward, kBackend, {x, weight, bias, y});
  lowered_backward_data(l, x, weight, p.has_bias ? bias : nullptr, y, stream, algo);
}

void conv_transpose2d_backward_data(const Conv2dProblem& p, const float* grad_y, const float* weight,
                                    float* grad_x, cudaStream_t stream, Conv2dAlgo algo) {
  const Conv2dLowered l =
      conv2d_begin_pass(p, kTransposed, Conv2dPass::kBackwardData, kBackend, {grad_y, weight, grad_x});
  lowered_forward(l, grad_y, weight, nullptr, grad_x, stream, algo);
}

void conv_transpose2d_backward_weight(const Conv2dProblem& p, const float* x, const float* grad_y,
                                      float* grad_weight, float* grad_bias, cudaStream_t stream, Conv2dAlgo algo) {
  const Conv2dLowered l =
      conv2d_begin_pass(p, kTransposed, Conv2dPass::kBackwardWeight, kBackend, {x, grad_y, grad_weight, grad_bias});
  lowered_backward_weight(l, grad_y, x, grad_weight, stream, algo);
  if (p.has_bias) launch_bias_grad(p, grad_y, grad_bias, stream);
}

}  // namespace strider::kernels::cuda
