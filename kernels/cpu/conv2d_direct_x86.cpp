// kernels/cpu/conv2d_direct.hpp. The kernels (direct_tile, channels_to_positions, weight_grad_tile,
// weight_grad_list) carry an AVX-512 target attribute and run only where
// gemm_isa_available(Avx512) says so; the rest is baseline x86-64 (or portable C++, where the
// *_supported functions are always false). Backward-weight is its own section, at the end.
//
// Forward and backward-data run "plans": a plan is one forward-shaped convolution (input channels
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
// A kernel column cuts at most the first and last position off a tile row, or the whole row
// (checked when the plan is made), so the position range is one of four compile-time ones, or none.
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

// ---- backward-weight ------------------------------------------------------------------------
// gW[o][c][r][s] = sum over images and output positions (p, q) of gy[o](p, q) x[c](p s_h - p_h +
// r d_h, q s_w - p_w + s d_w). A tile is 32 output channels (lanes) x 8 input channels at one tap
// (r, s): the 8 share the rectangle of positions whose input is inside the image, so the loop runs
// over that rectangle only (no padding MAC) and needs no template per border. gy is first copied
// into blocks of 32 channels, position-major ([n][Co / 32][p][q][32]: a position's 32 channels
// are two vector loads, and a block's positions one stream; channel-major with stride Co, the
// copy's scalar stores were 19% of A D.2's pass and the kernel's gy loads missed L1); x is read
// where it lies (8 channel planes, one broadcast each). An item is one group's 8 input channels
// and all its output channels, so x is read once: for each chunk of images (~kWgPositions output
// positions), each tap, each block of 32 outputs, the tile's 16 accumulators come from the item's
// sums, run over the chunk's positions and go back; the sums go to gW at the end. Each element is
// summed image by image, position by position, whatever the threads. (Items of 32 outputs x 8
// inputs read x once per output block: 1.2-1.4x slower at batch 128.)
constexpr int kWgChannels = 8;
constexpr Idx kWgPositions = 256;

struct WeightGradTile {
  const float* x;   // channel c0 of image n (group applied)
  Idx plane, W;     // input plane, row
  const float* gy;  // gy_t of image n at output channel o0: position (p, q) at + (p Q + q) ld
  Idx ld, Q;
  int p_lo, p_hi, q_lo, q_hi;  // positions whose input for this tap is inside the image
  Idx x_row0, x_col0;          // input row and column of position (0, 0) for this tap
  int stride_h, stride_w;
};

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// dst[p 32 + o] = src[o plane + p] for 16 channels o (dst already offset to the first) and
// positions [0, n): 16 x 16 blocks transposed in registers, the last block masked.
__attribute__((target("avx512f"))) void channels_to_positions(const float* src, Idx plane, Idx n, float* dst) {
  for (Idx p0 = 0; p0 < n; p0 += 16) {
    const Idx left = std::min<Idx>(16, n - p0);
    const __mmask16 m = static_cast<__mmask16>((1u << left) - 1u);
    __m512 r[16];
    for (int o = 0; o < 16; ++o) r[o] = _mm512_maskz_loadu_ps(m, src + o * plane + p0);
    // 16 x 16 transpose: 32-bit, 64-bit, 128-bit and 256-bit interleaves.
    __m512 t[16];
    for (int i = 0; i < 8; ++i) {
      t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 2; ++j) {
        const __m512d a = _mm512_castps_pd(t[4 * i + j]), b = _mm512_castps_pd(t[4 * i + 2 + j]);
        r[4 * i + j] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
        r[4 * i + 2 + j] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
      }
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 4; ++j) {
        t[8 * i + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0x88);
        t[8 * i + 4 + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0xDD);
      }
    for (int j = 0; j < 8; ++j) {
      r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
      r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xDD);
    }
    // r[k] now holds position p0 + perm(k): undo the interleaves' order.
    static constexpr int kOrder[16] = {0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15};
    for (int k = 0; k < 16; ++k) {
      const int pos = kOrder[k];
      if (pos < left) _mm512_storeu_ps(dst + (p0 + pos) * kCoBlock, r[k]);
    }
  }
}

__attribute__((target("avx512f"))) void weight_grad_tile(const WeightGradTile* tiles, int count, float* acc_io) {
  __m512 acc[kWgChannels][2];
  for (int i = 0; i < kWgChannels; ++i) {
    acc[i][0] = _mm512_loadu_ps(acc_io + i * 32);
    acc[i][1] = _mm512_loadu_ps(acc_io + i * 32 + 16);
  }
  for (int t = 0; t < count; ++t) {  // one image each
    const WeightGradTile& w = tiles[t];
    for (int p = w.p_lo; p < w.p_hi; ++p) {
      const float* xr = w.x + (w.x_row0 + Idx{p} * w.stride_h) * w.W + w.x_col0 + Idx{w.q_lo} * w.stride_w;
      const float* gr = w.gy + (Idx{p} * w.Q + w.q_lo) * w.ld;
      const float* x1 = xr + w.plane;
      const float* x2 = xr + 2 * w.plane;
      const float* x3 = xr + 3 * w.plane;
      const float* x4 = xr + 4 * w.plane;
      const float* x5 = xr + 5 * w.plane;
      const float* x6 = xr + 6 * w.plane;
      const float* x7 = xr + 7 * w.plane;
      for (int q = w.q_lo; q < w.q_hi; ++q) {
        const Idx o = Idx{q - w.q_lo} * w.stride_w;
        const __m512 g0 = _mm512_loadu_ps(gr), g1 = _mm512_loadu_ps(gr + 16);
        gr += w.ld;
        const float* xs[kWgChannels] = {xr, x1, x2, x3, x4, x5, x6, x7};
#pragma GCC unroll 8
        for (int i = 0; i < kWgChannels; ++i) {
          const __m512 b = _mm512_set1_ps(xs[i][o]);
          acc[i][0] = _mm512_fmadd_ps(b, g0, acc[i][0]);
          acc[i][1] = _mm512_fmadd_ps(b, g1, acc[i][1]);
        }
      }
    }
  }
  for (int i = 0; i < kWgChannels; ++i) {
    _mm512_storeu_ps(acc_io + i * 32, acc[i][0]);
    _mm512_storeu_ps(acc_io + i * 32 + 16, acc[i][1]);
  }
}

// acc (8 inputs x 32 outputs, at acc_io) += x[xoff[k] + i plane] * gy[goff[k] + 0..31] over the
// k < count positions of a list: every valid position of every image of a chunk for one tap, so
// one loop runs the whole chunk (row by row, 4x4 maps left loops of 3-4 trips whose exits
// mispredicted).
__attribute__((target("avx512f"))) void weight_grad_list(const float* x, Idx plane, const Idx* xoff, const float* gy,
                                                         const Idx* goff, Idx count, float* acc_io) {
  __m512 acc[kWgChannels][2];
  for (int i = 0; i < kWgChannels; ++i) {
    acc[i][0] = _mm512_loadu_ps(acc_io + i * 32);
    acc[i][1] = _mm512_loadu_ps(acc_io + i * 32 + 16);
  }
  for (Idx k = 0; k < count; ++k) {
    const float* xk = x + xoff[k];
    const float* gk = gy + goff[k];
    const __m512 g0 = _mm512_loadu_ps(gk), g1 = _mm512_loadu_ps(gk + 16);
#pragma GCC unroll 8
    for (int i = 0; i < kWgChannels; ++i) {
      const __m512 b = _mm512_set1_ps(xk[i * plane]);
      acc[i][0] = _mm512_fmadd_ps(b, g0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(b, g1, acc[i][1]);
    }
  }
  for (int i = 0; i < kWgChannels; ++i) {
    _mm512_storeu_ps(acc_io + i * 32, acc[i][0]);
    _mm512_storeu_ps(acc_io + i * 32 + 16, acc[i][1]);
  }
}
#pragma GCC diagnostic pop

// [lo, hi) of output indices v in [0, n) with 0 <= v stride - pad + k dil < in.
void valid_range(int n, int stride, int pad, int k, int dil, int in, int* lo, int* hi) {
  int a = 0, b = n;
  while (a < b && Idx{a} * stride - pad + Idx{k} * dil < 0) ++a;
  while (b > a && Idx{b - 1} * stride - pad + Idx{k} * dil >= in) --b;
  *lo = a;
  *hi = b;
}

bool weight_grad_supported(const Conv2dLowered& l) {
  if (!enabled_by_environment() || !gemm_isa_available(GemmIsa::Avx512)) return false;
  if (l.N < 1 || l.groups < 1 || l.co_per_group() % kCoBlock != 0 || l.co_per_group() < kCoBlock) return false;
  if (l.ci_per_group() % kWgChannels != 0 || l.ci_per_group() < 16) return false;
  return Idx{l.Ho} * l.Wo <= kMaxOutputPlane && l.Ho >= 1 && l.Wo >= 1;
}

void run_weight_grad(const Conv2dLowered& l, const float* x, const float* gy, float* gw, int threads) {
  const Idx Cg = l.ci_per_group(), Kg = l.co_per_group(), RS = Idx{l.R} * l.S;
  const Idx HiWi = Idx{l.Hi} * l.Wi, HoWo = Idx{l.Ho} * l.Wo;
  const Idx o_blocks = Kg / kCoBlock, c_blocks = Cg / kWgChannels;
  const Idx items = Idx{l.groups} * c_blocks, item_size = RS * kWgChannels * Kg;
  // Images per chunk: enough output positions (~kWgPositions) that an accumulator's load and store
  // are a small part of its run.
  const Idx chunk = std::max<Idx>(1, kWgPositions / std::max<Idx>(1, HoWo));
  // gy by blocks of 32 output channels, position-major within each: [n][Co / 32][p][q][32].
  std::vector<float>& gyt_buf = t_buffers.weights;
  gyt_buf.resize(static_cast<std::size_t>(Idx{l.N} * HoWo * l.Co));
  float* gyt = gyt_buf.data();
#pragma omp parallel num_threads(std::max(1, threads))
  {
#pragma omp for schedule(static)
    for (Idx nb = 0; nb < Idx{l.N} * (l.Co / 16); ++nb) {  // (image, 16 channels)
      const Idx n = nb / (l.Co / 16), o16 = nb % (l.Co / 16) * 16;
      channels_to_positions(gy + (n * l.Co + o16) * HoWo, HoWo, HoWo,
                            gyt + (n * l.Co + o16 / kCoBlock * kCoBlock) * HoWo + o16 % kCoBlock);
    }
    std::vector<float>& sums = t_buffers.part;  // the item's gW: [o block][tap][8 inputs][32 outputs]
    sums.resize(static_cast<std::size_t>(item_size));
    // Rows of at most 4 positions: one list of (x, gy) offsets per chunk and tap (a loop of 3-4
    // trips per row mispredicted its exit every row: A D.4 / B D.3 0.87 / 0.90 with the list); wider
    // rows: row by row (the list's two extra loads per position cost 3-10% at 8x8 and 16x16).
    const bool use_list = l.Wo <= 4;
    std::vector<Idx> xoff(static_cast<std::size_t>(use_list ? chunk * HoWo : 0));
    std::vector<Idx> goff(xoff.size());
    std::vector<WeightGradTile> tiles(static_cast<std::size_t>(chunk));
#pragma omp for schedule(dynamic, 1)
    for (Idx item = 0; item < items; ++item) {
      const Idx grp = item / c_blocks, cb = item % c_blocks, c0 = grp * Cg + cb * kWgChannels;
      std::fill(sums.begin(), sums.end(), 0.0f);
      for (Idx n0 = 0; n0 < l.N; n0 += chunk) {
        const Idx count = std::min<Idx>(chunk, l.N - n0);
        const float* x_chunk = x + (n0 * l.Ci + c0) * HiWi;
        for (int r = 0; r < l.R; ++r)
          for (int s = 0; s < l.S; ++s) {
            int p_lo = 0, p_hi = 0, q_lo = 0, q_hi = 0;
            valid_range(l.Ho, l.stride_h, l.pad_h, r, l.dil_h, l.Hi, &p_lo, &p_hi);
            valid_range(l.Wo, l.stride_w, l.pad_w, s, l.dil_w, l.Wi, &q_lo, &q_hi);
            if (p_lo >= p_hi || q_lo >= q_hi) continue;
            float* sum_rs = sums.data() + (Idx{r} * l.S + s) * kWgChannels * kCoBlock;
            if (use_list) {
              Idx k = 0;  // the tap's valid positions in every image of the chunk
              for (Idx i = 0; i < count; ++i)
                for (int p = p_lo; p < p_hi; ++p)
                  for (int q = q_lo; q < q_hi; ++q, ++k) {
                    xoff[static_cast<std::size_t>(k)] = i * l.Ci * HiWi +
                                                        (Idx{p} * l.stride_h - l.pad_h + Idx{r} * l.dil_h) * l.Wi +
                                                        Idx{q} * l.stride_w - l.pad_w + Idx{s} * l.dil_w;
                    goff[static_cast<std::size_t>(k)] = i * l.Co * HoWo + (Idx{p} * l.Wo + q) * kCoBlock;
                  }
              for (Idx ob = 0; ob < o_blocks; ++ob)
                weight_grad_list(x_chunk, HiWi, xoff.data(), gyt + (n0 * l.Co + grp * Kg + ob * kCoBlock) * HoWo,
                                 goff.data(), k, sum_rs + ob * RS * kWgChannels * kCoBlock);
              continue;
            }
            WeightGradTile t{};
            t.plane = HiWi, t.W = l.Wi, t.ld = kCoBlock, t.Q = l.Wo, t.stride_h = l.stride_h, t.stride_w = l.stride_w;
            t.p_lo = p_lo, t.p_hi = p_hi, t.q_lo = q_lo, t.q_hi = q_hi;
            t.x_row0 = Idx{r} * l.dil_h - l.pad_h, t.x_col0 = Idx{s} * l.dil_w - l.pad_w;
            for (Idx ob = 0; ob < o_blocks; ++ob) {
              const Idx o0 = grp * Kg + ob * kCoBlock;
              for (Idx i = 0; i < count; ++i) {
                WeightGradTile& ti = tiles[static_cast<std::size_t>(i)];
                ti = t;
                ti.x = x + ((n0 + i) * l.Ci + c0) * HiWi;
                ti.gy = gyt + ((n0 + i) * l.Co + o0) * HoWo;
              }
              weight_grad_tile(tiles.data(), static_cast<int>(count), sum_rs + ob * RS * kWgChannels * kCoBlock);
            }
          }
      }
      for (Idx ob = 0; ob < o_blocks; ++ob)
        for (Idx o = 0; o < kCoBlock; ++o)
          for (Idx i = 0; i < kWgChannels; ++i)
            for (Idx t = 0; t < RS; ++t)
              gw[((grp * Kg + ob * kCoBlock + o) * Cg + cb * kWgChannels + i) * RS + t] =
                  sums[static_cast<std::size_t>(((ob * RS + t) * kWgChannels + i) * kCoBlock + o)];
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

bool conv2d_direct_backward_weight_supported(const Conv2dLowered& l) {
#if STRIDER_DIRECT_X86
  return weight_grad_supported(l);
#else
  (void)l;
  return false;
#endif
}

void conv2d_direct_backward_weight(const Conv2dLowered& l, const float* x, const float* gy, float* gw, int threads) {
  STRIDER_CHECK(conv2d_direct_backward_weight_supported(l), ValueError,
                "conv2d_direct_backward_weight: this convolution (or this CPU) is not one the direct path handles; "
                "check conv2d_direct_backward_weight_supported() first");
#if STRIDER_DIRECT_X86
  run_weight_grad(l, x, gy, gw, threads);
#else
  (void)x, (void)gy, (void)gw, (void)threads;
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
