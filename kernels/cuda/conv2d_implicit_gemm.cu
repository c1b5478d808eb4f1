// v2 of kernels/cuda/conv2d.cu: shared-memory tiled implicit GEMM for the three lowered
// convolution operations (Conv2dLowered, see kernels/conv2d.hpp). The im2col matrix is never
// written to memory: each block gathers its tile of it straight from the NCHW image.
//
//   v2 igemm_forward          C[co][pix]  = sum_{(ci,r,s)} W[co][(ci,r,s)] X[(ci,r,s)][pix]
//   v2 igemm_backward_data    C[ci][pix]  = sum_{(co,r,s)} W[co][(ci,r,s)] dY[(co,r,s)][pix], one
//                             grid slice per stride phase so only taps that hit a real output
//                             position are in the reduction (no multiplications by zero)
//   v2 igemm_backward_weight  C[co][(ci,r,s)] = sum_pix dY[co][pix] X[(ci,r,s)][pix], the pixel
//                             reduction split over blocks that add into gw with atomicAdd
//
// Common tiling: a block of 256 threads computes a 64 x 64 tile of C (M rows x N columns),
// walking the reduction in steps of 16. Per step every thread stages 4 elements of A (16 x 64)
// and 4 of B (16 x 64) in shared memory, one barrier, then 16 rank-1 updates of its 4 x 4
// register block, one barrier. Thread t = (ty, tx) = (t / 16, t % 16) owns C rows m0 + ty + 16 i
// and columns n0 + tx + 16 j (i, j < 4): reads of A are warp broadcasts, reads of B 16 consecutive
// words, so shared memory serves both without bank conflicts; the A tile is padded to 65 columns
// so its transposing stores conflict at most 2-way. Columns are pixels in forward and
// backward-data, so stores of C along a warp are consecutive wo (coalesced for stride 1).
//
// Not yet done (GPU benchmarks must earn them): double buffering, vectorised loads, tensor cores.
#include <strider/kernels/conv2d.hpp>
#include <strider/kernels/cuda_runtime.hpp>

#include <algorithm>

#include <strider/core/error.hpp>

namespace strider::kernels::cuda::detail {
namespace {

constexpr int kBM = 64, kBN = 64, kBK = 16;
constexpr int kThreads = 256;
// Two resident blocks per SM: leaves ptxas up to 128 registers a thread (it spilled 8 bytes in
// igemm_backward_weight on sm_90 when left to choose with one).
constexpr int kMinBlocksPerSm = 2;
constexpr int kMaxGridZ = 65535;

// 16 rank-1 updates of a thread's 4 x 4 block from the staged tiles.
template <int kLdA, int kLdB>
__device__ __forceinline__ void tile_product(const float (*As)[kLdA], const float (*Bs)[kLdB], int ty, int tx,
                                             float (&acc)[4][4]) {
#pragma unroll
  for (int kk = 0; kk < kBK; ++kk) {
    float a[4], b[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) a[i] = As[kk][ty + 16 * i];
#pragma unroll
    for (int j = 0; j < 4; ++j) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
  }
}

// Forward. grid (ceil(N Ho Wo / 64), ceil(Kg / 64), groups in this launch), block (256); blockIdx.z
// + group0 = group g. C (Kg x N Ho Wo) = W_g (Kg x Kred) . X (Kred x N Ho Wo), Kred = Cg R S with
// k = (ci R + r) S + s and pix = (n Ho + ho) Wo + wo. Staging: A element e = t + 256 q sits at
// (k = e % 16, co = e / 16): a warp reads 16 consecutive weights of 2 rows. B element sits at
// (k = t / 64 + 4 q, pix = t % 64): each thread owns one pixel column, decodes (n, ho, wo) once,
// and gathers X[k][pix] = xc[n, g Cg + ci, ho sh - ph + r dh, wo sw - pw + s dw] (0 outside).
// Writes yc[n, g Kg + co, ho, wo] = C + bias (bias may be null).
__global__ void __launch_bounds__(kThreads, kMinBlocksPerSm)
    igemm_forward(Conv2dLowered l, const float* __restrict__ xc, const float* __restrict__ w,
                  const float* __restrict__ bias, float* __restrict__ yc, int group0) {
  __shared__ float As[kBK][kBM + 1];
  __shared__ float Bs[kBK][kBN];
  const int Cg = l.Ci / l.groups, Kg = l.Co / l.groups, RS = l.R * l.S, Kred = Cg * RS;
  const int HoWo = l.Ho * l.Wo, npix = l.N * HoWo;
  const int g = group0 + static_cast<int>(blockIdx.z);
  const int m0 = static_cast<int>(blockIdx.y) * kBM, n0 = static_cast<int>(blockIdx.x) * kBN;
  const int t = static_cast<int>(threadIdx.x), tx = t % 16, ty = t / 16;

  const int pp = t % kBN, pix = n0 + pp;
  const bool pix_ok = pix < npix;
  const int n = pix_ok ? pix / HoWo : 0, hw = pix_ok ? pix % HoWo : 0;
  const int h_base = (hw / l.Wo) * l.stride_h - l.pad_h, w_base = (hw % l.Wo) * l.stride_w - l.pad_w;
  const float* x_img = xc + (n * l.Ci + g * Cg) * l.Hi * l.Wi;
  const float* w_g = w + g * Kg * Kred;

  float acc[4][4] = {};
  for (int k0 = 0; k0 < Kred; k0 += kBK) {
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int e = t + kThreads * q, kk = e % kBK, mm = e / kBK;
      const int k = k0 + kk, co = m0 + mm;
      As[kk][mm] = (k < Kred && co < Kg) ? w_g[co * Kred + k] : 0.0f;
    }
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int kk = t / kBN + 4 * q, k = k0 + kk;
      float v = 0.0f;
      if (pix_ok && k < Kred) {
        const int ci = k / RS, rs = k % RS;
        const int hi = h_base + (rs / l.S) * l.dil_h, wi = w_base + (rs % l.S) * l.dil_w;
        if (hi >= 0 && hi < l.Hi && wi >= 0 && wi < l.Wi) v = x_img[(ci * l.Hi + hi) * l.Wi + wi];
      }
      Bs[kk][pp] = v;
    }
    __syncthreads();
    tile_product(As, Bs, ty, tx, acc);
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int co = m0 + ty + 16 * i;
    if (co >= Kg) continue;
    const float b = bias ? bias[g * Kg + co] : 0.0f;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int p = n0 + tx + 16 * j;
      if (p < npix) yc[((p / HoWo) * l.Co + g * Kg + co) * HoWo + p % HoWo] = acc[i][j] + b;
    }
  }
}

// Backward-data, one stride phase per grid slice. grid (ceil(max phase pixels / 64), ceil(Cg / 64),
// groups x sh x sw in this launch), block (256), dynamic shared memory (R + S) ints.
// blockIdx.z + z0 = g (sh sw) + phase, phase = a sw + b: this slice computes the input pixels with
// (hi + ph) % sh == a and (wi + pw) % sw == b. For them exactly the taps r with r dh % sh == a
// (and s with s dw % sw == b) land on an output row ho = (hi + ph - r dh) / sh; the block lists
// those taps in shared memory (taps[0, nr) and taps[R, R + ns)). Then
//   C (Cg x phase pixels) = W_g^T . dY,  reduction k = (co nr + ri) ns + si over Kg nr ns,
//   dY[k][pix] = gyc[n, g Kg + co, ho, wo] (0 where ho or wo falls outside the output),
// pix = (n nh + th) nw + tw with hi = hi0 + th sh, wi = wi0 + tw sw. Staging as in igemm_forward
// (A = W^T at (k = e % 16, ci = e / 16), B one pixel column per thread). Phases without taps
// still write bias (or 0). Writes gxc[n, g Cg + ci, hi, wi] = C + bias (bias may be null).
__global__ void __launch_bounds__(kThreads, kMinBlocksPerSm)
    igemm_backward_data(Conv2dLowered l, const float* __restrict__ gyc, const float* __restrict__ w,
                        const float* __restrict__ bias, float* __restrict__ gxc, int z0) {
  __shared__ float As[kBK][kBM + 1];
  __shared__ float Bs[kBK][kBN];
  STRIDER_DYNAMIC_SHARED(int, taps);
  const int Cg = l.Ci / l.groups, Kg = l.Co / l.groups, RS = l.R * l.S;
  const int phases = l.stride_h * l.stride_w;
  const int z = z0 + static_cast<int>(blockIdx.z), g = z / phases;
  const int a = (z % phases) / l.stride_w, b = (z % phases) % l.stride_w;
  const int hi0 = ((a - l.pad_h) % l.stride_h + l.stride_h) % l.stride_h;
  const int wi0 = ((b - l.pad_w) % l.stride_w + l.stride_w) % l.stride_w;
  const int nh = hi0 < l.Hi ? (l.Hi - hi0 + l.stride_h - 1) / l.stride_h : 0;
  const int nw = wi0 < l.Wi ? (l.Wi - wi0 + l.stride_w - 1) / l.stride_w : 0;
  const int npix = l.N * nh * nw;
  const int m0 = static_cast<int>(blockIdx.y) * kBM, n0 = static_cast<int>(blockIdx.x) * kBN;
  if (n0 >= npix) return;  // the whole block: this phase has fewer pixels than the largest
  const int t = static_cast<int>(threadIdx.x), tx = t % 16, ty = t / 16;

  int nr = 0, ns = 0;
  for (int r = 0; r < l.R; ++r) nr += (r * l.dil_h) % l.stride_h == a;
  for (int s = 0; s < l.S; ++s) ns += (s * l.dil_w) % l.stride_w == b;
  if (t == 0) {
    for (int r = 0, i = 0; r < l.R; ++r)
      if ((r * l.dil_h) % l.stride_h == a) taps[i++] = r;
    for (int s = 0, i = 0; s < l.S; ++s)
      if ((s * l.dil_w) % l.stride_w == b) taps[l.R + i++] = s;
  }
  __syncthreads();
  const int Kred = Kg * nr * ns, nrs = nr * ns;

  const int pp = t % kBN, pix = n0 + pp;
  const bool pix_ok = pix < npix;
  const int n = pix_ok ? pix / (nh * nw) : 0, thw = pix_ok ? pix % (nh * nw) : 0;
  const int h_top = hi0 + (thw / nw) * l.stride_h + l.pad_h;  // hi + ph
  const int w_left = wi0 + (thw % nw) * l.stride_w + l.pad_w;  // wi + pw
  const float* gy_img = gyc + (n * l.Co + g * Kg) * l.Ho * l.Wo;
  const float* w_g = w + g * Kg * Cg * RS;

  float acc[4][4] = {};
  for (int k0 = 0; k0 < Kred; k0 += kBK) {
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int e = t + kThreads * q, kk = e % kBK, mm = e / kBK;
      const int k = k0 + kk, ci = m0 + mm;
      float v = 0.0f;
      if (k < Kred && ci < Cg) {
        const int co = k / nrs, ri = (k % nrs) / ns, si = k % ns;
        v = w_g[(co * Cg + ci) * RS + taps[ri] * l.S + taps[l.R + si]];
      }
      As[kk][mm] = v;
    }
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int kk = t / kBN + 4 * q, k = k0 + kk;
      float v = 0.0f;
      if (pix_ok && k < Kred) {
        const int co = k / nrs, ri = (k % nrs) / ns, si = k % ns;
        const int th = h_top - taps[ri] * l.dil_h, tw = w_left - taps[l.R + si] * l.dil_w;  // exact multiples
        if (th >= 0 && tw >= 0) {
          const int ho = th / l.stride_h, wo = tw / l.stride_w;
          if (ho < l.Ho && wo < l.Wo) v = gy_img[(co * l.Ho + ho) * l.Wo + wo];
        }
      }
      Bs[kk][pp] = v;
    }
    __syncthreads();
    tile_product(As, Bs, ty, tx, acc);
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int ci = m0 + ty + 16 * i;
    if (ci >= Cg) continue;
    const float bv = bias ? bias[g * Cg + ci] : 0.0f;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int p = n0 + tx + 16 * j;
      if (p >= npix) continue;
      const int pn = p / (nh * nw), phw = p % (nh * nw);
      const int hi = hi0 + (phw / nw) * l.stride_h, wi = wi0 + (phw % nw) * l.stride_w;
      gxc[((pn * l.Ci + g * Cg + ci) * l.Hi + hi) * l.Wi + wi] = acc[i][j] + bv;
    }
  }
}

// Backward-weight. grid (ceil(Kred / 64), ceil(Kg / 64), groups x splits in this launch), block
// (256). blockIdx.z + z0 = g splits + split; the block reduces pixels [split pix_per_split,
// (split + 1) pix_per_split) of the N Ho Wo: C (Kg x Kred) = dY (Kg x pixels) . X^T, k =
// (ci R + r) S + s. Staging: both tiles are indexed [pixel][column] with the pixel = t % 16 fixed
// per thread and step (one (n, ho, wo) decode per step), columns co / k = t / 16 + 16 q; the
// (ci, r, s) of a thread's 4 B columns are decoded once, before the loop. With splits == 1 the
// block stores C; otherwise it atomically adds into gw, which the launcher zeroed.
__global__ void __launch_bounds__(kThreads, kMinBlocksPerSm)
    igemm_backward_weight(Conv2dLowered l, const float* __restrict__ xc, const float* __restrict__ gyc,
                          float* __restrict__ gw, int splits, int pix_per_split, int z0) {
  __shared__ float As[kBK][kBM + 1];
  __shared__ float Bs[kBK][kBN + 1];
  const int Cg = l.Ci / l.groups, Kg = l.Co / l.groups, RS = l.R * l.S, Kred = Cg * RS;
  const int HiWi = l.Hi * l.Wi, HoWo = l.Ho * l.Wo, npix = l.N * HoWo;
  const int z = z0 + static_cast<int>(blockIdx.z), g = z / splits, split = z % splits;
  const int p_begin = split * pix_per_split, p_end = min(npix, p_begin + pix_per_split);
  const int m0 = static_cast<int>(blockIdx.y) * kBM, n0 = static_cast<int>(blockIdx.x) * kBN;
  const int t = static_cast<int>(threadIdx.x), tx = t % 16, ty = t / 16;
  const int kp = t % kBK;  // this thread's pixel row in both tiles

  int x_off[4], dh[4], dw[4];  // per B column q: ci plane offset, r dh, s dw (x_off < 0: past Kred)
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    const int k = n0 + t / kBK + 16 * q;
    x_off[q] = k < Kred ? (g * Cg + k / RS) * HiWi : -1;
    dh[q] = ((k % RS) / l.S) * l.dil_h;
    dw[q] = (k % l.S) * l.dil_w;
  }

  float acc[4][4] = {};
  for (int p0 = p_begin; p0 < p_end; p0 += kBK) {
    const int p = p0 + kp;
    const bool p_ok = p < p_end;
    const int n = p_ok ? p / HoWo : 0, hw = p_ok ? p % HoWo : 0;
    const int h_base = (hw / l.Wo) * l.stride_h - l.pad_h, w_base = (hw % l.Wo) * l.stride_w - l.pad_w;
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int mm = t / kBK + 16 * q, co = m0 + mm;
      As[kp][mm] = (p_ok && co < Kg) ? gyc[(n * l.Co + g * Kg + co) * HoWo + hw] : 0.0f;
    }
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      float v = 0.0f;
      const int hi = h_base + dh[q], wi = w_base + dw[q];
      if (p_ok && x_off[q] >= 0 && hi >= 0 && hi < l.Hi && wi >= 0 && wi < l.Wi) {
        v = xc[n * l.Ci * HiWi + x_off[q] + hi * l.Wi + wi];
      }
      Bs[kp][t / kBK + 16 * q] = v;
    }
    __syncthreads();
    tile_product(As, Bs, ty, tx, acc);
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int co = m0 + ty + 16 * i;
    if (co >= Kg) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int k = n0 + tx + 16 * j;
      if (k >= Kred) continue;
      float* dst = gw + (g * Kg + co) * Kred + k;
      if (splits == 1) {
        *dst = acc[i][j];
      } else {
        atomicAdd(dst, acc[i][j]);
      }
    }
  }
}

unsigned blocks(int n, int tile) { return static_cast<unsigned>((n + tile - 1) / tile); }

}  // namespace

void implicit_gemm_forward(const Conv2dLowered& l, const float* xc, const float* w, const float* bias, float* yc,
                           cudaStream_t stream) {
  const int Kg = l.Co / l.groups;
  for (int g0 = 0; g0 < l.groups; g0 += kMaxGridZ) {
    const dim3 grid(blocks(l.N * l.Ho * l.Wo, kBN), blocks(Kg, kBM),
                    static_cast<unsigned>(std::min(kMaxGridZ, l.groups - g0)));
    STRIDER_LAUNCH(igemm_forward, grid, dim3(kThreads), 0, stream, l, xc, w, bias, yc, g0);
  }
}

void implicit_gemm_backward_data(const Conv2dLowered& l, const float* gyc, const float* w, const float* bias,
                                 float* gxc, cudaStream_t stream) {
  const int Cg = l.Ci / l.groups;
  const int phases = l.stride_h * l.stride_w, slices = l.groups * phases;
  // The largest phase: ceil(Hi / sh) x ceil(Wi / sw) pixels per image.
  const int max_pix = l.N * ((l.Hi + l.stride_h - 1) / l.stride_h) * ((l.Wi + l.stride_w - 1) / l.stride_w);
  const std::size_t taps_bytes = sizeof(int) * static_cast<std::size_t>(l.R + l.S);
  for (int z0 = 0; z0 < slices; z0 += kMaxGridZ) {
    const dim3 grid(blocks(max_pix, kBN), blocks(Cg, kBM), static_cast<unsigned>(std::min(kMaxGridZ, slices - z0)));
    STRIDER_LAUNCH(igemm_backward_data, grid, dim3(kThreads), taps_bytes, stream, l, gyc, w, bias, gxc, z0);
  }
}

void implicit_gemm_backward_weight(const Conv2dLowered& l, const float* xc, const float* gyc, float* gw,
                                   cudaStream_t stream) {
  const int Kg = l.Co / l.groups, Kred = (l.Ci / l.groups) * l.R * l.S;
  const int npix = l.N * l.Ho * l.Wo;
  // Split the pixel reduction until about kTargetBlocks blocks run, each split at least
  // kMinSplitSteps steps of 16 pixels long.
  constexpr int kTargetBlocks = 512, kMinSplitSteps = 8;
  const int tiles = static_cast<int>(blocks(Kred, kBN) * blocks(Kg, kBM)) * l.groups;
  const int steps = (npix + kBK - 1) / kBK;
  int splits = std::clamp((kTargetBlocks + tiles - 1) / tiles, 1, std::max(1, steps / kMinSplitSteps));
  const int pix_per_split = std::max(1, (steps + splits - 1) / splits) * kBK;
  splits = std::max(1, (npix + pix_per_split - 1) / pix_per_split);
  if (splits > 1) {
    STRIDER_CUDA_CHECK(cudaMemsetAsync(gw, 0, sizeof(float) * static_cast<std::size_t>(l.Co) * Kred, stream));
  }
  const int slices = l.groups * splits;
  for (int z0 = 0; z0 < slices; z0 += kMaxGridZ) {
    const dim3 grid(blocks(Kred, kBN), blocks(Kg, kBM), static_cast<unsigned>(std::min(kMaxGridZ, slices - z0)));
    STRIDER_LAUNCH(igemm_backward_weight, grid, dim3(kThreads), 0, stream, l, xc, gyc, gw, splits, pix_per_split, z0);
  }
}

}  // namespace strider::kernels::cuda::detail
