// cpu:: fast float32 conv2d / conv_transpose2d (kernels/conv2d.hpp): implicit GEMM on strider's
// SGEMM (kernels/cpu/gemm.hpp: sgemm_ex), threaded with OpenMP.
//
// Every pass is one GEMM per (group g, column tile) of the lowered convolution (Conv2dLowered:
// xc (N, Ci, Hi, Wi) -> yc (N, Co, Ho, Wo); Kred = Ci/g R S rows of im2col; a column is one output
// position (n, ho, wo)):
//   forward          yc tile  (Co/g x cols)  = W_g (Co/g x Kred) . col(xc tile) (Kred x cols)
//   backward-data    dcol     (Kred x cols)  = W_g^T . gyc tile ;  gxc += col2im(dcol)
//   backward-weight  gW_g     (Co/g x Kred) += gyc tile (Co/g x cols) . col(xc tile)^T
//                    (or gW_g^T = col . gyc tile^T when that fills the register tile better)
// conv_transpose2d forward is the lowered backward-data: a GEMM on the un-dilated input, then a
// col2im scatter, so the zeros of a "dilate the input, then convolve" formulation are never
// multiplied. A 1x1 kernel with stride 1, no padding and equal sizes needs no im2col: the image
// is its own column matrix; a kernel window that is the whole input (one output position) makes
// the pass a plain fully connected GEMM over the batch.
//
// Implicit GEMM: a tile's input rows are copied once into a zero-padded stage split by column
// phase (Stage, below), in which every im2col row is a run of contiguous floats; col(xc tile) is
// then a GatherMatrix over the stage (row offsets per kernel tap, column offsets per output
// position) that sgemm_ex gathers straight into its packed panels, and backward-data scatter-adds
// W^T . gy straight into the stage (a ScatterMatrix), which one pass adds back into gxc. No im2col
// matrix is ever written. Where sgemm_ex does not run (STRIDER_GEMM=openblas, a CPU without AVX2)
// the same stage feeds an explicit im2col / col2im matrix and gemm().
//
// Column tiles: a tile is either part of one image's Ho Wo columns or several whole images. Small
// images (DCGAN's 4x4 and 1x1 layers) are thus batched into one wide GEMM instead of one skinny
// GEMM (a GEMV at 1x1) per image; their y / gy are read and written in place through offsets
// (Geo::out_row / out_col), or, on the explicit path, packed into / unpacked from staging
// matrices. Tiles are sized so an im2col matrix would stay below kColBufferFloats.
//
// Threads: all parallelism is ours (OpenMP); the GEMM is held at one thread for the duration of a
// call (BlasSingleThread), so no two pools oversubscribe the cores. Two splits (Conv2dParallel):
//   kBatch   threads take whole (g, tile) items, each with private buffers; backward-weight
//            accumulates per-thread gW copies (thread 0: gW itself) and sums them at the end.
//   kWithin  items run one after another and the threads share each one: staging, offsets and
//            unstaging split over channels, the GEMM into row or column blocks (backward-data's
//            scatter-add: rows of disjoint channels). For few, large items.
// Buffers are per-thread scratch kept between passes (no allocation in steady state).
// Called from inside an OpenMP parallel region, a pass runs on the calling thread only.
#include <strider/kernels/conv2d.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include <omp.h>

#include <strider/core/error.hpp>
#include <strider/kernels/cpu/conv2d_direct.hpp>
#include <strider/kernels/cpu/gemm.hpp>
#include <strider/kernels/cpu/strided.hpp>

namespace strider::kernels::cpu {
namespace {

using Idx = std::int64_t;

constexpr Idx kColBufferFloats = Idx{1} << 20;         // 4 MiB per im2col / staging buffer
constexpr Idx kMinTileColumns = 64;                    // narrower GEMMs waste most of the FMA units
constexpr Idx kMaxWeightCopiesFloats = Idx{16} << 20;  // 64 MiB of per-thread gW copies (kBatch)
constexpr Idx kSerialFlops = Idx{1} << 21;             // below this, threads cost more than they give,
constexpr Idx kSerialFloats = Idx{1} << 17;            //   unless the pass touches this many floats

// [begin, end) of part i of n items split into `parts` near-equal parts.
struct Range { Idx begin, end; };
Range split(Idx n, int parts, int i) { return {n * i / parts, n * (i + 1) / parts}; }

// Images [n0, n1), columns [j0, j1) of each: one image's column range, or whole images.
struct Tile {
  Idx n0, n1, j0, j1;
  Idx width() const { return j1 - j0; }
  Idx cols() const { return (n1 - n0) * (j1 - j0); }
  bool single() const { return n1 - n0 == 1; }
};

// Per-pass geometry shared by the helpers below.
struct Geo {
  Conv2dLowered l;
  Idx Cg, Kg, Kred, HiWi, HoWo;
  bool direct;           // 1x1, stride 1, no padding, Ho x Wo == Hi x Wi: no im2col
  bool fully_connected;  // one output position whose window is the whole unpadded input
  Idx tile_cols;        // columns per tile (within an image) ...
  Idx images_per_tile;  // ... or whole images per tile (exactly one of the two is > 1 or both 1)
  std::uint64_t weights_token = 0;  // forward / backward-data: the pass's sgemm_reuse_token
  // Implicit GEMM where sgemm_gather_b / sgemm_scatter_add_c run: forward and backward-weight
  // gather their im2col matrix from the stage, backward-data scatter-adds its product into it.
  enum class Implicit { kNone, kGather, kScatter } implicit = Implicit::kNone;
  // Multi-image tiles of y or gy (Co channels of Ho Wo) as a (Kg x tile columns) matrix for
  // sgemm_ex: element (k, j) at the tile's first image and group + out_row[k] + out_col[j].
  std::vector<Idx> out_row, out_col;
  // Backward-weight as gW^T = col . gy^T when that wastes less of the 12 x 32 register tile: a
  // first layer's few taps (Ci R S = 16) as the 32-wide side left half of every FMA on zeros.
  bool transposed_weight_grad = false;
  // Backward-data's scatter-add: the order of dcol's rows (row_order[k'] = the im2col row k = c R S
  // + tap it holds), and the weights with their columns in that order (w_rows). Empty: im2col
  // order. See scatter_row_order.
  std::vector<Idx> row_order;
  const float* w_rows = nullptr;

  Geo(const Conv2dLowered& low, int threads) : l(low) {
    Cg = l.ci_per_group();
    Kg = l.co_per_group();
    Kred = Cg * l.R * l.S;
    HiWi = Idx{l.Hi} * l.Wi;
    HoWo = Idx{l.Ho} * l.Wo;
    direct = l.R == 1 && l.S == 1 && l.stride_h == 1 && l.stride_w == 1 && l.pad_h == 0 && l.pad_w == 0 &&
             l.Ho == l.Hi && l.Wo == l.Wi;
    fully_connected = l.Ho == 1 && l.Wo == 1 && l.R == l.Hi && l.S == l.Wi && l.pad_h == 0 && l.pad_w == 0;
    // Widest tile the buffers allow; narrower when that leaves threads without items, but not
    // below kMinTileColumns.
    const Idx rows = std::max({Kred, Cg, Kg});
    const Idx cap = std::max<Idx>(1, kColBufferFloats / rows);
    const Idx all = std::max<Idx>(1, Idx{l.N} * HoWo);
    const Idx fair = (all * l.groups + 4 * threads - 1) / (4 * threads);
    const Idx want = std::min(cap, std::max(kMinTileColumns, fair));
    if (want >= HoWo) {
      tile_cols = HoWo;
      images_per_tile = std::max<Idx>(1, std::min<Idx>(l.N, want / HoWo));
    } else {
      tile_cols = want;
      images_per_tile = 1;
    }
    if (images_per_tile > 1) {
      out_row.resize(static_cast<std::size_t>(Kg));
      for (Idx k = 0; k < Kg; ++k) out_row[static_cast<std::size_t>(k)] = k * HoWo;
      out_col.resize(static_cast<std::size_t>(max_cols()));
      for (Idx j = 0; j < max_cols(); ++j) out_col[static_cast<std::size_t>(j)] = j / HoWo * l.Co * HoWo + j % HoWo;
    }
  }
  Idx tiles() const {
    if (l.N == 0) return 0;
    return tile_cols < HoWo ? l.N * ((HoWo + tile_cols - 1) / tile_cols)
                            : (l.N + images_per_tile - 1) / images_per_tile;
  }
  Tile tile(Idx t) const {
    if (tile_cols < HoWo) {
      const Idx per_image = (HoWo + tile_cols - 1) / tile_cols, n = t / per_image, j0 = (t % per_image) * tile_cols;
      return {n, n + 1, j0, std::min(HoWo, j0 + tile_cols)};
    }
    const Idx n0 = t * images_per_tile;
    return {n0, std::min<Idx>(l.N, n0 + images_per_tile), 0, HoWo};
  }
  Idx max_cols() const { return tile_cols * images_per_tile; }
  Idx items() const { return tiles() * l.groups; }

  const float* xg(const float* xc, Idx n, Idx g) const { return xc + (n * l.Ci + g * Cg) * HiWi; }
  float* xg(float* xc, Idx n, Idx g) const { return xc + (n * l.Ci + g * Cg) * HiWi; }
  const float* yg(const float* yc, Idx n, Idx g) const { return yc + (n * l.Co + g * Kg) * HoWo; }
  float* yg(float* yc, Idx n, Idx g) const { return yc + (n * l.Co + g * Kg) * HoWo; }
  const float* wg(const float* w, Idx g) const { return w + g * Kg * Kred; }
  float* wg(float* w, Idx g) const { return w + g * Kg * Kred; }
};

// Calls f(ho, wo_begin, wo_end, offset) for each output row piece of the columns [j0, j1) of one
// image, where column j = ho Wo + wo and `offset` = j - j0 of the piece's first column.
template <class F>
void for_each_row_piece(const Conv2dLowered& l, Idx j0, Idx j1, F&& f) {
  for (Idx ho = j0 / l.Wo; ho * l.Wo < j1; ++ho) {
    const Idx a = std::max<Idx>(0, j0 - ho * l.Wo), b = std::min<Idx>(l.Wo, j1 - ho * l.Wo);
    f(ho, a, b, ho * l.Wo + a - j0);
  }
}

// ---------------------------------------------------------------------------------------------
// im2col / col2im through a staging copy of the tile's input rows, zero-padded and split by column
// phase, so that every piece of an im2col row is one contiguous copy (and every col2im piece one
// contiguous add) whatever the stride, padding and dilation, with no bounds checks in the loops.
// Padded column wp = wo sw + s dw is phase (s dw) mod sw, position wo + (s dw) div sw of that
// phase's row. For channel c of tile image i = n - n0, padded row h0 + h (h0 = the tile's first
// output row times sh) and phase f:
//   stage[(((i Cg + c) P + f) Hs + h) U + u] = x_n[c, h0 + h - ph, u sw + f - pw]   (0 outside)
// P = sw phases, U = Wo + max_s (s dw) div sw floats per phase row, Hs padded rows.
// (A stride-2 4x4 im2col row was a scalar gather with a clamp per output row: a fifth of DCGAN's
// discriminator passes; the staging costs one pass over the input, a quarter of the columns.)
// ---------------------------------------------------------------------------------------------

// Phase f's row positions u whose input column u sw + f - pw lies inside [0, Wi).
Range valid_u(const Conv2dLowered& l, Idx U, Idx f) {
  const Idx first = l.pad_w - f;  // u sw >= first
  const Idx lo = first <= 0 ? 0 : (first + l.stride_w - 1) / l.stride_w;
  const Idx last = Idx{l.Wi} - 1 + l.pad_w - f;  // u sw <= last
  const Idx hi = last < 0 ? 0 : last / l.stride_w + 1;
  return {std::min(lo, U), std::clamp<Idx>(hi, std::min(lo, U), U)};
}

// Stride 2 whose stage rows hold every input column: then one pass per input row splits it into
// both phase rows (deinterleave2; and interleave2_add back). Input column i is padded column
// i + pw = 2u + f: even columns go to phase pw % 2 from position pw / 2, odd ones to phase
// (pw + 1) % 2 from (pw + 1) / 2.
struct PairedPhases {
  bool on = false;
  Idx f_even = 0, u_even = 0, f_odd = 0, u_odd = 0;
  PairedPhases(const Conv2dLowered& l, Idx U) {
    if (l.stride_w != 2) return;
    f_even = l.pad_w % 2, u_even = l.pad_w / 2, f_odd = (l.pad_w + 1) % 2, u_odd = (l.pad_w + 1) / 2;
    on = u_even + (l.Wi + 1) / 2 <= U && u_odd + l.Wi / 2 <= U;
  }
};

struct Stage {
  Idx P, U;  // phases, floats per phase row
  Idx rows_max;  // padded rows per (image, channel, phase), at most over the tiles
  std::vector<Range> valid;  // per phase f: valid_u (once per pass, not per tile: divisions)
  PairedPhases paired;
  explicit Stage(const Conv2dLowered& l, Idx tile_cols, Idx HoWo)
      : P(l.stride_w), U(l.Wo + Idx{l.S - 1} * l.dil_w / l.stride_w), paired(l, U) {
    const Idx out_rows = tile_cols < HoWo ? std::min<Idx>(l.Ho, (tile_cols - 1) / l.Wo + 2) : l.Ho;
    rows_max = (out_rows - 1) * l.stride_h + Idx{l.R - 1} * l.dil_h + 1;
    for (Idx f = 0; f < P; ++f) valid.push_back(valid_u(l, U, f));
  }
};

// The tile's first output row and its padded input rows.
struct TileRows {
  Idx ho0, Hs;
  TileRows(const Conv2dLowered& l, const Tile& t) {
    ho0 = t.j0 / l.Wo;
    const Idx ho1 = (t.j1 - 1) / l.Wo;
    Hs = (ho1 - ho0) * l.stride_h + Idx{l.R - 1} * l.dil_h + 1;
  }
};

inline void copy_floats(float* __restrict d, const float* __restrict s, Idx n) {
  for (Idx i = 0; i < n; ++i) d[i] = s[i];
}
inline void add_floats(float* __restrict d, const float* __restrict s, Idx n) {
  for (Idx i = 0; i < n; ++i) d[i] += s[i];
}


// Offset of the plane of tile image i, channel c, phase f in the stage.
Idx plane_offset(const Geo& G, const Stage& st, const TileRows& tr, Idx i, Idx c, Idx f) {
  return ((i * G.Cg + c) * st.P + f) * tr.Hs * st.U;
}


// Fills the stage for group channels [c0, c1) of the tile's images from x (x_n = x + n image_stride).
// An (image, channel)'s P planes are contiguous: they are zeroed with one fill, then the rows
// inside the image get their valid pieces. (Per-row fills of the padding were 4 memset calls per
// row, a few floats each: at 8x8 inputs more calls than floats copied.)
void stage_input(const Geo& G, const Stage& st, const float* x, Idx image_stride, const Tile& tl, Idx c0, Idx c1,
                 float* stage) {
  const Conv2dLowered& l = G.l;
  const TileRows tr(l, tl);
  const Idx h0 = tr.ho0 * l.stride_h, plane_floats = tr.Hs * st.U;
  const Idx h_lo = std::max<Idx>(0, l.pad_h - h0), h_hi = std::min<Idx>(tr.Hs, Idx{l.Hi} + l.pad_h - h0);
  const PairedPhases& pp = st.paired;
  for (Idx n = tl.n0; n < tl.n1; ++n)
    for (Idx c = c0; c < c1; ++c) {
      const float* x_c = x + n * image_stride + c * G.HiWi;
      float* planes = stage + plane_offset(G, st, tr, n - tl.n0, c, 0);  // phase f at f plane_floats
      std::fill(planes, planes + st.P * plane_floats, 0.0f);
      if (pp.on) {  // all the rows inside the image in one call
        if (h_hi > h_lo)
          deinterleave2(x_c + (h0 + h_lo - l.pad_h) * l.Wi, l.Wi,
                        planes + pp.f_even * plane_floats + h_lo * st.U + pp.u_even,
                        planes + pp.f_odd * plane_floats + h_lo * st.U + pp.u_odd, h_hi - h_lo, l.Wi, st.U);
        continue;
      }
      for (Idx h = h_lo; h < h_hi; ++h) {
        const float* x_row = x_c + (h0 + h - l.pad_h) * l.Wi;
        for (Idx f = 0; f < st.P; ++f) {
          const Range ok = st.valid[static_cast<std::size_t>(f)];
          float* d = planes + f * plane_floats + h * st.U;
          const float* src = x_row + f - l.pad_w;  // src[u sw]
          if (l.stride_w == 1) {
            copy_floats(d + ok.begin, src + ok.begin, ok.end - ok.begin);
          } else {
            for (Idx u = ok.begin; u < ok.end; ++u) d[u] = src[u * l.stride_w];
          }
        }
      }
    }
}

// x_n[c, hi, wi] += stage[...] for the positions inside the image: the adjoint of stage_input.
void unstage_add(const Geo& G, const Stage& st, const float* stage, const Tile& tl, Idx c0, Idx c1, float* x,
                 Idx image_stride) {
  const Conv2dLowered& l = G.l;
  const TileRows tr(l, tl);
  const Idx h0 = tr.ho0 * l.stride_h, plane_floats = tr.Hs * st.U;
  const Idx h_lo = std::max<Idx>(0, l.pad_h - h0), h_hi = std::min<Idx>(tr.Hs, Idx{l.Hi} + l.pad_h - h0);
  const PairedPhases& pp = st.paired;
  for (Idx n = tl.n0; n < tl.n1; ++n)
    for (Idx c = c0; c < c1; ++c) {
      float* x_c = x + n * image_stride + c * G.HiWi;
      const float* planes = stage + plane_offset(G, st, tr, n - tl.n0, c, 0);
      if (pp.on) {  // all the rows inside the image in one call
        if (h_hi > h_lo)
          interleave2_add(planes + pp.f_even * plane_floats + h_lo * st.U + pp.u_even,
                          planes + pp.f_odd * plane_floats + h_lo * st.U + pp.u_odd, l.Wi,
                          x_c + (h0 + h_lo - l.pad_h) * l.Wi, h_hi - h_lo, st.U, l.Wi);
        continue;
      }
      for (Idx h = h_lo; h < h_hi; ++h) {
        float* x_row = x_c + (h0 + h - l.pad_h) * l.Wi;
        for (Idx f = 0; f < st.P; ++f) {
          const Range ok = st.valid[static_cast<std::size_t>(f)];
          const float* s_row = planes + f * plane_floats + h * st.U;
          float* d = x_row + f - l.pad_w;  // d[u sw]
          if (l.stride_w == 1) {
            add_floats(d + ok.begin, s_row + ok.begin, ok.end - ok.begin);
          } else {
            for (Idx u = ok.begin; u < ok.end; ++u) d[u * l.stride_w] += s_row[u];
          }
        }
      }
    }
}

// Calls f(row, dst) for each im2col row (c R + r) S + s of channels [c0, c1), with `row` the
// stage's matching data for tile image 0 (add i Cg P Hs U for image i) and the output row's
// pieces: f copies or adds between col row `dst` and the stage.
template <class F>
void for_each_col_piece(const Geo& G, const Stage& st, const TileRows& tr, float* stage, const Tile& tl, Idx c0,
                        Idx c1, float* col, Idx ld, F&& f) {
  const Conv2dLowered& l = G.l;
  const Idx image_floats = G.Cg * st.P * tr.Hs * st.U, row_step = Idx{l.stride_h} * st.U;
  for (Idx c = c0; c < c1; ++c)
    for (Idx r = 0; r < l.R; ++r)
      for (Idx s = 0; s < l.S; ++s) {
        const Idx phase = Idx{s} * l.dil_w % l.stride_w, q = Idx{s} * l.dil_w / l.stride_w;
        float* dst = col + ((c * l.R + r) * l.S + s) * ld;
        float* base = stage + plane_offset(G, st, tr, 0, c, phase) + Idx{r} * l.dil_h * st.U + q;
        for (Idx i = 0; i < tl.n1 - tl.n0; ++i) {
          float* img = base + i * image_floats;
          float* d_img = dst + i * tl.width();
          for_each_row_piece(l, tl.j0, tl.j1, [&](Idx ho, Idx a, Idx b, Idx off) {
            f(d_img + off, img + (ho - tr.ho0) * row_step + a, b - a);
          });
        }
      }
}

// col[(c R + r) S + s][(n - n0) width + j - j0] (row stride ld) = x_n[c, ho sh - ph + r dh,
// wo sw - pw + s dw], 0 outside the image, for the group channels c in [c0, c1) and the tile's
// images n and columns j. x_n = x + n image_stride is image n's first group channel.
void im2col(const Geo& G, const Stage& st, const float* x, Idx image_stride, const Tile& tl, Idx c0, Idx c1,
            float* stage, float* col, Idx ld) {
  stage_input(G, st, x, image_stride, tl, c0, c1, stage);
  const TileRows tr(G.l, tl);
  for_each_col_piece(G, st, tr, stage, tl, c0, c1, col, ld,
                     [](float* d, const float* s, Idx n) { copy_floats(d, s, n); });
}

// The adjoint of im2col: x_n[c, hi, wi] += col[...] for every entry im2col would have read from
// inside the image. Channels [c0, c1) only, so threads owning disjoint channel ranges never write
// the same element.
void col2im_add(const Geo& G, const Stage& st, float* col, Idx ld, const Tile& tl, Idx c0, Idx c1, float* stage,
                float* x, Idx image_stride) {
  const TileRows tr(G.l, tl);
  for (Idx i = 0; i < tl.n1 - tl.n0; ++i)
    for (Idx c = c0; c < c1; ++c) {
      float* plane = stage + plane_offset(G, st, tr, i, c, 0);
      std::fill(plane, plane + st.P * tr.Hs * st.U, 0.0f);
    }
  for_each_col_piece(G, st, tr, stage, tl, c0, c1, col, ld,
                     [](float* d, float* s, Idx n) { add_floats(s, d, n); });
  unstage_add(G, st, stage, tl, c0, c1, x, image_stride);
}

// The tile's im2col matrix as a GatherMatrix over the stage (gemm.hpp: col[k][j] =
// stage[row_offset[k] + col_offset[j]]): the GEMM gathers its panels straight from the stage, and
// no col matrix is written or read (4 MiB per tile through the caches, a third of a pass). Thread
// t of T fills its share of both offset arrays.
void gather_offsets(const Geo& G, const Stage& st, const Tile& tl, Idx* row_offset, Idx* col_offset, int t, int T) {
  const Conv2dLowered& l = G.l;
  const TileRows tr(l, tl);
  const Range kr = split(G.Kred, T, t);
  for (Idx k = kr.begin; k < kr.end; ++k) {
    const Idx im2col_row = G.row_order.empty() ? k : G.row_order[static_cast<std::size_t>(k)];
    const Idx c = im2col_row / (Idx{l.R} * l.S), r = im2col_row / l.S % l.R, s = im2col_row % l.S;
    row_offset[k] = plane_offset(G, st, tr, 0, c, s * l.dil_w % l.stride_w) + r * l.dil_h * st.U + s * l.dil_w / l.stride_w;
  }
  // Columns by counters, not divisions (three per column were 7% of a small backward-weight pass).
  const Idx width = tl.width(), image_floats = G.Cg * st.P * tr.Hs * st.U, row_step = Idx{l.stride_h} * st.U;
  const Range jr = split(tl.cols(), T, t);
  if (jr.begin >= jr.end) return;
  Idx i = jr.begin / width, jj = tl.j0 + jr.begin % width;
  Idx ho = jj / l.Wo, wo = jj % l.Wo;
  for (Idx j = jr.begin; j < jr.end; ++j) {
    col_offset[j] = i * image_floats + (ho - tr.ho0) * row_step + wo;
    if (++wo == l.Wo) wo = 0, ++ho;
    if (++jj == tl.j0 + width) jj = tl.j0, ++i, ho = tl.j0 / l.Wo, wo = tl.j0 % l.Wo;
  }
}

// Staging for multi-image tiles: rows [r0, r1) of the (rows x tile.cols()) matrix `m` hold
// channel r of images [n0, n1), each image's HW-long plane side by side. `image_stride` is the
// distance between images in the NCHW buffer, whose plane of channel r is at base + r HW.
void pack(const float* base, Idx image_stride, Idx HW, const Tile& t, Idx r0, Idx r1, float* m) {
  const Idx ld = t.cols();
  for (Idx r = r0; r < r1; ++r)
    for (Idx n = t.n0; n < t.n1; ++n)
      std::memcpy(m + r * ld + (n - t.n0) * HW, base + n * image_stride + r * HW, sizeof(float) * static_cast<std::size_t>(HW));
}
// The inverse of pack (overwriting, plus bias[r] when given, or adding when accumulate).
void unpack(const float* m, const Tile& t, Idx r0, Idx r1, Idx image_stride, Idx HW, const float* bias, bool accumulate,
            float* base) {
  const Idx ld = t.cols();
  for (Idx r = r0; r < r1; ++r)
    for (Idx n = t.n0; n < t.n1; ++n) {
      const float* src = m + r * ld + (n - t.n0) * HW;
      float* dst = base + n * image_stride + r * HW;
      const float b = bias ? bias[r] : 0.0f;
      if (accumulate) {
        for (Idx i = 0; i < HW; ++i) dst[i] += src[i];
      } else {
        for (Idx i = 0; i < HW; ++i) dst[i] = src[i] + b;
      }
    }
}

// A block of a GEMM's M x N output for thread t of T: split the longer side.
struct Block { Idx m0, m1, n0, n1; };
Block gemm_block(Idx M, Idx N, int t, int T) {
  if (N >= M) {
    const Range r = split(N, T, t);
    return {0, M, r.begin, r.end};
  }
  const Range r = split(M, T, t);
  return {r.begin, r.end, 0, N};
}

// a_token != 0: A is the pass's weights, the same for every tile (sgemm_reuse_a packs it once).
void sgemm(bool ta, bool tb, Idx M, Idx N, Idx K, const float* A, Idx lda, const float* B, Idx ldb, float beta,
           float* C, Idx ldc, std::uint64_t a_token = 0) {
  if (a_token != 0) sgemm_reuse_a(a_token, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
  else gemm<float>(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}

// Grow-only, uninitialised scratch memory, one set per thread, kept between passes: a training step
// runs the same shapes every iteration, so in steady state a pass allocates, zeroes and
// page-faults nothing (per-pass std::vectors cost 2-4% of a discriminator pass).
template <class T>
class Scratch {
 public:
  T* get(std::size_t n) {
    if (n > cap_) {
      data_.reset(new T[n]);  // default-initialised: not zeroed
      cap_ = n;
    }
    return data_.get();
  }

 private:
  std::unique_ptr<T[]> data_;
  std::size_t cap_ = 0;
};
struct ThreadScratch {
  Scratch<float> col, input, stage_a, stage_b, weight_grad, weight_t, weight_rows;
  Scratch<Idx> row_offset, col_offset;
};
thread_local ThreadScratch t_scratch;

template <class T>
struct Span {
  T* p = nullptr;
  T* data() const { return p; }
};

// One thread's buffers (in the calling thread's scratch): the input stage, and either the gather
// offsets of its im2col matrix (Geo::implicit) or the matrix itself; two staging matrices for
// multi-image tiles. Every element a step reads, it has written first.
// Whether backward-data scatter-adds straight into the stage (else an explicit col matrix): with
// fewer channels than the threads sharing the buffers, they split the explicit GEMM instead.
bool implicit_scatter(const Geo& G, int sharing) {
  return !G.direct && sgemm_gather_available() && G.implicit == Geo::Implicit::kScatter && G.Cg >= sharing;
}

struct Buffers {
  Span<float> col, input, stage_a, stage_b;
  Span<Idx> row_offset, col_offset;
  Stage st;
  bool implicit;  // Geo::implicit applies: offsets, no col matrix
  // The tile shape (images, j0, j1) whose offsets row_offset / col_offset hold, when one thread
  // filled them all (T = 1): every full tile of a pass has the same, so they are computed once
  // per pass and thread, not per tile (1-3% of a small pass).
  Idx offsets_images = -1, offsets_j0 = -1, offsets_j1 = -1;
  void offsets(const Geo& G, const Tile& tl, int t, int T) {
    if (T == 1 && offsets_images == tl.n1 - tl.n0 && offsets_j0 == tl.j0 && offsets_j1 == tl.j1) return;
    gather_offsets(G, st, tl, row_offset.data(), col_offset.data(), t, T);
    if (T == 1) offsets_images = tl.n1 - tl.n0, offsets_j0 = tl.j0, offsets_j1 = tl.j1;
  }
  // `sharing`: the threads that share these buffers (a scatter-add splits over channels: with fewer
  // channels than threads, the threads split the explicit GEMM instead).
  Buffers(const Geo& G, int sharing) : st(G.l, G.tile_cols, G.HoWo) {
    ThreadScratch& s = t_scratch;
    const auto cols = static_cast<std::size_t>(G.max_cols());
    implicit = (!G.direct && sgemm_gather_available() && G.implicit == Geo::Implicit::kGather) ||
               implicit_scatter(G, sharing);
    if (!G.direct) {
      input.p = s.input.get(static_cast<std::size_t>(G.images_per_tile * G.Cg * st.P * st.rows_max * st.U));
      if (implicit) {
        row_offset.p = s.row_offset.get(static_cast<std::size_t>(G.Kred));
        col_offset.p = s.col_offset.get(cols);
      } else {
        col.p = s.col.get(static_cast<std::size_t>(G.Kred) * cols);
      }
    }
    if (G.images_per_tile > 1 && !implicit) {  // implicit: gathered and scattered in place
      const auto rows = static_cast<std::size_t>(std::max(G.Cg, G.Kg));
      stage_a.p = s.stage_a.get(rows * cols);
      stage_b.p = s.stage_b.get(rows * cols);
    }
  }
};

// The tile's im2col matrix (Kred x cols), ready for the GEMM: gathered from the stage or in buf.col.
// sgemm_ex for the implicit paths, which run only where Buffers saw sgemm_gather_available().
void implicit_gemm(std::uint64_t a_token, bool ta, bool tb, Idx M, Idx N, Idx K, const SgemmIn& A, const SgemmIn& B,
                   float beta, const SgemmOut& C) {
  if (!sgemm_ex(a_token, ta, tb, M, N, K, 1.0f, A, B, beta, C))
    STRIDER_THROW(Error, "conv2d: sgemm_ex stopped running after sgemm_gather_available() said it runs");
}

struct ColMatrix {
  const Buffers& buf;
  Idx ld;  // of buf.col
  // C = A . op(col) + beta C with op(col) = col (tb false) or col^T, from op(col)'s column `first`.
  // A gathered or C scattered only when buf.implicit.
  void gemm(bool tb, Idx M, Idx N, Idx K, const SgemmIn& A, Idx first, float beta, const SgemmOut& C,
            std::uint64_t a_token) const {
    if (buf.implicit) {
      GatherMatrix g{buf.input.data(), buf.row_offset.data(), buf.col_offset.data()};
      (tb ? g.row_offset : g.col_offset) += first;
      implicit_gemm(a_token, false, tb, M, N, K, A, SgemmIn{nullptr, 0, &g}, beta, C);
      return;
    }
    const float* B = tb ? buf.col.data() + first * ld : buf.col.data() + first;
    sgemm(false, tb, M, N, K, A.data, A.ld, B, ld, beta, C.data, C.ld, a_token);
  }
};

// The tile's columns as the GEMM's B operand: with a 1x1 direct kernel the image itself (or its
// packed copy for multi-image tiles); otherwise the staged input, gathered or expanded by im2col.
// Thread t of T prepares its channels (and offsets); the caller syncs before the GEMM.
struct TileColumns {
  const float* direct = nullptr;  // when non-null: B = direct with leading dimension ld
  Idx ld = 0;
  std::optional<ColMatrix> col;
  bool implicit() const { return !direct && col->buf.implicit; }
  void gemm(bool tb, Idx M, Idx N, Idx K, const SgemmIn& A, Idx first, float beta, const SgemmOut& C,
            std::uint64_t a_token) const {
    if (direct) {
      sgemm(false, tb, M, N, K, A.data, A.ld, tb ? direct + first * ld : direct + first, ld, beta, C.data, C.ld,
            a_token);
    } else {
      col->gemm(tb, M, N, K, A, first, beta, C, a_token);
    }
  }
};

TileColumns prepare_columns(const Geo& G, const float* xc, Idx g, const Tile& tl, Buffers& buf, float* direct_stage,
                            int t, int T) {
  const Range cr = split(G.Cg, T, t);
  const Idx image_stride = Idx{G.l.Ci} * G.HiWi;
  if (G.direct && tl.single()) return {G.xg(xc, tl.n0, g) + tl.j0, G.HiWi, std::nullopt};
  if (G.direct) {
    pack(G.xg(xc, 0, g), image_stride, G.HiWi, tl, cr.begin, cr.end, direct_stage);
    return {direct_stage, tl.cols(), std::nullopt};
  }
  if (buf.implicit) {
    stage_input(G, buf.st, G.xg(xc, 0, g), image_stride, tl, cr.begin, cr.end, buf.input.data());
    buf.offsets(G, tl, t, T);
  } else {
    im2col(G, buf.st, G.xg(xc, 0, g), image_stride, tl, cr.begin, cr.end, buf.input.data(), buf.col.data(), tl.cols());
  }
  return {nullptr, 0, ColMatrix{buf, tl.cols()}};
}

// yc tile = bias + W_g . col(xc tile)
template <class Sync>
void forward_step(const Geo& G, const float* xc, const float* w, const float* bias, float* yc, Idx g, const Tile& tl,
                  Buffers& buf, int t, int T, Sync&& sync) {
  const Idx cols = tl.cols();
  const TileColumns B = prepare_columns(G, xc, g, tl, buf, buf.stage_a.data(), t, T);
  const float* bias_g = bias ? bias + g * G.Kg : nullptr;
  const Block blk = gemm_block(G.Kg, cols, t, T);
  sync();  // every block needs the whole B
  const SgemmIn W{G.wg(w, g) + blk.m0 * G.Kred, G.Kred, nullptr};
  if (tl.single()) {
    float* y = G.yg(yc, tl.n0, g) + tl.j0;
    if (bias_g) {
      for (Idx k = blk.m0; k < blk.m1; ++k) std::fill(y + k * G.HoWo + blk.n0, y + k * G.HoWo + blk.n1, bias_g[k]);
    }
    B.gemm(false, blk.m1 - blk.m0, blk.n1 - blk.n0, G.Kred, W, blk.n0, bias_g ? 1.0f : 0.0f,
           SgemmOut{y + blk.m0 * G.HoWo + blk.n0, G.HoWo, nullptr}, G.weights_token);
  } else if (B.implicit()) {  // several whole images: written in place, through offsets
    float* y = G.yg(yc, tl.n0, g);
    const ScatterMatrix dst{y, G.out_row.data() + blk.m0, G.out_col.data() + blk.n0};
    if (bias_g) {
      for (Idx k = blk.m0; k < blk.m1; ++k)
        for (Idx j = blk.n0; j < blk.n1; ++j) y[G.out_row[static_cast<std::size_t>(k)] + G.out_col[static_cast<std::size_t>(j)]] = bias_g[k];
    }
    B.gemm(false, blk.m1 - blk.m0, blk.n1 - blk.n0, G.Kred, W, blk.n0, bias_g ? 1.0f : 0.0f, SgemmOut{nullptr, 0, &dst},
           G.weights_token);
  } else {
    float* stage = buf.stage_b.data();
    B.gemm(false, blk.m1 - blk.m0, blk.n1 - blk.n0, G.Kred, W, blk.n0, 0.0f,
           SgemmOut{stage + blk.m0 * cols + blk.n0, cols, nullptr}, G.weights_token);
    sync();
    const Range kr = split(G.Kg, T, t);
    unpack(stage, tl, kr.begin, kr.end, Idx{G.l.Co} * G.HoWo, G.HoWo, bias_g, false, G.yg(yc, 0, g));
  }
  sync();  // the buffers are reused by the next step
}

// gxc += col2im(W_g^T . gyc tile); gxc already holds bias or zero.
template <class Sync>
void backward_data_step(const Geo& G, const float* gyc, const float* w, float* gxc, Idx g, const Tile& tl,
                        Buffers& buf, int t, int T, Sync&& sync) {
  const Idx cols = tl.cols();
  const float* B;
  Idx ldb;
  const GatherMatrix gy_batch{G.yg(gyc, tl.n0, g), G.out_row.data(), G.out_col.data()};
  if (tl.single()) {
    B = G.yg(gyc, tl.n0, g) + tl.j0;
    ldb = G.HoWo;
  } else if (buf.implicit) {  // several whole images: gathered in place
    B = nullptr;
    ldb = 0;
  } else {
    const Range kr = split(G.Kg, T, t);
    pack(G.yg(gyc, 0, g), Idx{G.l.Co} * G.HoWo, G.HoWo, tl, kr.begin, kr.end, buf.stage_a.data());
    B = buf.stage_a.data();
    ldb = cols;
    sync();
  }
  const Range cr = split(G.Cg, T, t);
  if (G.direct) {  // gx tile (Cg x cols) += W_g^T . B
    const Block blk = gemm_block(G.Cg, cols, t, T);
    if (tl.single()) {
      sgemm(true, false, blk.m1 - blk.m0, blk.n1 - blk.n0, G.Kg, G.wg(w, g) + blk.m0, G.Kred, B + blk.n0, ldb, 1.0f,
            G.xg(gxc, tl.n0, g) + tl.j0 + blk.m0 * G.HiWi + blk.n0, G.HiWi, G.weights_token);
    } else {
      sgemm(true, false, blk.m1 - blk.m0, blk.n1 - blk.n0, G.Kg, G.wg(w, g) + blk.m0, G.Kred, B + blk.n0, ldb, 0.0f,
            buf.stage_b.data() + blk.m0 * cols + blk.n0, cols, G.weights_token);
      sync();
      unpack(buf.stage_b.data(), tl, cr.begin, cr.end, Idx{G.l.Ci} * G.HiWi, G.HiWi, nullptr, true, G.xg(gxc, 0, g));
    }
    sync();
    return;
  }
  if (buf.implicit) {  // dcol's rows of this thread's channels, added straight into the zeroed stage
    const TileRows tr(G.l, tl);
    for (Idx i = 0; i < tl.n1 - tl.n0; ++i) {
      float* plane = buf.input.data() + plane_offset(G, buf.st, tr, i, cr.begin, 0);
      std::fill(plane, plane + (cr.end - cr.begin) * buf.st.P * tr.Hs * buf.st.U, 0.0f);
    }
    buf.offsets(G, tl, t, T);
    sync();  // every thread reads all column offsets
    const Idx taps = Idx{G.l.R} * G.l.S, k0 = cr.begin * taps, k1 = cr.end * taps;
    const ScatterMatrix dst{buf.input.data(), buf.row_offset.data() + k0, buf.col_offset.data()};
    const SgemmIn gy = B ? SgemmIn{B, ldb, nullptr} : SgemmIn{nullptr, 0, &gy_batch};
    if (k1 > k0)
      implicit_gemm(G.weights_token, true, false, k1 - k0, cols, G.Kg,
                    SgemmIn{G.wg(G.w_rows ? G.w_rows : w, g) + k0, G.Kred, nullptr}, gy,
                    1.0f, SgemmOut{nullptr, 0, &dst});
    unstage_add(G, buf.st, buf.input.data(), tl, cr.begin, cr.end, G.xg(gxc, 0, g), Idx{G.l.Ci} * G.HiWi);
    sync();
    return;
  }
  const Block blk = gemm_block(G.Kred, cols, t, T);
  sgemm(true, false, blk.m1 - blk.m0, blk.n1 - blk.n0, G.Kg, G.wg(w, g) + blk.m0, G.Kred, B + blk.n0, ldb, 0.0f,
        buf.col.data() + blk.m0 * cols + blk.n0, cols, G.weights_token);
  sync();
  col2im_add(G, buf.st, buf.col.data(), cols, tl, cr.begin, cr.end, buf.input.data(), G.xg(gxc, 0, g),
             Idx{G.l.Ci} * G.HiWi);
  sync();
}

// gw_g = beta gw_g + gyc tile . col(xc tile)^T
// beta 0: overwrite gw_g (a thread's first item of group g in kBatch mode).
template <class Sync>
void backward_weight_step(const Geo& G, const float* xc, const float* gyc, float* gw, Idx g, const Tile& tl,
                          float beta, Buffers& buf, int t, int T, Sync&& sync) {
  const Idx cols = tl.cols();
  const TileColumns B = prepare_columns(G, xc, g, tl, buf, buf.stage_b.data(), t, T);
  if (G.transposed_weight_grad && B.implicit()) {
    // gW^T (Kred x Kg) = col . gy^T into a dense block, then transposed into gW. (Scattered into gW
    // straight, every C column was a run of one float: the scatter was a fifth of the pass.)
    const Block blk = gemm_block(G.Kred, G.Kg, t, T);
    const Idx m = blk.m1 - blk.m0, n = blk.n1 - blk.n0;
    const GatherMatrix col{buf.input.data(), buf.row_offset.data() + blk.m0, buf.col_offset.data()};
    GatherMatrix gy_batch{};
    SgemmIn gy;
    if (tl.single()) {
      gy = {G.yg(gyc, tl.n0, g) + tl.j0 + blk.n0 * G.HoWo, G.HoWo, nullptr};
    } else {
      gy_batch = {G.yg(gyc, tl.n0, g), G.out_row.data() + blk.n0, G.out_col.data()};
      gy = {nullptr, 0, &gy_batch};
    }
    sync();  // the stage and offsets are complete
    // Multi-image tiles: gW = gy . col^T straight into gW, by dot products along the positions
    // (sgemm_dot_nt: both operands are read along the positions, which the packed SGEMM has to
    // transpose; B D.1: packing was 39% of the pass). Else, or where it does not run, the packed
    // SGEMM into the dense block.
    float* gw_g = G.wg(gw, g);
    if (!tl.single() && sgemm_dot_nt(n, m, cols, gy_batch, col, beta, gw_g + blk.n0 * G.Kred + blk.m0, G.Kred)) {
      sync();
      return;
    }
    float* dense = t_scratch.weight_t.get(static_cast<std::size_t>(m * n));
    implicit_gemm(0, false, true, m, n, cols, SgemmIn{nullptr, 0, &col}, gy, 0.0f, SgemmOut{dense, n, nullptr});
    for (Idx j = 0; j < n; ++j) {  // gw_g[co][tap] = beta gw_g[co][tap] + dense[tap][co]; beta 0 overwrites
      float* row = gw_g + (blk.n0 + j) * G.Kred + blk.m0;
      if (beta == 0.0f) {
        for (Idx i = 0; i < m; ++i) row[i] = dense[i * n + j];
      } else {
        for (Idx i = 0; i < m; ++i) row[i] += dense[i * n + j];
      }
    }
    sync();
    return;
  }
  // Threads own disjoint gW blocks: split the Kred columns (or the Kg rows when they are more).
  const Block blk = gemm_block(G.Kg, G.Kred, t, T);
  SgemmIn A;
  GatherMatrix gy_batch{};
  if (tl.single()) {
    A = {G.yg(gyc, tl.n0, g) + tl.j0 + blk.m0 * G.HoWo, G.HoWo, nullptr};
  } else if (B.implicit()) {  // several whole images: gathered in place
    gy_batch = {G.yg(gyc, tl.n0, g), G.out_row.data() + blk.m0, G.out_col.data()};
    A = {nullptr, 0, &gy_batch};
  } else {
    const Range kr = split(G.Kg, T, t);
    pack(G.yg(gyc, 0, g), Idx{G.l.Co} * G.HoWo, G.HoWo, tl, kr.begin, kr.end, buf.stage_a.data());
    A = {buf.stage_a.data() + blk.m0 * cols, cols, nullptr};
  }
  sync();
  B.gemm(true, blk.m1 - blk.m0, blk.n1 - blk.n0, cols, A, blk.n0, beta,
         SgemmOut{G.wg(gw, g) + blk.m0 * G.Kred + blk.n0, G.Kred, nullptr}, 0);
  sync();
}

enum class Lowered { kForward, kBackwardData, kBackwardWeight };

// ---------------------------------------------------------------------------------------------
// Fully connected: the kernel window is the whole input and there is one output position (DCGAN's
// first generator and last discriminator layers). Then an image's group channels, flattened, are
// exactly its im2col column (k = (ci R + r) S + s = ci Hi Wi + hi Wi + wi), and each pass is one
// GEMM per group over the whole batch, with no im2col, col2im or packing:
//   forward          Y_g  (N x Kg)   = X_g (N x Kred) . W_g^T        rows of Y_g: stride Co
//   backward-data    GX_g (N x Kred) = GY_g (N x Kg)  . W_g          rows of X_g: stride Ci Hi Wi
//   backward-weight  GW_g (Kg x Kred) = GY_g^T . X_g
// Threads split each group's output into blocks (no two threads write one element).
// ---------------------------------------------------------------------------------------------

void fully_connected(Lowered op, const Geo& G, const float* xc_or_gxc, const float* w, const float* gyc_or_yc,
                     float* out, int T, float beta = 1.0f) {
  const Conv2dLowered& l = G.l;
  const Idx ldx = Idx{l.Ci} * G.HiWi, ldy = l.Co;
#pragma omp parallel num_threads(T)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    for (Idx g = 0; g < l.groups; ++g) {
      if (op == Lowered::kForward) {  // out = yc (bias prefilled), xc_or_gxc = xc
        const Block b = gemm_block(l.N, G.Kg, t, nt);
        sgemm(false, true, b.m1 - b.m0, b.n1 - b.n0, G.Kred, xc_or_gxc + b.m0 * ldx + g * G.Kred, ldx,
              G.wg(w, g) + b.n0 * G.Kred, G.Kred, 1.0f, out + b.m0 * ldy + g * G.Kg + b.n0, ldy);
      } else if (op == Lowered::kBackwardData) {  // out = gxc (bias prefilled, or beta 0), gyc_or_yc = gyc
        const Block b = gemm_block(l.N, G.Kred, t, nt);
        sgemm(false, false, b.m1 - b.m0, b.n1 - b.n0, G.Kg, gyc_or_yc + b.m0 * ldy + g * G.Kg, ldy,
              G.wg(w, g) + b.n0, G.Kred, beta, out + b.m0 * ldx + g * G.Kred + b.n0, ldx);
      } else {  // out = gw, xc_or_gxc = xc, gyc_or_yc = gyc
        const Block b = gemm_block(G.Kg, G.Kred, t, nt);
        sgemm(true, false, b.m1 - b.m0, b.n1 - b.n0, l.N, gyc_or_yc + g * G.Kg + b.m0, ldy,
              xc_or_gxc + g * G.Kred + b.n0, ldx, 0.0f, G.wg(out, g) + b.m0 * G.Kred + b.n0, G.Kred);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Drivers: run a step over every (g, tile) item in the chosen parallel mode.
// ---------------------------------------------------------------------------------------------

// An explicit mode always gets every thread (tests run small problems through both modes).
int thread_count(const Conv2dProblem& p, Conv2dParallel mode) {
  if (omp_in_parallel()) return 1;
  // Few multiply-adds over much memory (a 1-channel layer's backward-data writes all of N C H W from
  // N C H W MACs) still pays for a second thread: it halves the time spent streaming memory.
  const Idx touched = p.input_size() + p.output_size() + p.weight_size();
  if (mode == Conv2dParallel::kAuto && p.flops() < kSerialFlops && touched < kSerialFloats) return 1;
  return std::max(1, omp_get_max_threads());
}

bool use_batch_mode(Conv2dParallel mode, const Geo& G, Lowered op, int T) {
  if (mode != Conv2dParallel::kAuto) return mode == Conv2dParallel::kBatch;
  const Idx items = G.items();
  if (items < T || (items % T != 0 && items < 4 * T)) return false;
  return op != Lowered::kBackwardWeight || T * G.Kg * G.Kred * G.l.groups <= kMaxWeightCopiesFloats;
}

// kBatch. A thread's item is one (g, tile), or with whole_images one (g, image) and all its tiles:
// backward-data needs that, because col2im of two tiles of one image scatters into overlapping
// input rows. Items go to threads as they free up, except with `fixed`: thread t then takes the
// t-th contiguous share, so what each thread sums, and in which order, does not change from run to
// run (backward-weight's per-thread gW copies; dynamic scheduling made its result differ in the
// last bits between two runs). per_thread_end(tid) runs on every thread after all items are done.
template <class Step, class End>
void run_batch(const Geo& G, int T, bool whole_images, bool fixed, Step&& step, End&& per_thread_end) {
  const Idx tiles = G.tiles();
  const Idx per_item = whole_images && G.tile_cols < G.HoWo ? tiles / G.l.N : 1;  // tiles per item
  const Idx items_per_group = tiles / per_item, items = items_per_group * G.l.groups;
#pragma omp parallel num_threads(T)
  {
    Buffers buf(G, 1);
    const int tid = omp_get_thread_num();
    const auto run_item = [&](Idx item) {
      const Idx g = item / items_per_group, first = (item % items_per_group) * per_item;
      for (Idx t = first; t < first + per_item; ++t) step(tid, g, G.tile(t), buf, 0, 1, [] {});
    };
    if (fixed) {
      const Range r = split(items, omp_get_num_threads(), tid);
      for (Idx item = r.begin; item < r.end; ++item) run_item(item);
#pragma omp barrier
    } else {
#pragma omp for schedule(dynamic, 1)
      for (Idx item = 0; item < items; ++item) run_item(item);
    }
    per_thread_end(tid);
  }
}

// kWithin. Every thread runs every step, with the shared buffers.
template <class Step>
void run_within(const Geo& G, int T, Step&& step) {
  const Idx items = G.items(), tiles = G.tiles();
  Buffers buf(G, T);
#pragma omp parallel num_threads(T)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    auto barrier = [] {
#pragma omp barrier
    };
    for (Idx item = 0; item < items; ++item) step(t, item / tiles, G.tile(item % tiles), buf, t, nt, barrier);
  }
}

void lowered_forward(const Conv2dLowered& l, const float* xc, const float* w, const float* bias, float* yc, int T,
                     Conv2dParallel mode) {
  Geo G(l, T);
  G.weights_token = sgemm_reuse_token();
  G.implicit = Geo::Implicit::kGather;
  if (G.fully_connected) {
    for (Idx i = 0; i < Idx{l.N} * l.Co; ++i) yc[i] = bias ? bias[i % l.Co] : 0.0f;
    fully_connected(Lowered::kForward, G, xc, w, nullptr, yc, T);
    return;
  }
  // Small output maps: the direct path skips the padding's MACs and packs nothing but the weights
  // (conv2d_direct.hpp). kAuto only: the explicit modes name this file's own splits (tests).
  if (mode == Conv2dParallel::kAuto && conv2d_direct_supported(l)) {
    conv2d_direct_forward(l, xc, w, bias, yc, T);
    return;
  }
  auto step = [&](int, Idx g, const Tile& tl, Buffers& buf, int t, int nt, auto&& sync) {
    forward_step(G, xc, w, bias, yc, g, tl, buf, t, nt, sync);
  };
  if (use_batch_mode(mode, G, Lowered::kForward, T)) {
    run_batch(G, T, false, false, step, [](int) {});
  } else {
    run_within(G, T, step);
  }
}

// Backward-data's scatter-add writes dcol's 12-row register tiles straight into the stage when the
// 12 rows are evenly spaced there (sgemm_ex: direct_tile). In im2col order (c R S + tap) they are
// not: a tile's rows are taps of one channel, in two stride phases, and rows of one phase overlap
// (tap s and s + 2 of a stride-2 kernel are one float apart), so each tile went through a buffer,
// and each row's loads waited on the previous row's stores. So the rows go tap by tap over blocks
// of 12 channels: row (b R S + tap) 12 + i holds channel 12 b + i, tap `tap`; the last Cg mod 12
// channels follow, tap by tap. A full block's tile is one tap of 12 channels: planes evenly spaced,
// no overlap; with Wo a multiple of 8 its columns are runs of 8 or 16 floats, and sgemm_ex stores
// it from the registers (B D.2 backward-data: scatter_update was 12% of the pass; the pass is ~5%
// faster, the generator's 8x8 -> 16x16 forward ~4%). (Runs of 4, Wo = 4: no gain; left in im2col
// order.) For kBatch, whose steps own all Cg channels (kWithin splits them over the threads, and
// a step's rows must be exactly its channels'). Returns the order (row k' holds im2col row
// order[k']).
std::vector<Idx> scatter_row_order(const Geo& G) {
  const Idx taps = Idx{G.l.R} * G.l.S, blocked = G.Cg / 12 * 12, rest = G.Cg - blocked;
  std::vector<Idx> order;
  order.reserve(static_cast<std::size_t>(G.Kred));
  for (Idx b = 0; b < blocked; b += 12)
    for (Idx tap = 0; tap < taps; ++tap)
      for (Idx i = 0; i < 12; ++i) order.push_back((b + i) * taps + tap);
  for (Idx tap = 0; tap < taps; ++tap)
    for (Idx i = 0; i < rest; ++i) order.push_back((blocked + i) * taps + tap);
  return order;
}

void lowered_backward_data(const Conv2dLowered& l, const float* gyc, const float* w, const float* bias, float* gxc,
                           int T, Conv2dParallel mode) {
  Geo G(l, T);
  G.weights_token = sgemm_reuse_token();
  G.implicit = Geo::Implicit::kScatter;
  // Small input maps: the direct path by stride phases (conv2d_direct.hpp), kAuto only.
  if (mode == Conv2dParallel::kAuto && !G.fully_connected && conv2d_direct_backward_data_supported(l)) {
    conv2d_direct_backward_data(l, gyc, w, bias, gxc, T);
    return;
  }
  const bool batch = use_batch_mode(mode, G, Lowered::kBackwardData, T);
  if (batch && !G.fully_connected && implicit_scatter(G, 1) && G.Cg >= 12 && l.Wo % 8 == 0) {
    // Rows in scatter_row_order, and the weights' columns with them (a copy per pass, ~1% of it).
    G.row_order = scatter_row_order(G);
    const Idx rows = Idx{l.groups} * G.Kg;
    float* w_rows = t_scratch.weight_rows.get(static_cast<std::size_t>(rows * G.Kred));
#pragma omp parallel for num_threads(T) schedule(static)
    for (Idx r = 0; r < rows; ++r)
      for (Idx k = 0; k < G.Kred; ++k)
        w_rows[r * G.Kred + k] = w[r * G.Kred + G.row_order[static_cast<std::size_t>(k)]];
    G.w_rows = w_rows;
  }
  if (G.fully_connected && !bias) {  // one window covers all of gxc: every element written once
    fully_connected(Lowered::kBackwardData, G, nullptr, w, gyc, gxc, T, 0.0f);
    return;
  }
  // Every element of gxc is a sum of col2im contributions (or of none): start from bias or zero.
  const Idx planes = Idx{l.N} * l.Ci;
#pragma omp parallel for num_threads(T) schedule(static)
  for (Idx i = 0; i < planes; ++i) {
    std::fill(gxc + i * G.HiWi, gxc + (i + 1) * G.HiWi, bias ? bias[i % l.Ci] : 0.0f);
  }
  if (G.fully_connected) {
    fully_connected(Lowered::kBackwardData, G, nullptr, w, gyc, gxc, T);
    return;
  }
  auto step = [&](int, Idx g, const Tile& tl, Buffers& buf, int t, int nt, auto&& sync) {
    backward_data_step(G, gyc, w, gxc, g, tl, buf, t, nt, sync);
  };
  if (batch) {
    run_batch(G, T, true, false, step, [](int) {});
  } else {
    run_within(G, T, step);
  }
}

void lowered_backward_weight(const Conv2dLowered& l, const float* xc, const float* gyc, float* gw, int T,
                             Conv2dParallel mode) {
  Geo G(l, T);
  G.implicit = Geo::Implicit::kGather;
  const auto waste = [](Idx M, Idx N) {  // FMA lanes spent per useful one, 12 x 32 tiles
    return static_cast<double>((M + 11) / 12 * 12) * static_cast<double>((N + 31) / 32 * 32) /
           static_cast<double>(std::max<Idx>(1, M * N));
  };
  if (waste(G.Kred, G.Kg) < 0.9 * waste(G.Kg, G.Kred)) {
    G.transposed_weight_grad = true;
  }
  const Idx group_size = G.Kg * G.Kred, wsize = group_size * l.groups;
  if (G.fully_connected) {
    std::fill(gw, gw + wsize, 0.0f);
    if (l.N > 0) fully_connected(Lowered::kBackwardWeight, G, xc, nullptr, gyc, gw, T);
    return;
  }
  // Small output maps: the direct path (conv2d_direct.hpp), kAuto only.
  if (mode == Conv2dParallel::kAuto && conv2d_direct_backward_weight_supported(l)) {
    conv2d_direct_backward_weight(l, xc, gyc, gw, T);
    return;
  }
  if (!use_batch_mode(mode, G, Lowered::kBackwardWeight, T) || T == 1) {
    std::fill(gw, gw + wsize, 0.0f);
    auto step = [&](int, Idx g, const Tile& tl, Buffers& buf, int t, int nt, auto&& sync) {
      backward_weight_step(G, xc, gyc, gw, g, tl, 1.0f, buf, t, nt, sync);
    };
    run_within(G, T, step);
    return;
  }
  // kBatch: thread 0 accumulates into gw, thread t > 0 into a copy in its scratch. A thread's first
  // item of a group overwrites that group's slice (beta 0), so nothing is zeroed; at the end the
  // written slices of the copies are added into gw (and slices nobody wrote are zero).
  std::vector<float*> dst(static_cast<std::size_t>(T), nullptr);
  std::vector<char> written(static_cast<std::size_t>(T * l.groups), 0);
  auto step = [&](int tid, Idx g, const Tile& tl, Buffers& buf, int t, int nt, auto&& sync) {
    float*& d = dst[static_cast<std::size_t>(tid)];
    if (!d) d = tid == 0 ? gw : t_scratch.weight_grad.get(static_cast<std::size_t>(wsize));
    char& w = written[static_cast<std::size_t>(tid * l.groups + g)];
    backward_weight_step(G, xc, gyc, d, g, tl, w ? 1.0f : 0.0f, buf, t, nt, sync);
    w = 1;
  };
  run_batch(G, T, false, true, step, [&](int tid) {
    const Range r = split(wsize, T, tid);
    for (Idx i0 = r.begin; i0 < r.end;) {  // piece by piece within one group
      const Idx g = i0 / group_size, i1 = std::min(r.end, (g + 1) * group_size);
      if (!written[static_cast<std::size_t>(g)]) std::fill(gw + i0, gw + i1, 0.0f);
      for (int c = 1; c < T; ++c) {
        if (!written[static_cast<std::size_t>(c * l.groups + g)]) continue;
        const float* src = dst[static_cast<std::size_t>(c)];
        for (Idx i = i0; i < i1; ++i) gw[i] += src[i];
      }
      i0 = i1;
    }
  });
}

// gb[k] = sum over n, i of g[n, k, i] for an (N, K, HW) buffer; double accumulators.
void channel_sum(const float* g, Idx N, Idx K, Idx HW, float* gb, int T) {
#pragma omp parallel for num_threads(T) schedule(static)
  for (Idx k = 0; k < K; ++k) {
    double acc = 0.0;
    for (Idx n = 0; n < N; ++n) {
      const float* row = g + (n * K + k) * HW;
      float part = 0.0f;
      for (Idx i = 0; i < HW; ++i) part += row[i];
      acc += part;
    }
    gb[k] = static_cast<float>(acc);
  }
}

constexpr bool kConv = false, kTransposed = true;
constexpr const char* kBackend = "cpu";

}  // namespace

void conv2d_forward(const Conv2dProblem& p, const float* x, const float* weight, const float* bias, float* y,
                    Conv2dParallel parallel) {
  const Conv2dLowered l = conv2d_begin_pass(p, kConv, Conv2dPass::kForward, kBackend, {x, weight, bias, y});
  BlasSingleThread blas;
  lowered_forward(l, x, weight, p.has_bias ? bias : nullptr, y, thread_count(p, parallel), parallel);
}

void conv2d_backward_data(const Conv2dProblem& p, const float* grad_y, const float* weight, float* grad_x,
                          Conv2dParallel parallel) {
  const Conv2dLowered l = conv2d_begin_pass(p, kConv, Conv2dPass::kBackwardData, kBackend, {grad_y, weight, grad_x});
  BlasSingleThread blas;
  lowered_backward_data(l, grad_y, weight, nullptr, grad_x, thread_count(p, parallel), parallel);
}

void conv2d_backward_weight(const Conv2dProblem& p, const float* x, const float* grad_y, float* grad_weight,
                            float* grad_bias, Conv2dParallel parallel) {
  const Conv2dLowered l =
      conv2d_begin_pass(p, kConv, Conv2dPass::kBackwardWeight, kBackend, {x, grad_y, grad_weight, grad_bias});
  BlasSingleThread blas;
  const int T = thread_count(p, parallel);
  lowered_backward_weight(l, x, grad_y, grad_weight, T, parallel);
  if (p.has_bias) channel_sum(grad_y, p.N, p.K, p.P() * p.Q(), grad_bias, T);
}

void conv_transpose2d_forward(const Conv2dProblem& p, const float* x, const float* weight, const float* bias,
                              float* y, Conv2dParallel parallel) {
  const Conv2dLowered l = conv2d_begin_pass(p, kTransposed, Conv2dPass::kForward, kBackend, {x, weight, bias, y});
  BlasSingleThread blas;
  lowered_backward_data(l, x, weight, p.has_bias ? bias : nullptr, y, thread_count(p, parallel), parallel);
}

void conv_transpose2d_backward_data(const Conv2dProblem& p, const float* grad_y, const float* weight, float* grad_x,
                                    Conv2dParallel parallel) {
  const Conv2dLowered l =
      conv2d_begin_pass(p, kTransposed, Conv2dPass::kBackwardData, kBackend, {grad_y, weight, grad_x});
  BlasSingleThread blas;
  lowered_forward(l, grad_y, weight, nullptr, grad_x, thread_count(p, parallel), parallel);
}

void conv_transpose2d_backward_weight(const Conv2dProblem& p, const float* x, const float* grad_y,
                                      float* grad_weight, float* grad_bias, Conv2dParallel parallel) {
  const Conv2dLowered l =
      conv2d_begin_pass(p, kTransposed, Conv2dPass::kBackwardWeight, kBackend, {x, grad_y, grad_weight, grad_bias});
  BlasSingleThread blas;
  const int T = thread_count(p, parallel);
  lowered_backward_weight(l, grad_y, x, grad_weight, T, parallel);
  if (p.has_bias) channel_sum(grad_y, p.N, p.K, p.P() * p.Q(), grad_bias, T);
}

}  // namespace strider::kernels::cpu
