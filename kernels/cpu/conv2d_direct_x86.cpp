// kernels/cpu/conv2d_direct.hpp. The tile kernel carries an AVX-512 target attribute and runs only
// where gemm_isa_available(Avx512) says so; the rest is baseline x86-64 (or portable C++, where
// conv2d_direct_supported() is always false).
//
// Loop nest (one OpenMP item = kImages images, one group, 32 output channels; items image-major):
//   for each block of kChannelBlock input channels:           its weights stay in L1
//     for each image, output row, tile of the row:            8 positions (WT x IT)
//       acc[8 positions][2 x 16 channels] = partial sums (zero for the first block)
//       for each kernel column kw: the tile's positions whose column is inside the image
//         for each input channel c, kernel row kh inside the image for this output row:
//           2 weight vectors, then per position: broadcast x, 2 FMAs
//       partial sums back to the item's buffer
//   the buffer (positions x 32 channels) transposed into y's 32 planes, plus bias.
// A kernel column cuts the padding off at most the first and last position of a tile row
// (checked by conv2d_direct_supported), so the position range is one of four compile-time ones.
#include <strider/kernels/cpu/conv2d_direct.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <omp.h>

#include <strider/core/error.hpp>
#include <strider/kernels/cpu/gemm.hpp>

#if defined(__x86_64__)
#define STRIDER_DIRECT_X86 1
#include <immintrin.h>
#else
#define STRIDER_DIRECT_X86 0
#endif

namespace strider::kernels::cpu {
namespace {

using Idx = std::int64_t;

#if STRIDER_DIRECT_X86
constexpr int kCoBlock = 32;       // output channels per tile: two 16-lane vectors
constexpr int kChannelBlock = 8;   // input channels per pass over an item's tiles
constexpr int kImages = 4;         // images per item
constexpr Idx kMaxOutputPlane = 256;

bool enabled_by_environment() {
  static const bool on = [] {
    const char* e = std::getenv("STRIDER_CONV_DIRECT");
    return !(e && std::strcmp(e, "0") == 0);
  }();
  return on;
}

// Tile shape: WT positions of one output row in each of IT images.
struct TileShape {
  int wt, it;
};
TileShape tile_shape(const Conv2dLowered& l) { return l.Wo == 4 ? TileShape{4, 2} : TileShape{8, 1}; }

// Positions [jlo, jhi) of a WT-wide tile starting at output column ow0 whose input column for kernel
// column kw is inside the image. Variant 0: [0, WT), 1: [1, WT), 2: [0, WT - 1), 3: [1, WT - 1),
// 4: none; -1: another range (not supported).
int column_variant(const Conv2dLowered& l, int wt, int ow0, int kw) {
  const Idx iw0 = Idx{ow0} * l.stride_w - l.pad_w + Idx{kw} * l.dil_w;
  int jlo = 0, jhi = wt;
  while (jlo < wt && iw0 + Idx{jlo} * l.stride_w < 0) ++jlo;
  while (jhi > jlo && iw0 + Idx{jhi - 1} * l.stride_w >= l.Wi) --jhi;
  if (jlo == jhi) return 4;
  if (jlo > 1 || jhi < wt - 1) return -1;
  return (jlo == 1 ? 1 : 0) + (jhi == wt - 1 ? 2 : 0);
}

// Kernel rows [lo, hi) whose input row is inside the image for output row oh.
void row_range(const Conv2dLowered& l, int oh, int* lo, int* hi) {
  const Idx ih0 = Idx{oh} * l.stride_h - l.pad_h;
  int a = 0, b = l.R;
  while (a < b && ih0 + Idx{a} * l.dil_h < 0) ++a;
  while (b > a && ih0 + Idx{b - 1} * l.dil_h >= l.Hi) --b;
  *lo = a;
  *hi = b;
}

struct Geometry {
  Idx HiWi, Wi, img_stride;  // input plane, row, image (Ci planes)
  Idx w_c, w_r;              // packed weights: floats per input channel (R S 32), per kernel row (S 32)
  Idx row_step;              // input floats per kernel row (dil_h Wi)
};

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// acc[i WT + j] += x(image i, position j) * w over channels [0, channels) and kernel rows
// [0, rows), positions JLO <= j < JHI. x0: image 0's first input value (channel c0, first valid
// row, this column's offset); w0: the packed weights at (c0, first valid row, kw).
template <int WT, int IT, int ST, int JLO, int JHI>
__attribute__((target("avx512f"), always_inline)) inline void accumulate(__m512 (&acc)[WT * IT][2], const Geometry& g,
                                                                        const float* x0, const float* w0,
                                                                        int channels, int rows) {
  for (int c = 0; c < channels; ++c, x0 += g.HiWi, w0 += g.w_c) {
    const float* xk = x0;
    const float* wk = w0;
    for (int r = 0; r < rows; ++r, xk += g.row_step, wk += g.w_r) {
      const __m512 w_lo = _mm512_loadu_ps(wk), w_hi = _mm512_loadu_ps(wk + 16);
#pragma GCC unroll 2
      for (int i = 0; i < IT; ++i) {
        const float* xi = xk + i * g.img_stride;
#pragma GCC unroll 8
        for (int j = JLO; j < JHI; ++j) {
          const __m512 b = _mm512_set1_ps(xi[j * ST]);
          acc[i * WT + j][0] = _mm512_fmadd_ps(b, w_lo, acc[i * WT + j][0]);
          acc[i * WT + j][1] = _mm512_fmadd_ps(b, w_hi, acc[i * WT + j][1]);
        }
      }
    }
  }
}

// One tile over input channels [c0, c1): partial sums in part (position p of image i at
// part + i img_part + p 32, 32 channels each), zero-initialised when c0 == 0.
template <int WT, int IT, int ST>
__attribute__((target("avx512f"))) void direct_tile(const Conv2dLowered& l, const Geometry& g, const float* x_img,
                                                    const float* w_cb, int oh, int ow0, int c0, int c1, float* part,
                                                    Idx img_part) {
  __m512 acc[WT * IT][2];
  const Idx p0 = Idx{oh} * l.Wo + ow0;
  for (int i = 0; i < IT; ++i)
    for (int j = 0; j < WT; ++j) {
      float* pp = part + i * img_part + (p0 + j) * kCoBlock;
      acc[i * WT + j][0] = c0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(pp);
      acc[i * WT + j][1] = c0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(pp + 16);
    }
  int kh_lo = 0, kh_hi = 0;
  row_range(l, oh, &kh_lo, &kh_hi);
  const int rows = kh_hi - kh_lo, channels = c1 - c0;
  if (rows > 0) {
    const Idx iw0 = Idx{ow0} * ST - l.pad_w, ih = Idx{oh} * l.stride_h - l.pad_h + Idx{kh_lo} * l.dil_h;
    for (int kw = 0; kw < l.S; ++kw) {
      const float* x0 = x_img + c0 * g.HiWi + ih * g.Wi + iw0 + Idx{kw} * l.dil_w;
      const float* w0 = w_cb + c0 * g.w_c + Idx{kh_lo} * g.w_r + Idx{kw} * kCoBlock;
      switch (column_variant(l, WT, ow0, kw)) {
        case 0: accumulate<WT, IT, ST, 0, WT>(acc, g, x0, w0, channels, rows); break;
        case 1: accumulate<WT, IT, ST, 1, WT>(acc, g, x0, w0, channels, rows); break;
        case 2: accumulate<WT, IT, ST, 0, WT - 1>(acc, g, x0, w0, channels, rows); break;
        case 3: accumulate<WT, IT, ST, 1, WT - 1>(acc, g, x0, w0, channels, rows); break;
        default: break;  // 4: no position reads inside the image (conv2d_direct_supported excluded -1)
      }
    }
  }
  for (int i = 0; i < IT; ++i)
    for (int j = 0; j < WT; ++j) {
      float* pp = part + i * img_part + (p0 + j) * kCoBlock;
      _mm512_storeu_ps(pp, acc[i * WT + j][0]);
      _mm512_storeu_ps(pp + 16, acc[i * WT + j][1]);
    }
}
#pragma GCC diagnostic pop

using TileFn = void (*)(const Conv2dLowered&, const Geometry&, const float*, const float*, int, int, int, int, float*,
                        Idx);

template <int WT, int IT>
TileFn pick(int stride_w) {
  return stride_w == 1 ? &direct_tile<WT, IT, 1> : &direct_tile<WT, IT, 2>;
}

struct Buffers {
  std::vector<float> weights, part;
};
thread_local Buffers t_buffers;
#endif

}  // namespace

bool conv2d_direct_supported(const Conv2dLowered& l) {
#if STRIDER_DIRECT_X86
  if (!enabled_by_environment() || !gemm_isa_available(GemmIsa::Avx512)) return false;
  if (l.N < 1 || l.groups < 1 || l.co_per_group() % kCoBlock != 0 || l.ci_per_group() < 16) return false;
  if (l.stride_w != 1 && l.stride_w != 2) return false;
  if (!(l.Wo == 4 || (l.Wo > 0 && l.Wo % 8 == 0)) || l.Ho < 1 || Idx{l.Ho} * l.Wo > kMaxOutputPlane) return false;
  const TileShape ts = tile_shape(l);
  for (int ow0 = 0; ow0 < l.Wo; ow0 += ts.wt)
    for (int kw = 0; kw < l.S; ++kw)
      if (column_variant(l, ts.wt, ow0, kw) < 0) return false;
  return true;
#else
  (void)l;
  return false;
#endif
}

void conv2d_direct_forward(const Conv2dLowered& l, const float* x, const float* w, const float* bias, float* y,
                           int threads) {
  STRIDER_CHECK(conv2d_direct_supported(l), ValueError,
                "conv2d_direct_forward: this convolution (or this CPU) is not one the direct path handles; "
                "check conv2d_direct_supported() first");
#if STRIDER_DIRECT_X86
  const Idx Cg = l.ci_per_group(), Kg = l.co_per_group(), RS = Idx{l.R} * l.S;
  const Idx HoWo = Idx{l.Ho} * l.Wo;
  const Geometry g{Idx{l.Hi} * l.Wi, l.Wi, Idx{l.Ci} * l.Hi * l.Wi, RS * kCoBlock, Idx{l.S} * kCoBlock,
                   Idx{l.dil_h} * l.Wi};
  const Idx blocks = Kg / kCoBlock;  // per group
  const Idx per_block = Cg * RS * kCoBlock;
  // Packed weights: [group][block][c][r][s][32 output channels].
  std::vector<float>& packed = t_buffers.weights;
  packed.resize(static_cast<std::size_t>(l.groups * blocks * per_block));
  const TileShape ts = tile_shape(l);
  const TileFn full = ts.wt == 4 ? pick<4, 2>(l.stride_w) : pick<8, 1>(l.stride_w);
  const TileFn single = ts.wt == 4 ? pick<4, 1>(l.stride_w) : full;  // an odd image count's last image
  const Idx image_groups = (Idx{l.N} + kImages - 1) / kImages;
  const Idx items = Idx{l.groups} * blocks * image_groups;
  float* wp = packed.data();
#pragma omp parallel num_threads(std::max(1, threads))
  {
#pragma omp for schedule(static)
    for (Idx gb = 0; gb < Idx{l.groups} * blocks; ++gb) {
      const Idx co0 = gb * kCoBlock;  // = group * Kg + block * 32
      float* dst = wp + gb * per_block;
      for (Idx c = 0; c < Cg; ++c)
        for (Idx rs = 0; rs < RS; ++rs)
          for (Idx k = 0; k < kCoBlock; ++k) dst[(c * RS + rs) * kCoBlock + k] = w[((co0 + k) * Cg + c) * RS + rs];
    }  // implicit barrier: every item needs its packed block
    std::vector<float>& partv = t_buffers.part;
    partv.resize(static_cast<std::size_t>(kImages * HoWo * kCoBlock));
    float* part = partv.data();
    const Idx img_part = HoWo * kCoBlock;
#pragma omp for schedule(dynamic, 1)
    for (Idx item = 0; item < items; ++item) {
      // Image-major: consecutive items read the same images (in L2) with the next weight block.
      const Idx gb = item % (Idx{l.groups} * blocks), grp = gb / blocks;
      const Idx n0 = item / (Idx{l.groups} * blocks) * kImages, n1 = std::min<Idx>(l.N, n0 + kImages);
      const float* w_cb = wp + gb * per_block;
      for (int c0 = 0; c0 < Cg; c0 += kChannelBlock) {
        const int c1 = static_cast<int>(std::min<Idx>(Cg, c0 + kChannelBlock));
        for (Idx n = n0; n < n1; n += ts.it) {
          const TileFn fn = n + ts.it <= n1 ? full : single;
          const float* x_img = x + n * g.img_stride + grp * Cg * g.HiWi;
          for (int oh = 0; oh < l.Ho; ++oh)
            for (int ow0 = 0; ow0 < l.Wo; ow0 += ts.wt)
              fn(l, g, x_img, w_cb, oh, ow0, c0, c1, part + (n - n0) * img_part, img_part);
        }
      }
      for (Idx n = n0; n < n1; ++n)
        for (Idx k = 0; k < kCoBlock; ++k) {
          const Idx co = gb * kCoBlock + k;
          const float b = bias ? bias[co] : 0.0f;
          float* yr = y + (n * l.Co + co) * HoWo;
          const float* pr = part + (n - n0) * img_part + k;
          for (Idx p = 0; p < HoWo; ++p) yr[p] = pr[p * kCoBlock] + b;
        }
    }
  }
#else
  (void)x, (void)w, (void)bias, (void)y, (void)threads;
#endif
}

}  // namespace strider::kernels::cpu
