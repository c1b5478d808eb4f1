// kernels/cpu/conv2d_direct.hpp. The tile kernel carries an AVX-512 target attribute and runs only
// where gemm_isa_available(Avx512) says so; the rest is baseline x86-64 (or portable C++, where
// the *_supported functions are always false).
//
// Everything here runs "plans": a plan is one forward-shaped convolution (input channels
// broadcast, output channels in the vector lanes) with its own input and output addressing. The
// forward is one plan. Backward-data is one plan per stride phase: the inputs (ih, iw) with
// ih = s_h a + ph, iw = s_w b + pw receive only the kernel taps kh = ph + p_h (mod s_h),
// kw = pw + p_w (mod s_w), from gy rows a + const - j (j = 0, 1, ...): a stride-1 convolution of gy
// with those taps flipped, written to every s_h-th row and s_w-th column of gx. So no tap ever
// multiplies an inserted zero or the padding, and each gx element is written once (bias + sum).
//
// Loop nest (one OpenMP item = kImages images, one group, 32 output channels of every plan; items
// image-major):
//   for each block of input channels (kBlockTaps taps in all): its weights stay in L1
//     for each image, output row, tile of the row:            8 positions (WT x IT)
//       acc[8 positions][2 x 16 channels] = partial sums (zero for the first block)
//       for each kernel column kw: the tile's positions whose column is inside the input
//         for each input channel c, kernel row kh inside the input for this output row:
//           2 weight vectors, then per position: broadcast x, 2 FMAs
//       partial sums back to the item's buffer
//   the buffer (positions x 32 channels) transposed into the output's 32 planes, plus bias.
// A kernel column cuts at most the first and last position off a tile row (checked when the plan
// is made), so the position range is one of four compile-time ones.
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
constexpr int kCoBlock = 32;      // output channels per tile: two 16-lane vectors
constexpr int kBlockTaps = 128;   // input channels x kernel taps per pass over an item's tiles:
                                  // 8 channels of a 4x4 kernel, 32 of a stride-2 phase's 2x2
constexpr int kImages = 4;        // images per item
constexpr Idx kMaxOutputPlane = 256;

bool enabled_by_environment() {
  static const bool on = [] {
    const char* e = std::getenv("STRIDER_CONV_DIRECT");
    return !(e && std::strcmp(e, "0") == 0);
  }();
  return on;
}

// One forward-shaped convolution. Input element (n, group g, channel c, row, col) at
// x + n x_image + (g cin + c) x_channel + row W + col; output (n, g, o, p, q) at
// y + n y_image + (g cout + o) y_channel + p y_row + q y_col + y_offset; weight for output channel o,
// input channel c, tap (r, s) of group g at w + g w_group + o w_out + c w_in + taps[r S + s].
struct Plan {
  int N = 0, groups = 1, cin = 0, cout = 0;  // channels per group; cout a multiple of 32
  int H = 0, W = 0, P = 0, Q = 0;            // input and output planes
  int R = 0, S = 0, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  Idx x_image = 0, x_channel = 0;
  Idx y_image = 0, y_channel = 0, y_row = 0, y_col = 1, y_offset = 0;
  Idx w_group = 0, w_out = 0, w_in = 0;
  std::vector<Idx> taps;

  int wt() const { return Q == 4 ? 4 : 8; }  // tile: WT positions of one output row ...
  int it() const { return Q == 4 ? 2 : 1; }  // ... in each of IT images
  Idx blocks() const { return Idx{groups} * (cout / kCoBlock); }
  Idx packed_size() const { return blocks() * cin * R * S * kCoBlock; }
};

// Positions [jlo, jhi) of a WT-wide tile starting at output column q0 whose input column for kernel
// column s is inside the input. Variant 0: [0, WT), 1: [1, WT), 2: [0, WT - 1), 3: [1, WT - 1),
// 4: none; -1: another range (not supported).
int column_variant(const Plan& pl, int wt, int q0, int s) {
  const Idx iw0 = Idx{q0} * pl.stride_w - pl.pad_w + Idx{s} * pl.dil_w;
  int jlo = 0, jhi = wt;
  while (jlo < wt && iw0 + Idx{jlo} * pl.stride_w < 0) ++jlo;
  while (jhi > jlo && iw0 + Idx{jhi - 1} * pl.stride_w >= pl.W) --jhi;
  if (jlo == jhi) return 4;
  if (jlo > 1 || jhi < wt - 1) return -1;
  return (jlo == 1 ? 1 : 0) + (jhi == wt - 1 ? 2 : 0);
}

// Kernel rows [lo, hi) whose input row is inside the input for output row p.
void row_range(const Plan& pl, int p, int* lo, int* hi) {
  const Idx ih0 = Idx{p} * pl.stride_h - pl.pad_h;
  int a = 0, b = pl.R;
  while (a < b && ih0 + Idx{a} * pl.dil_h < 0) ++a;
  while (b > a && ih0 + Idx{b - 1} * pl.dil_h >= pl.H) --b;
  *lo = a;
  *hi = b;
}

bool plan_supported(const Plan& pl) {
  if (pl.N < 1 || pl.groups < 1 || pl.cout < kCoBlock || pl.cout % kCoBlock != 0 || pl.cin < 16) return false;
  if (pl.R < 1 || pl.S < 1 || (pl.stride_w != 1 && pl.stride_w != 2)) return false;
  if (!(pl.Q == 4 || (pl.Q > 0 && pl.Q % 8 == 0)) || pl.P < 1 || Idx{pl.P} * pl.Q > kMaxOutputPlane) return false;
  for (int q0 = 0; q0 < pl.Q; q0 += pl.wt())
    for (int s = 0; s < pl.S; ++s)
      if (column_variant(pl, pl.wt(), q0, s) < 0) return false;
  return true;
}

Plan forward_plan(const Conv2dLowered& l) {
  Plan pl;
  pl.N = l.N, pl.groups = l.groups, pl.cin = l.ci_per_group(), pl.cout = l.co_per_group();
  pl.H = l.Hi, pl.W = l.Wi, pl.P = l.Ho, pl.Q = l.Wo;
  pl.R = l.R, pl.S = l.S, pl.stride_h = l.stride_h, pl.stride_w = l.stride_w;
  pl.pad_h = l.pad_h, pl.pad_w = l.pad_w, pl.dil_h = l.dil_h, pl.dil_w = l.dil_w;
  const Idx HiWi = Idx{l.Hi} * l.Wi, HoWo = Idx{l.Ho} * l.Wo, RS = Idx{l.R} * l.S;
  pl.x_image = Idx{l.Ci} * HiWi, pl.x_channel = HiWi;
  pl.y_image = Idx{l.Co} * HoWo, pl.y_channel = HoWo, pl.y_row = l.Wo, pl.y_col = 1, pl.y_offset = 0;
  pl.w_group = Idx{pl.cout} * pl.cin * RS, pl.w_out = pl.cin * RS, pl.w_in = RS;
  for (Idx t = 0; t < RS; ++t) pl.taps.push_back(t);
  return pl;
}

// Backward-data's stride phases (see the top of the file); empty when some phase has no tap in a
// direction (stride above the kernel) or the convolution is dilated.
std::vector<Plan> backward_data_plans(const Conv2dLowered& l) {
  std::vector<Plan> plans;
  if (l.dil_h != 1 || l.dil_w != 1 || l.stride_h > l.R || l.stride_w > l.S) return plans;
  const Idx HiWi = Idx{l.Hi} * l.Wi, HoWo = Idx{l.Ho} * l.Wo, RS = Idx{l.R} * l.S;
  for (int ph = 0; ph < l.stride_h; ++ph)
    for (int pw = 0; pw < l.stride_w; ++pw) {
      // Taps kh = kh0 + s_h j (j < R'), read from gy row a + off_h - j for gx row s_h a + ph.
      const int kh0 = (ph + l.pad_h) % l.stride_h, kw0 = (pw + l.pad_w) % l.stride_w;
      const int Rp = (l.R - kh0 + l.stride_h - 1) / l.stride_h, Sp = (l.S - kw0 + l.stride_w - 1) / l.stride_w;
      const int off_h = (ph + l.pad_h - kh0) / l.stride_h, off_w = (pw + l.pad_w - kw0) / l.stride_w;
      Plan pl;
      pl.N = l.N, pl.groups = l.groups, pl.cin = l.co_per_group(), pl.cout = l.ci_per_group();
      pl.H = l.Ho, pl.W = l.Wo;
      pl.P = (l.Hi - ph + l.stride_h - 1) / l.stride_h, pl.Q = (l.Wi - pw + l.stride_w - 1) / l.stride_w;
      // Flipped (r = R' - 1 - j): gy row a - (R' - 1 - off_h) + r, a stride-1 forward with this padding.
      pl.R = Rp, pl.S = Sp, pl.stride_h = 1, pl.stride_w = 1, pl.pad_h = Rp - 1 - off_h, pl.pad_w = Sp - 1 - off_w;
      pl.x_image = Idx{l.Co} * HoWo, pl.x_channel = HoWo;
      pl.y_image = Idx{l.Ci} * HiWi, pl.y_channel = HiWi, pl.y_row = Idx{l.stride_h} * l.Wi, pl.y_col = l.stride_w;
      pl.y_offset = Idx{ph} * l.Wi + pw;
      // Lowered weights (Co, Ci / groups, R, S): output channel o here is the lowered input channel.
      pl.w_group = Idx{l.co_per_group()} * l.ci_per_group() * RS, pl.w_out = RS, pl.w_in = Idx{l.ci_per_group()} * RS;
      for (int r = 0; r < Rp; ++r)
        for (int s = 0; s < Sp; ++s)
          pl.taps.push_back(Idx{kh0 + l.stride_h * (Rp - 1 - r)} * l.S + kw0 + l.stride_w * (Sp - 1 - s));
      plans.push_back(std::move(pl));
    }
  return plans;
}

bool plans_supported(const std::vector<Plan>& plans) {
  if (plans.empty() || !enabled_by_environment() || !gemm_isa_available(GemmIsa::Avx512)) return false;
  for (const Plan& pl : plans)
    if (!plan_supported(pl)) return false;
  return true;
}

struct Geometry {
  Idx plane, W, image;  // input: floats per channel plane, per row, per image
  Idx w_c, w_r;         // packed weights: floats per input channel (R S 32), per kernel row (S 32)
  Idx row_step;         // input floats per kernel row (dil_h W)
};

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// acc[i WT + j] += x(image i, position j) * w over channels [0, channels) and kernel rows
// [0, rows), positions JLO <= j < JHI. x0: image 0's input value for (first channel, first valid
// row, this kernel column, position 0); w0: the packed weights at (first channel, row, column).
template <int WT, int IT, int ST, int JLO, int JHI>
__attribute__((target("avx512f"), always_inline)) inline void accumulate(__m512 (&acc)[WT * IT][2], const Geometry& g,
                                                                        const float* x0, const float* w0,
                                                                        int channels, int rows) {
  for (int c = 0; c < channels; ++c, x0 += g.plane, w0 += g.w_c) {
    const float* xk = x0;
    const float* wk = w0;
    for (int r = 0; r < rows; ++r, xk += g.row_step, wk += g.w_r) {
      const __m512 w_lo = _mm512_loadu_ps(wk), w_hi = _mm512_loadu_ps(wk + 16);
#pragma GCC unroll 2
      for (int i = 0; i < IT; ++i) {
        const float* xi = xk + i * g.image;
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
__attribute__((target("avx512f"))) void direct_tile(const Plan& pl, const Geometry& g, const float* x_img,
                                                    const float* w_cb, int p, int q0, int c0, int c1, float* part,
                                                    Idx img_part) {
  __m512 acc[WT * IT][2];
  const Idx p0 = Idx{p} * pl.Q + q0;
  for (int i = 0; i < IT; ++i)
    for (int j = 0; j < WT; ++j) {
      float* pp = part + i * img_part + (p0 + j) * kCoBlock;
      acc[i * WT + j][0] = c0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(pp);
      acc[i * WT + j][1] = c0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(pp + 16);
    }
  int r_lo = 0, r_hi = 0;
  row_range(pl, p, &r_lo, &r_hi);
  const int rows = r_hi - r_lo, channels = c1 - c0;
  if (rows > 0) {
    const Idx iw0 = Idx{q0} * ST - pl.pad_w, ih = Idx{p} * pl.stride_h - pl.pad_h + Idx{r_lo} * pl.dil_h;
    for (int s = 0; s < pl.S; ++s) {
      const float* x0 = x_img + c0 * g.plane + ih * g.W + iw0 + Idx{s} * pl.dil_w;
      const float* w0 = w_cb + c0 * g.w_c + Idx{r_lo} * g.w_r + Idx{s} * kCoBlock;
      switch (column_variant(pl, WT, q0, s)) {
        case 0: accumulate<WT, IT, ST, 0, WT>(acc, g, x0, w0, channels, rows); break;
        case 1: accumulate<WT, IT, ST, 1, WT>(acc, g, x0, w0, channels, rows); break;
        case 2: accumulate<WT, IT, ST, 0, WT - 1>(acc, g, x0, w0, channels, rows); break;
        case 3: accumulate<WT, IT, ST, 1, WT - 1>(acc, g, x0, w0, channels, rows); break;
        default: break;  // 4: no position reads inside the input (plan_supported excluded -1)
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

using TileFn = void (*)(const Plan&, const Geometry&, const float*, const float*, int, int, int, int, float*, Idx);

template <int WT, int IT>
TileFn pick(int stride_w) {
  return stride_w == 1 ? &direct_tile<WT, IT, 1> : &direct_tile<WT, IT, 2>;
}

struct Buffers {
  std::vector<float> weights, part;
};
thread_local Buffers t_buffers;

// Runs every plan (all read x, write disjoint parts of y, share the bias, and have the same N,
// groups and cout: the stride phases of one backward-data), on up to `threads` threads. An item is
// kImages images and 32 output channels of every plan: the phases of one gx line are written one
// after the other by one thread (as items of their own, each phase's stride-2 stores fetched the
// lines again, 1.1-1.2x slower at batch 128). Each output element is summed in one order: input
// channel blocks in turn, within a block channel by channel, kernel column by column, row by row.
void run_plans(const std::vector<Plan>& plans, const float* x, const float* w, const float* bias, float* y,
               int threads) {
  const Plan& first = plans.front();
  std::vector<Idx> packed_at, part_at;
  Idx packed = 0, part_size = 0;
  for (const Plan& pl : plans) {
    packed_at.push_back(packed);
    part_at.push_back(part_size);
    packed += pl.packed_size();
    part_size += kImages * Idx{pl.P} * pl.Q * kCoBlock;
  }
  const Idx items = (Idx{first.N} + kImages - 1) / kImages * first.blocks();
  std::vector<float>& wbuf = t_buffers.weights;
  wbuf.resize(static_cast<std::size_t>(packed));
  float* wp = wbuf.data();
#pragma omp parallel num_threads(std::max(1, threads))
  {
    // Packed weights, per plan: [group][block of 32 outputs][input channel][r][s][32].
    for (std::size_t k = 0; k < plans.size(); ++k) {
      const Plan& pl = plans[k];
      const Idx rs = Idx{pl.R} * pl.S, per_block = Idx{pl.cin} * rs * kCoBlock, blocks = pl.cout / kCoBlock;
#pragma omp for schedule(static) nowait
      for (Idx gb = 0; gb < pl.blocks(); ++gb) {
        const float* src = w + gb / blocks * pl.w_group;
        float* dst = wp + packed_at[k] + gb * per_block;
        for (Idx c = 0; c < pl.cin; ++c)
          for (Idx t = 0; t < rs; ++t)
            for (Idx o = 0; o < kCoBlock; ++o)
              dst[(c * rs + t) * kCoBlock + o] =
                  src[(gb % blocks * kCoBlock + o) * pl.w_out + c * pl.w_in + pl.taps[static_cast<std::size_t>(t)]];
      }
    }
#pragma omp barrier
    std::vector<float>& partv = t_buffers.part;
    partv.resize(static_cast<std::size_t>(part_size));
#pragma omp for schedule(dynamic, 1)
    for (Idx item = 0; item < items; ++item) {
      // Image-major: consecutive items read the same images (in L2) with the next weight block.
      const Idx gb = item % first.blocks(), grp = gb / (first.cout / kCoBlock);
      const Idx n0 = item / first.blocks() * kImages, n1 = std::min<Idx>(first.N, n0 + kImages);
      for (std::size_t k = 0; k < plans.size(); ++k) {
        const Plan& pl = plans[k];
        const Idx img_part = Idx{pl.P} * pl.Q * kCoBlock, rs = Idx{pl.R} * pl.S;
        float* part = partv.data() + part_at[k];
        const Geometry g{Idx{pl.H} * pl.W, pl.W, pl.x_image, rs * kCoBlock, Idx{pl.S} * kCoBlock, Idx{pl.dil_h} * pl.W};
        const float* w_cb = wp + packed_at[k] + gb * pl.cin * rs * kCoBlock;
        const int wt = pl.wt(), it = pl.it();
        const TileFn full = wt == 4 ? pick<4, 2>(pl.stride_w) : pick<8, 1>(pl.stride_w);
        const TileFn single = wt == 4 ? pick<4, 1>(pl.stride_w) : full;  // an odd image count's last image
        const int cblock = std::max(1, kBlockTaps / (pl.R * pl.S));
        for (int c0 = 0; c0 < pl.cin; c0 += cblock) {
          const int c1 = std::min(pl.cin, c0 + cblock);
          for (Idx n = n0; n < n1; n += it) {
            const TileFn fn = n + it <= n1 ? full : single;
            const float* x_img = x + n * pl.x_image + grp * pl.cin * pl.x_channel;
            for (int p = 0; p < pl.P; ++p)
              for (int q0 = 0; q0 < pl.Q; q0 += wt)
                fn(pl, g, x_img, w_cb, p, q0, c0, c1, part + (n - n0) * img_part, img_part);
          }
        }
      }
      for (Idx n = n0; n < n1; ++n)
        for (Idx o = 0; o < kCoBlock; ++o) {
          const Idx co = gb * kCoBlock + o;  // = grp cout + channel within the group
          const float b = bias ? bias[co] : 0.0f;
          for (std::size_t k = 0; k < plans.size(); ++k) {
            const Plan& pl = plans[k];
            const Idx img_part = Idx{pl.P} * pl.Q * kCoBlock;
            float* yc = y + n * pl.y_image + co * pl.y_channel + pl.y_offset;
            const float* pr = partv.data() + part_at[k] + (n - n0) * img_part + o;
            for (int p = 0; p < pl.P; ++p)
              for (int q = 0; q < pl.Q; ++q) yc[p * pl.y_row + q * pl.y_col] = pr[(Idx{p} * pl.Q + q) * kCoBlock] + b;
          }
        }
    }
  }
}
#endif

}  // namespace

bool conv2d_direct_supported(const Conv2dLowered& l) {
#if STRIDER_DIRECT_X86
  return plans_supported({forward_plan(l)});
#else
  (void)l;
  return false;
#endif
}

bool conv2d_direct_backward_data_supported(const Conv2dLowered& l) {
#if STRIDER_DIRECT_X86
  return plans_supported(backward_data_plans(l));
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
  run_plans({forward_plan(l)}, x, w, bias, y, threads);
#else
  (void)x, (void)w, (void)bias, (void)y, (void)threads;
#endif
}

void conv2d_direct_backward_data(const Conv2dLowered& l, const float* gy, const float* w, const float* bias, float* gx,
                                 int threads) {
  STRIDER_CHECK(conv2d_direct_backward_data_supported(l), ValueError,
                "conv2d_direct_backward_data: this convolution (or this CPU) is not one the direct path handles; "
                "check conv2d_direct_backward_data_supported() first");
#if STRIDER_DIRECT_X86
  run_plans(backward_data_plans(l), gy, w, bias, gx, threads);
#else
  (void)gy, (void)w, (void)bias, (void)gx, (void)threads;
#endif
}

}  // namespace strider::kernels::cpu
