// Hand-written x86 SGEMM (kernels/cpu/gemm.hpp: sgemm_isa, gemm_isa_available, sgemm_best_isa).
//
// BLIS-style loop nest: for each NC-column block of op(B) and KC-deep slice of K, op(B) is packed
// into NR-column micro-panels (k-major, NR floats per k); for each MC-row block of op(A), op(A) is
// packed into MR-row micro-panels (MR floats per k). A register-blocked micro-kernel then computes
// each MR x NR tile of C over the KC slice: per k it loads one NR-wide row of B, broadcasts MR
// values of A and issues 2 * MR FMAs into 2 * MR vector accumulators. Packing makes both streams
// unit-stride and zero-pads the edges, so one kernel serves every shape, transpose and stride.
//
// Only the micro-kernels use AVX-512 / AVX2+FMA (function-level target attributes); the rest of
// the file, and of strider, is compiled for the baseline ISA, and the ISA is picked at run time.
#include <strider/kernels/cpu/gemm.hpp>

#include <strider/core/error.hpp>

#include <algorithm>
#include <cstddef>
#include <new>
#include <string>
#include <vector>

#include <omp.h>

#if defined(__x86_64__) || defined(__i386__)
#define STRIDER_GEMM_X86 1
#include <immintrin.h>
#else
#define STRIDER_GEMM_X86 0
#endif

namespace strider::kernels::cpu {
namespace {

using Idx = std::int64_t;

#if STRIDER_GEMM_X86

// Blocking (per thread; the machine this was tuned on has 48 KiB L1d and 2 MiB L2 per core):
//  - KC = 256: the B micro-panel the micro-kernel re-reads for every A micro-panel of the MC
//    block is KC x NR floats (32 KiB for NR = 32, 16 KiB for NR = 16) and stays in L1, next to
//    the streaming A micro-panel (12 KiB / 6 KiB).
//  - MC: the packed A block (MC x KC) stays in L2 (144 KiB / 120 KiB), a small share of it, so
//    the B block and C tiles fit there too.
//  - NC = 2048: the packed B block (KC x NC, 2 MiB) lives in L2/L3; it is packed once per
//    (NC, KC) step and amortised over all M rows.
struct Blocking {
  Idx kc, mc, nc;
};
constexpr Blocking kAvx512Blocking{256, 144, 2048};  // MR 12 x NR 32
constexpr Blocking kAvx2Blocking{256, 120, 2048};    // MR 6 x NR 16

// A 64-byte aligned float buffer that only grows: one per thread and operand, so steady-state
// calls allocate nothing.
class PackBuffer {
 public:
  PackBuffer() = default;
  PackBuffer(const PackBuffer&) = delete;
  PackBuffer& operator=(const PackBuffer&) = delete;
  ~PackBuffer() { release(); }
  float* get(std::size_t n) {
    if (n > cap_) {
      release();
      data_ = static_cast<float*>(::operator new(n * sizeof(float), std::align_val_t(64)));
      cap_ = n;
    }
    return data_;
  }

 private:
  void release() {
    if (data_) ::operator delete(data_, std::align_val_t(64));
    data_ = nullptr;
    cap_ = 0;
  }
  float* data_ = nullptr;
  std::size_t cap_ = 0;
};
thread_local PackBuffer t_pack_a, t_pack_b;

// One thread's whole packed op(A), kept for the next call with the same reuse token
// (sgemm_reuse_a): a convolution pass multiplies its weights by every column tile, and re-packing
// them per tile cost a fifth of the GEMM (perf, 1024 x 256 x 2048). Layout: the packed blocks in
// loop order, block (k0, i0) at k0 * m_pad + i0 * kc.
struct PackedA {
  std::uint64_t token = 0;  // 0: nothing valid
  const float* a = nullptr;
  Idx lda = 0, M = 0, K = 0, kc = 0;
  bool ta = false;
  int mr = 0;
  PackBuffer buf;
  bool matches(std::uint64_t t, const float* a_, Idx lda_, Idx M_, Idx K_, Idx kc_, bool ta_, int mr_) const {
    return token == t && a == a_ && lda == lda_ && M == M_ && K == K_ && kc == kc_ && ta == ta_ && mr == mr_;
  }
};
thread_local PackedA t_packed_a;
constexpr Idx kMaxReusedAFloats = Idx{4} << 20;  // 16 MiB per thread

// Rows [i0, i0 + mc) x depth [k0, k0 + kc) of op(A) into MR-row micro-panels: panel p holds rows
// p*MR.. as Ap[p*MR*kc + k*MR + r]; rows past mc are zero.
template <int MR>
void pack_a(bool ta, const float* A, Idx lda, Idx i0, Idx mc, Idx k0, Idx kc, float* Ap) {
  for (Idx p0 = 0; p0 < mc; p0 += MR, Ap += MR * kc) {
    const Idx rows = std::min<Idx>(MR, mc - p0);
    if (ta) {  // op(A)(i, k) = A[k][i]: rows of a panel are contiguous in memory
      for (Idx k = 0; k < kc; ++k) {
        const float* src = A + (k0 + k) * lda + i0 + p0;
        float* dst = Ap + k * MR;
        for (Idx r = 0; r < rows; ++r) dst[r] = src[r];
        for (Idx r = rows; r < MR; ++r) dst[r] = 0.0f;
      }
    } else {  // read each row of A along k (unit stride), scatter with stride MR
      for (Idx r = 0; r < rows; ++r) {
        const float* src = A + (i0 + p0 + r) * lda + k0;
        for (Idx k = 0; k < kc; ++k) Ap[k * MR + r] = src[k];
      }
      for (Idx r = rows; r < MR; ++r)
        for (Idx k = 0; k < kc; ++k) Ap[k * MR + r] = 0.0f;
    }
  }
}

// Depth [k0, k0 + kc) x columns [j0, j0 + nc) of op(B) into NR-column micro-panels:
// Bp[p*NR*kc + k*NR + c]; columns past nc are zero.
template <int NR>
void pack_b(bool tb, const float* B, Idx ldb, Idx k0, Idx kc, Idx j0, Idx nc, float* Bp) {
  for (Idx p0 = 0; p0 < nc; p0 += NR, Bp += NR * kc) {
    const Idx cols = std::min<Idx>(NR, nc - p0);
    if (!tb) {
      for (Idx k = 0; k < kc; ++k) {
        const float* src = B + (k0 + k) * ldb + j0 + p0;
        float* dst = Bp + k * NR;
        for (Idx c = 0; c < cols; ++c) dst[c] = src[c];
        for (Idx c = cols; c < NR; ++c) dst[c] = 0.0f;
      }
    } else {  // op(B)(k, j) = B[j][k]: read each row of B along k
      for (Idx c = 0; c < cols; ++c) {
        const float* src = B + (j0 + p0 + c) * ldb + k0;
        for (Idx k = 0; k < kc; ++k) Bp[k * NR + c] = src[k];
      }
      for (Idx c = cols; c < NR; ++c)
        for (Idx k = 0; k < kc; ++k) Bp[k * NR + c] = 0.0f;
    }
  }
}

// AVX-512 versions of pack_a<12> and pack_b<32> (the 12 x 32 kernel's), same layouts. The plain
// loops above run at the baseline ISA, and the transposing cases (op(A) = A, op(B) = B^T: a
// convolution's backward-weight GEMM packs both ways) scatter one float at a time: a quarter of
// such a pass. Here every case moves whole vectors; the transposing ones go through 16 x 16
// in-register transposes.

// Rows r[0..15] (16 floats each) -> r[i][j] = old r[j][i]. (GCC 12's unpack and insert intrinsics
// start from _mm512_undefined_*, which -Wuninitialized reports once inlined: a known false
// positive, silenced for the AVX-512 helpers from here to the pop below.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
__attribute__((target("avx512f"))) inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {  // within 128-bit lanes: pairs of rows interleaved
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {  // lane L of u[4i + j]: column 4L + j of rows 4i .. 4i + 3
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
    u[4 * i + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  for (int j = 0; j < 4; ++j) {  // gather lane L of u[j], u[4 + j], u[8 + j], u[12 + j]
    const __m512 v0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88), w0 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
    const __m512 v1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xdd), w1 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xdd);
    r[j] = _mm512_shuffle_f32x4(v0, w0, 0x88);
    r[8 + j] = _mm512_shuffle_f32x4(v0, w0, 0xdd);
    r[4 + j] = _mm512_shuffle_f32x4(v1, w1, 0x88);
    r[12 + j] = _mm512_shuffle_f32x4(v1, w1, 0xdd);
  }
}

__attribute__((target("avx512f"))) inline __mmask16 first_n(Idx n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

// Gathers `rows` (<= 16) rows of 16 along-k floats (src + row * ld + k, the first `depth` <= 16
// valid; the rest 0), transposes, and stores depth kk's row values at dst + kk * dst_stride
// (lanes in `lanes`).
__attribute__((target("avx512f"))) inline void transposed_block(const float* src, Idx ld, Idx rows, Idx depth,
                                                                float* dst, Idx dst_stride, __mmask16 lanes) {
  __m512 r[16];
  const __mmask16 m = first_n(depth);
  for (Idx i = 0; i < 16; ++i) r[i] = i < rows ? _mm512_maskz_loadu_ps(m, src + i * ld) : _mm512_setzero_ps();
  transpose16(r);
  for (Idx kk = 0; kk < depth; ++kk) _mm512_mask_storeu_ps(dst + kk * dst_stride, lanes, r[kk]);
}

__attribute__((target("avx512f"))) void pack_a_avx512(bool ta, const float* A, Idx lda, Idx i0, Idx mc, Idx k0,
                                                      Idx kc, float* Ap) {
  constexpr int MR = 12;
  const __mmask16 m12 = first_n(MR);
  for (Idx p0 = 0; p0 < mc; p0 += MR, Ap += MR * kc) {
    const Idx rows = std::min<Idx>(MR, mc - p0);
    if (ta) {  // a panel row of MR floats is contiguous: one masked load per k
      const __mmask16 m = first_n(rows);
      const float* src = A + k0 * lda + i0 + p0;
      for (Idx k = 0; k < kc; ++k) _mm512_mask_storeu_ps(Ap + k * MR, m12, _mm512_maskz_loadu_ps(m, src + k * lda));
    } else {
      const float* src = A + (i0 + p0) * lda + k0;
      for (Idx k = 0; k < kc; k += 16)
        transposed_block(src + k, lda, rows, std::min<Idx>(16, kc - k), Ap + k * MR, MR, m12);
    }
  }
}

__attribute__((target("avx512f"))) void pack_b_avx512(bool tb, const float* B, Idx ldb, Idx k0, Idx kc, Idx j0,
                                                      Idx nc, float* Bp) {
  constexpr int NR = 32;
  for (Idx p0 = 0; p0 < nc; p0 += NR, Bp += NR * kc) {
    const Idx cols = std::min<Idx>(NR, nc - p0);
    if (!tb) {
      const __mmask16 m0 = first_n(cols), m1 = first_n(std::max<Idx>(0, cols - 16));
      const float* src = B + k0 * ldb + j0 + p0;
      for (Idx k = 0; k < kc; ++k) {
        _mm512_storeu_ps(Bp + k * NR, _mm512_maskz_loadu_ps(m0, src + k * ldb));
        _mm512_storeu_ps(Bp + k * NR + 16, _mm512_maskz_loadu_ps(m1, src + k * ldb + 16));
      }
    } else {
      for (Idx h = 0; h < 2; ++h) {
        const Idx rows = std::clamp<Idx>(cols - 16 * h, 0, 16);
        const float* src = B + (j0 + p0 + 16 * h) * ldb + k0;
        for (Idx k = 0; k < kc; k += 16)
          transposed_block(src + k, ldb, rows, std::min<Idx>(16, kc - k), Bp + k * NR + 16 * h, NR, 0xFFFF);
      }
    }
  }
}

// op(B) from a GatherMatrix g (gemm.hpp): op(B)(k, j) = g(k, j), or g(j, k) when transposed, with
// g(r, c) = base[row_offset[r] + col_offset[c]]. Scalar (the AVX2 kernel's; the AVX-512 one below).
template <int NR>
void pack_b_gather(bool tb, const GatherMatrix& g, Idx k0, Idx kc, Idx j0, Idx nc, float* Bp) {
  for (Idx p0 = 0; p0 < nc; p0 += NR, Bp += NR * kc) {
    const Idx cols = std::min<Idx>(NR, nc - p0);
    for (Idx k = 0; k < kc; ++k) {
      float* dst = Bp + k * NR;
      for (Idx c = 0; c < cols; ++c)
        dst[c] = tb ? g.base[g.row_offset[j0 + p0 + c] + g.col_offset[k0 + k]]
                    : g.base[g.row_offset[k0 + k] + g.col_offset[j0 + p0 + c]];
      for (Idx c = cols; c < NR; ++c) dst[c] = 0.0f;
    }
  }
}

// Up to 16 lanes split into runs of consecutive offsets: lanes [a, a + n) read base + off + [0, n).
// An im2col row over 16 output positions is one run per output row touched (DCGAN: 1 to 4).
struct Runs {
  int count = 0;
  int a[16], n[16];
  Idx off[16];
  // L when the runs are 16 / L runs of exactly L lanes (L = 4, 8, 16: a 4-, 8- or 16-wide output
  // row per run): then whole 128-, 256- or 512-bit loads and stores serve, no masks. Else 0.
  int uniform = 0;
  Runs(const Idx* offsets, Idx lanes) {
    for (Idx i = 0; i < lanes;) {
      Idx j = i + 1;
      while (j < lanes && offsets[j] == offsets[j - 1] + 1) ++j;
      a[count] = static_cast<int>(i);
      n[count] = static_cast<int>(j - i);
      off[count] = offsets[i];
      ++count;
      i = j;
    }
    if (lanes == 16 && (count == 1 || count == 2 || count == 4)) {
      uniform = 16 / count;
      for (int r = 0; r < count; ++r)
        if (n[r] != uniform) uniform = 0;
    }
  }
};

// The 16 lanes of `r` read from base (lanes in no run are 0). Expand-loads read exactly the run's
// floats, never past them.
__attribute__((target("avx512f"))) inline __m512 load_runs(const float* base, const Runs& r) {
  switch (r.uniform) {
    case 16: return _mm512_loadu_ps(base + r.off[0]);
    case 8:
      return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(_mm256_loadu_ps(base + r.off[0]))),
                                                 _mm256_castps_pd(_mm256_loadu_ps(base + r.off[1])), 1));
    case 4: {
      __m512 v = _mm512_castps128_ps512(_mm_loadu_ps(base + r.off[0]));
      v = _mm512_insertf32x4(v, _mm_loadu_ps(base + r.off[1]), 1);
      v = _mm512_insertf32x4(v, _mm_loadu_ps(base + r.off[2]), 2);
      return _mm512_insertf32x4(v, _mm_loadu_ps(base + r.off[3]), 3);
    }
    default: break;
  }
  __m512 v = _mm512_setzero_ps();
  for (int i = 0; i < r.count; ++i)
    v = _mm512_mask_expandloadu_ps(v, static_cast<__mmask16>(((1u << r.n[i]) - 1u) << r.a[i]), base + r.off[i]);
  return v;
}

__attribute__((target("avx512f"))) void pack_b_gather_avx512(bool tb, const GatherMatrix& g, Idx k0, Idx kc, Idx j0,
                                                             Idx nc, float* Bp) {
  constexpr int NR = 32;
  for (Idx p0 = 0; p0 < nc; p0 += NR, Bp += NR * kc) {
    const Idx cols = std::min<Idx>(NR, nc - p0);
    if (!tb) {  // a panel row: 32 positions of one tap, read as runs
      const Runs r0(g.col_offset + j0 + p0, std::min<Idx>(16, cols));
      const Runs r1(g.col_offset + j0 + p0 + 16, std::max<Idx>(0, cols - 16));
      for (Idx k = 0; k < kc; ++k) {
        const float* row = g.base + g.row_offset[k0 + k];
        _mm512_storeu_ps(Bp + k * NR, load_runs(row, r0));
        _mm512_storeu_ps(Bp + k * NR + 16, load_runs(row, r1));
      }
    } else {  // op(B)(k, c) = g(c, k): 16 taps x 16 positions read as runs along k, transposed
      for (Idx kb = 0; kb < kc; kb += 16) {
        const Idx depth = std::min<Idx>(16, kc - kb);
        const Runs rk(g.col_offset + k0 + kb, depth);
        for (Idx h = 0; h < 2; ++h) {
          const Idx rows = std::clamp<Idx>(cols - 16 * h, 0, 16);
          __m512 r[16];
          for (Idx i = 0; i < 16; ++i)
            r[i] = i < rows ? load_runs(g.base + g.row_offset[j0 + p0 + 16 * h + i], rk) : _mm512_setzero_ps();
          transpose16(r);
          for (Idx kk = 0; kk < depth; ++kk) _mm512_storeu_ps(Bp + (kb + kk) * NR + 16 * h, r[kk]);
        }
      }
    }
  }
}

// op(A) = A from a GatherMatrix (A(i, k) = base[row_offset[i] + col_offset[k]]), into MR-row
// micro-panels. Scalar (the AVX2 kernel's), then AVX-512: 16 depths of each row read as runs
// along k, transposed.
template <int MR>
void pack_a_gather(const GatherMatrix& g, Idx i0, Idx mc, Idx k0, Idx kc, float* Ap) {
  for (Idx p0 = 0; p0 < mc; p0 += MR, Ap += MR * kc) {
    const Idx rows = std::min<Idx>(MR, mc - p0);
    for (Idx k = 0; k < kc; ++k) {
      for (Idx r = 0; r < rows; ++r) Ap[k * MR + r] = g.base[g.row_offset[i0 + p0 + r] + g.col_offset[k0 + k]];
      for (Idx r = rows; r < MR; ++r) Ap[k * MR + r] = 0.0f;
    }
  }
}

__attribute__((target("avx512f"))) void pack_a_gather_avx512(const GatherMatrix& g, Idx i0, Idx mc, Idx k0, Idx kc,
                                                             float* Ap) {
  constexpr int MR = 12;
  for (Idx p0 = 0; p0 < mc; p0 += MR, Ap += MR * kc) {
    const Idx rows = std::min<Idx>(MR, mc - p0);
    for (Idx kb = 0; kb < kc; kb += 16) {
      const Idx depth = std::min<Idx>(16, kc - kb);
      const Runs rk(g.col_offset + k0 + kb, depth);
      __m512 r[16];
      for (Idx i = 0; i < 16; ++i)
        r[i] = i < rows ? load_runs(g.base + g.row_offset[i0 + p0 + i], rk) : _mm512_setzero_ps();
      transpose16(r);
      for (Idx kk = 0; kk < depth; ++kk) _mm512_mask_storeu_ps(Ap + (kb + kk) * MR, first_n(MR), r[kk]);
    }
  }
}

// dst(i, j) = tile[i NR + j] + beta dst(i, j) for the mr x nr tile at rows i0, columns j0 of a
// ScatterMatrix, row after row (with beta 1, rows may share floats; one row's columns never do).
// beta 0 overwrites without reading. Scalar (AVX2), then AVX-512.
void scatter_update(const float* tile, int NR, Idx mr, Idx nr, float beta, const ScatterMatrix& d, Idx i0, Idx j0) {
  for (Idx i = 0; i < mr; ++i) {
    float* row = d.base + d.row_offset[i0 + i];
    for (Idx j = 0; j < nr; ++j) {
      float& out = row[d.col_offset[j0 + j]];
      out = beta == 0.0f ? tile[i * NR + j] : tile[i * NR + j] + beta * out;
    }
  }
}

__attribute__((target("avx512f"))) void scatter_update_avx512(const float* tile, Idx mr, Idx nr, float beta,
                                                              const ScatterMatrix& d, Idx i0, Idx j0) {
  constexpr int NR = 32;
  const Runs r0(d.col_offset + j0, std::min<Idx>(16, nr)), r1(d.col_offset + j0 + 16, std::max<Idx>(0, nr - 16));
  const __m512 vb = _mm512_set1_ps(beta);
  for (Idx i = 0; i < mr; ++i) {
    float* row = d.base + d.row_offset[i0 + i];
    for (int h = 0; h < 2; ++h) {
      const Runs& r = h ? r1 : r0;
      if (r.count == 0) continue;
      __m512 v = _mm512_load_ps(tile + i * NR + 16 * h);
      if (beta != 0.0f) v = _mm512_fmadd_ps(vb, load_runs(row, r), v);
      switch (r.uniform) {
        case 16: _mm512_storeu_ps(row + r.off[0], v); continue;
        case 8:
          _mm256_storeu_ps(row + r.off[0], _mm512_castps512_ps256(v));
          _mm256_storeu_pd(reinterpret_cast<double*>(row + r.off[1]), _mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
          continue;
        case 4:
          _mm_storeu_ps(row + r.off[0], _mm512_castps512_ps128(v));
          _mm_storeu_ps(row + r.off[1], _mm512_extractf32x4_ps(v, 1));
          _mm_storeu_ps(row + r.off[2], _mm512_extractf32x4_ps(v, 2));
          _mm_storeu_ps(row + r.off[3], _mm512_extractf32x4_ps(v, 3));
          continue;
        default: break;
      }
      for (int q = 0; q < r.count; ++q)  // lanes [a, a + n) back to row + off
        _mm512_mask_compressstoreu_ps(row + r.off[q], static_cast<__mmask16>(((1u << r.n[q]) - 1u) << r.a[q]), v);
    }
  }
}

#pragma GCC diagnostic pop  // (from transpose16 on: the AVX-512 helpers)

// An operand held by value: a row-major matrix (data, ld) or, when `gather`, the GatherMatrix g.
struct Operand {
  const float* data = nullptr;
  Idx ld = 0;
  bool gather = false;
  GatherMatrix g{};
  static Operand of(const SgemmIn& in) {
    return in.gather ? Operand{nullptr, 0, true, *in.gather} : Operand{in.data, in.ld, false, {}};
  }
  // The operand whose op(X) starts at op(X)'s row i (from_row) or column j (from_column).
  Operand from_row(Idx i, bool t) const {
    Operand r = *this;
    if (gather) (t ? r.g.col_offset : r.g.row_offset) += i;
    else r.data = t ? data + i : data + i * ld;
    return r;
  }
  Operand from_column(Idx j, bool t) const {
    Operand r = *this;
    if (gather) (t ? r.g.row_offset : r.g.col_offset) += j;
    else r.data = t ? data + j * ld : data + j;
    return r;
  }
};

// A partial tile: the kernel wrote the whole MR x NR product to `tile`; only mr x nr reach C.
void store_partial(const float* tile, int NR, Idx mr, Idx nr, float alpha, float beta, float* C, Idx ldc) {
  for (Idx i = 0; i < mr; ++i)
    for (Idx j = 0; j < nr; ++j) {
      const float v = alpha * tile[i * NR + j];
      C[i * ldc + j] = beta == 0.0f ? v : v + beta * C[i * ldc + j];  // beta 0 overwrites (NaN)
    }
}

// C (mr x nr <= MR x NR) = alpha * Ap * Bp + beta * C over kc.
using MicroKernel = void (*)(Idx kc, const float* Ap, const float* Bp, float* C, Idx ldc, Idx mr, Idx nr,
                             float alpha, float beta);

// Where a full 12 x 32 tile goes, straight from the registers: row i at c + i ldc, and its 32
// columns in runs of `run` (16 or 8) consecutive floats, run q at c + i ldc + off[q]. A plain
// matrix is one run of 16 per half, {0, 16}; a scattered C whose rows are evenly spaced and whose
// columns come in such runs (direct_tile) gets the same, and no tile goes through memory. The
// runs of one row must not share floats (the ScatterMatrix contract); different rows may (beta 1:
// each row is loaded, added and stored before the next).
struct TileStore {
  float* c;
  Idx ldc;
  int run;     // 16 or 8
  Idx off[4];  // 32 / run entries
};

// (GCC 12's extract intrinsics start from _mm*_undefined_*: the false positive silenced above.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// 12 x 32: 24 zmm accumulators + 2 for the B row + 1 broadcast, of the 32 registers. A partial
// tile (mr < 12 or nr < 32) goes through a buffer into the matrix (c, ldc) and needs run 16,
// off {0, 16}.
__attribute__((target("avx512f,fma"))) void kernel_avx512_at(Idx kc, const float* __restrict Ap,
                                                         const float* __restrict Bp, const TileStore& to, Idx mr,
                                                         Idx nr, float alpha, float beta) {
  constexpr int MR = 12, NR = 32;
  __m512 c0[MR], c1[MR];
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) {
    c0[i] = _mm512_setzero_ps();
    c1[i] = _mm512_setzero_ps();
  }
#pragma GCC unroll 2
  for (Idx k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_loadu_ps(Bp), b1 = _mm512_loadu_ps(Bp + 16);
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      const __m512 a = _mm512_set1_ps(Ap[i]);
      c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
      c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
    }
    Ap += MR;
    Bp += NR;
  }
  if (mr == MR && nr == NR) {
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    const Idx* off = to.off;
    if (to.run == 16) {
#pragma GCC unroll 12
      for (int i = 0; i < MR; ++i) {
        float* c = to.c + i * to.ldc;
        __m512 r0 = _mm512_mul_ps(va, c0[i]), r1 = _mm512_mul_ps(va, c1[i]);
        if (beta != 0.0f) {
          r0 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(c + off[0]), r0);
          r1 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(c + off[1]), r1);
        }
        _mm512_storeu_ps(c + off[0], r0);
        _mm512_storeu_ps(c + off[1], r1);
      }
    } else {  // run 8: two 8-float runs per half
#pragma GCC unroll 12
      for (int i = 0; i < MR; ++i) {
        float* c = to.c + i * to.ldc;
        const __m512 r[2] = {_mm512_mul_ps(va, c0[i]), _mm512_mul_ps(va, c1[i])};
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
          __m256 lo = _mm512_castps512_ps256(r[h]);
          __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(r[h]), 1));
          float* p0 = c + off[2 * h];
          float* p1 = c + off[2 * h + 1];
          if (beta != 0.0f) {
            lo = _mm256_fmadd_ps(_mm512_castps512_ps256(vb), _mm256_loadu_ps(p0), lo);
            hi = _mm256_fmadd_ps(_mm512_castps512_ps256(vb), _mm256_loadu_ps(p1), hi);
          }
          _mm256_storeu_ps(p0, lo);
          _mm256_storeu_ps(p1, hi);
        }
      }
    }
  } else {
    alignas(64) float tile[MR * NR];
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      _mm512_store_ps(tile + i * NR, c0[i]);
      _mm512_store_ps(tile + i * NR + 16, c1[i]);
    }
    store_partial(tile, NR, mr, nr, alpha, beta, to.c, to.ldc);
  }
}

#pragma GCC diagnostic pop

__attribute__((target("avx512f,fma"))) void kernel_avx512(Idx kc, const float* __restrict Ap,
                                                      const float* __restrict Bp, float* C, Idx ldc, Idx mr,
                                                      Idx nr, float alpha, float beta) {
  kernel_avx512_at(kc, Ap, Bp, TileStore{C, ldc, 16, {0, 16}}, mr, nr, alpha, beta);
}

// A full 12 x 32 tile (rows i.., columns j..) of a scattered C that kernel_avx512_at can store
// straight from its registers: rows evenly spaced, the 32 columns in runs of 16 or 8 consecutive
// floats (a forward convolution's multi-image tile: y rows HoWo apart, 16 or 64 positions per
// image; backward-data's stage: one tap of 12 channels, each output row a run of Wo floats, Wo a
// multiple of 8). The columns' part is decided once per 32-column panel (direct_columns: run 0
// when they do not qualify), the rows' per tile (direct_tile fills `to`, returns false when not).
// (Runs of 4 were tried: the sixteen 128-bit load-add-stores per row cost the kernel more than
// the buffered scatter did.)
int direct_columns(const ScatterMatrix& d, Idx j, Idx nr, Idx off[4]) {
  if (nr != 32) return 0;
  const Idx* co = d.col_offset + j;
  int run = 16;  // the longest run length L (16 or 8) with every L-column group consecutive
  for (int q = 1; q < 32; ++q) {
    if (co[q] == co[q - 1] + 1) continue;
    if (q % 16 != 0) run = 8;
    if (q % 8 != 0) return 0;
  }
  for (int q = 0; q < 4 && q * run < 32; ++q) off[q] = co[q * run];
  return run;
}
bool direct_tile(const ScatterMatrix& d, Idx i, Idx mr, int run, const Idx off[4], TileStore& to) {
  if (mr != 12 || run == 0) return false;
  const Idx* ro = d.row_offset + i;
  const Idx ldc = ro[1] - ro[0];
  for (int r = 2; r < 12; ++r)
    if (ro[r] - ro[0] != r * ldc) return false;
  to.c = d.base + ro[0];
  to.ldc = ldc;
  to.run = run;
  for (int q = 0; q < 4; ++q) to.off[q] = off[q];
  return true;
}

// 6 x 16: 12 ymm accumulators + 2 for the B row + 1 broadcast, of the 16 registers.
__attribute__((target("avx2,fma"))) void kernel_avx2(Idx kc, const float* __restrict Ap, const float* __restrict Bp,
                                                     float* C, Idx ldc, Idx mr, Idx nr, float alpha, float beta) {
  constexpr int MR = 6, NR = 16;
  __m256 c0[MR], c1[MR];
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) {
    c0[i] = _mm256_setzero_ps();
    c1[i] = _mm256_setzero_ps();
  }
#pragma GCC unroll 2
  for (Idx k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_loadu_ps(Bp), b1 = _mm256_loadu_ps(Bp + 8);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const __m256 a = _mm256_broadcast_ss(Ap + i);
      c0[i] = _mm256_fmadd_ps(a, b0, c0[i]);
      c1[i] = _mm256_fmadd_ps(a, b1, c1[i]);
    }
    Ap += MR;
    Bp += NR;
  }
  if (mr == MR && nr == NR) {
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      float* c = C + i * ldc;
      __m256 r0 = _mm256_mul_ps(va, c0[i]), r1 = _mm256_mul_ps(va, c1[i]);
      if (beta != 0.0f) {
        r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c), r0);
        r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8), r1);
      }
      _mm256_storeu_ps(c, r0);
      _mm256_storeu_ps(c + 8, r1);
    }
  } else {
    alignas(32) float tile[MR * NR];
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      _mm256_store_ps(tile + i * NR, c0[i]);
      _mm256_store_ps(tile + i * NR + 8, c1[i]);
    }
    store_partial(tile, NR, mr, nr, alpha, beta, C, ldc);
  }
}

// The loop nest on the calling thread (K > 0, alpha != 0). C is c.data (ld c.ld) or c.scatter.
template <int MR, int NR>
void sgemm_serial(const Blocking& bl, MicroKernel kernel, bool ta, bool tb, Idx M, Idx N, Idx K, float alpha,
                  const Operand& a, const Operand& b, float beta, const SgemmOut& c, std::uint64_t reuse_token) {
  const Idx kc_max = std::min(bl.kc, K);
  const Idx nc_max = (std::min(bl.nc, N) + NR - 1) / NR * NR, mc_max = (std::min(bl.mc, M) + MR - 1) / MR * MR;
  float* Bp = t_pack_b.get(static_cast<std::size_t>(kc_max * nc_max));
  float* Ap = t_pack_a.get(static_cast<std::size_t>(kc_max * mc_max));
  // With a reuse token (and a plain A): all of op(A) packed in t_packed_a, filled during the first
  // column block.
  const Idx m_pad = (M + MR - 1) / MR * MR;
  PackedA& cache = t_packed_a;
  float* a_all = nullptr;
  bool a_ready = false;
  if (reuse_token != 0 && !a.gather && m_pad * K <= kMaxReusedAFloats) {
    a_ready = cache.matches(reuse_token, a.data, a.ld, M, K, bl.kc, ta, MR);
    if (!a_ready) cache.token = 0;  // invalid until refilled
    a_all = cache.buf.get(static_cast<std::size_t>(m_pad * K));
  }
  for (Idx j0 = 0; j0 < N; j0 += bl.nc) {
    const Idx nc = std::min(bl.nc, N - j0);
    for (Idx k0 = 0; k0 < K; k0 += bl.kc) {
      const Idx kc = std::min(bl.kc, K - k0);
      const float beta_k = k0 == 0 ? beta : 1.0f;  // later K slices accumulate onto the first
      // B micro-panel jr is packed just before the first row block uses it (and kept for the
      // others): it is still in L1 when the kernel reads it. Packing the whole KC x NC block first
      // sent 2 MiB through L2 to L3 and back; for M <= MC (a convolution's Co) each panel is used
      // by one row block only.
      const auto pack_panel = [&](Idx jr) {
        const Idx nr = std::min<Idx>(NR, nc - jr);
        float* dst = Bp + jr * kc;
        if (b.gather) {
          if constexpr (NR == 32) pack_b_gather_avx512(tb, b.g, k0, kc, j0 + jr, nr, dst);
          else pack_b_gather<NR>(tb, b.g, k0, kc, j0 + jr, nr, dst);
        } else {
          if constexpr (NR == 32) pack_b_avx512(tb, b.data, b.ld, k0, kc, j0 + jr, nr, dst);
          else pack_b<NR>(tb, b.data, b.ld, k0, kc, j0 + jr, nr, dst);
        }
      };
      for (Idx i0 = 0; i0 < M; i0 += bl.mc) {
        const Idx mc = std::min(bl.mc, M - i0);
        float* ap = a_all ? a_all + k0 * m_pad + i0 * kc : Ap;
        if (!a_all || (!a_ready && j0 == 0)) {
          if (a.gather) {
            if constexpr (MR == 12) pack_a_gather_avx512(a.g, i0, mc, k0, kc, ap);
            else pack_a_gather<MR>(a.g, i0, mc, k0, kc, ap);
          } else {
            if constexpr (MR == 12) pack_a_avx512(ta, a.data, a.ld, i0, mc, k0, kc, ap);
            else pack_a<MR>(ta, a.data, a.ld, i0, mc, k0, kc, ap);
          }
        }
        for (Idx jr = 0; jr < nc; jr += NR) {
          if (i0 == 0) pack_panel(jr);
          [[maybe_unused]] int run = 0;  // direct_columns
          [[maybe_unused]] Idx run_off[4] = {};
          if constexpr (NR == 32)
            if (c.scatter) run = direct_columns(*c.scatter, j0 + jr, std::min<Idx>(NR, nc - jr), run_off);
          for (Idx ir = 0; ir < mc; ir += MR) {
            const Idx mr = std::min<Idx>(MR, mc - ir), nr = std::min<Idx>(NR, nc - jr);
            bool direct = false;
            [[maybe_unused]] TileStore to;
            if constexpr (NR == 32) direct = run != 0 && direct_tile(*c.scatter, i0 + ir, mr, run, run_off, to);
            if (direct) {  // straight from the registers
              if constexpr (NR == 32) kernel_avx512_at(kc, ap + ir * kc, Bp + jr * kc, to, mr, nr, alpha, beta_k);
            } else if (c.scatter) {  // the whole tile into a buffer, then where it belongs
              alignas(64) float tile[MR * NR];
              kernel(kc, ap + ir * kc, Bp + jr * kc, tile, NR, MR, NR, alpha, 0.0f);
              if constexpr (NR == 32) scatter_update_avx512(tile, mr, nr, beta_k, *c.scatter, i0 + ir, j0 + jr);
              else scatter_update(tile, NR, mr, nr, beta_k, *c.scatter, i0 + ir, j0 + jr);
            } else {
              kernel(kc, ap + ir * kc, Bp + jr * kc, c.data + (i0 + ir) * c.ld + j0 + jr, c.ld, mr, nr, alpha, beta_k);
            }
          }
        }
      }
    }
  }
  if (a_all && !a_ready) {
    cache.a = a.data;
    cache.lda = a.ld;
    cache.M = M;
    cache.K = K;
    cache.kc = bl.kc;
    cache.ta = ta;
    cache.mr = MR;
    cache.token = reuse_token;
  }
}

// ---- C = A . B^T by dot products over runs of k (sgemm_dot_nt) -------------------------------
// A run of k along which both operands' column offsets step by 1: A(i, k) at a + row i's offset.
struct DotRun {
  Idx a, b, len;
};

// The MB x NB dot products of A rows a[0..MB) and B rows b[0..NB) (each row's base pointer) over
// the runs, 16 k at a time, each reduced at the end: out[i NB + j]. 24 zmm accumulators, the NB B
// vectors loaded once per step and each A vector once: MB + NB loads per MB NB FMAs.
// (GCC 12's _mm512_reduce_add_ps: the false positive of kernel_avx512_at's extracts.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
template <int MB, int NB>
__attribute__((target("avx512f,fma"))) void dot_block(const float* const* a, const float* const* b,
                                                      const DotRun* runs, Idx nruns, float* out) {
  __m512 acc[MB][NB];
#pragma GCC unroll 6
  for (int i = 0; i < MB; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NB; ++j) acc[i][j] = _mm512_setzero_ps();
  for (Idx r = 0; r < nruns; ++r) {
    const DotRun run = runs[r];
    for (Idx v = 0; v < run.len; v += 16) {
      const __mmask16 m = v + 16 <= run.len ? static_cast<__mmask16>(0xFFFF) : first_n(run.len - v);
      __m512 bv[NB];
#pragma GCC unroll 4
      for (int j = 0; j < NB; ++j) bv[j] = _mm512_maskz_loadu_ps(m, b[j] + run.b + v);
#pragma GCC unroll 6
      for (int i = 0; i < MB; ++i) {
        const __m512 av = _mm512_maskz_loadu_ps(m, a[i] + run.a + v);
#pragma GCC unroll 4
        for (int j = 0; j < NB; ++j) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
      }
    }
  }
#pragma GCC unroll 6
  for (int i = 0; i < MB; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NB; ++j) out[i * NB + j] = _mm512_reduce_add_ps(acc[i][j]);
}
#pragma GCC diagnostic pop

thread_local std::vector<DotRun> t_dot_runs;

// C = A . B^T + beta C in 6 x 4 blocks of dot products (edge blocks repeat their last row or
// column and keep only the valid results). B's rows are the short side (a first layer's 16 or 48
// taps, against 64 channels in A): 4 per block, read again for every block of A's rows.
void sgemm_dot_nt_avx512(Idx M, Idx N, Idx K, const GatherMatrix& A, const GatherMatrix& B, float beta, float* C,
                         Idx ldc) {
  constexpr int MB = 6, NB = 4;
  std::vector<DotRun>& runs = t_dot_runs;
  runs.clear();
  for (Idx k = 0; k < K;) {
    Idx e = k + 1;
    while (e < K && A.col_offset[e] == A.col_offset[e - 1] + 1 && B.col_offset[e] == B.col_offset[e - 1] + 1) ++e;
    runs.push_back({A.col_offset[k], B.col_offset[k], e - k});
    k = e;
  }
  const float* a[MB];
  const float* b[NB];
  float out[MB * NB];
  for (Idx i0 = 0; i0 < M; i0 += MB) {
    const Idx mb = std::min<Idx>(MB, M - i0);
    for (int i = 0; i < MB; ++i) a[i] = A.base + A.row_offset[i0 + std::min<Idx>(i, mb - 1)];
    for (Idx j0 = 0; j0 < N; j0 += NB) {
      const Idx nb = std::min<Idx>(NB, N - j0);
      for (int j = 0; j < NB; ++j) b[j] = B.base + B.row_offset[j0 + std::min<Idx>(j, nb - 1)];
      dot_block<MB, NB>(a, b, runs.data(), static_cast<Idx>(runs.size()), out);
      for (Idx i = 0; i < mb; ++i)
        for (Idx j = 0; j < nb; ++j) {
          float& c = C[(i0 + i) * ldc + j0 + j];
          c = beta == 0.0f ? out[i * NB + j] : out[i * NB + j] + beta * c;
        }
    }
  }
}

// Splits large products over OpenMP threads: each thread takes a slab of C (columns when N >= M,
// else rows, in whole micro-tiles) and runs the serial nest on it with its own packing buffers.
// Only the smaller operand is packed twice, a small cost next to the slab's FLOPs.
template <int MR, int NR>
void sgemm_x86(const Blocking& bl, MicroKernel kernel, bool ta, bool tb, Idx M, Idx N, Idx K, float alpha,
               const float* A, Idx lda, const float* B, Idx ldb, float beta, float* C, Idx ldc,
               std::uint64_t reuse_token) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {  // C = beta C
    for (Idx i = 0; i < M; ++i)
      for (Idx j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return;
  }
  const Operand a{A, lda, false, {}}, b{B, ldb, false, {}};
  const bool split_n = N >= M;
  const Idx tiles = split_n ? (N + NR - 1) / NR : (M + MR - 1) / MR;
  int nt = 1;
  if (!gemm_single_thread_held() && !omp_in_parallel() &&
      static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K) > 4e6)
    nt = static_cast<int>(std::min<Idx>(omp_get_max_threads(), tiles));
  if (nt <= 1) {
    sgemm_serial<MR, NR>(bl, kernel, ta, tb, M, N, K, alpha, a, b, beta, SgemmOut{C, ldc, nullptr}, reuse_token);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    const Idx t = omp_get_thread_num(), T = omp_get_num_threads();
    const Idx tile = split_n ? NR : MR, extent = split_n ? N : M;
    const Idx b0 = std::min(extent, tiles * t / T * tile), b1 = std::min(extent, tiles * (t + 1) / T * tile);
    if (b1 > b0) {
      if (split_n)
        sgemm_serial<MR, NR>(bl, kernel, ta, tb, M, b1 - b0, K, alpha, a, b.from_column(b0, tb), beta,
                             SgemmOut{C + b0, ldc, nullptr}, 0);
      else
        sgemm_serial<MR, NR>(bl, kernel, ta, tb, b1 - b0, N, K, alpha, a.from_row(b0, ta), b, beta,
                             SgemmOut{C + b0 * ldc, ldc, nullptr}, 0);
    }
  }
}

#endif  // STRIDER_GEMM_X86

}  // namespace

bool gemm_isa_available(GemmIsa isa) {
#if STRIDER_GEMM_X86
  // Decided once: __builtin_cpu_supports also checks that the OS saves the wider registers. (Every
  // AVX-512 CPU has FMA3; the 12 x 32 kernel's 8-float stores use it.)
  static const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  switch (isa) {
    case GemmIsa::Portable: return true;
    case GemmIsa::Avx2: return avx2;
    case GemmIsa::Avx512: return avx512;
  }
  return false;
#else
  return isa == GemmIsa::Portable;
#endif
}

GemmIsa sgemm_best_isa() {
  static const GemmIsa best = gemm_isa_available(GemmIsa::Avx512) ? GemmIsa::Avx512
                              : gemm_isa_available(GemmIsa::Avx2) ? GemmIsa::Avx2
                                                                  : GemmIsa::Portable;
  return best;
}

const char* gemm_isa_name(GemmIsa isa) {
  switch (isa) {
    case GemmIsa::Portable: return "portable";
    case GemmIsa::Avx2: return "avx2";
    case GemmIsa::Avx512: return "avx512";
  }
  return "?";
}

void sgemm_isa(GemmIsa isa, bool trans_a, bool trans_b, Idx M, Idx N, Idx K, float alpha, const float* A, Idx lda,
               const float* B, Idx ldb, float beta, float* C, Idx ldc, std::uint64_t reuse_token) {
  (void)reuse_token;  // only strider's x86 kernels reuse a packed A
  if (!gemm_isa_available(isa))
    STRIDER_THROW(DeviceError, "sgemm_isa: " << gemm_isa_name(isa)
                                              << " is not available on this CPU; ask sgemm_best_isa() for one that is");
  switch (isa) {
    case GemmIsa::Portable: break;
#if STRIDER_GEMM_X86
    case GemmIsa::Avx2:
      sgemm_x86<6, 16>(kAvx2Blocking, kernel_avx2, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
                       reuse_token);
      return;
    case GemmIsa::Avx512:
      sgemm_x86<12, 32>(kAvx512Blocking, kernel_avx512, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C,
                        ldc, reuse_token);
      return;
#else
    default: break;
#endif
  }
  gemm_portable<float>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void sgemm_dot_nt_isa(GemmIsa isa, Idx M, Idx N, Idx K, const GatherMatrix& A, const GatherMatrix& B, float beta,
                      float* C, Idx ldc) {
  if (isa != GemmIsa::Avx512 || !gemm_isa_available(isa))
    STRIDER_THROW(DeviceError, "sgemm_dot_nt_isa: " << gemm_isa_name(isa)
                                                    << " has no dot-product SGEMM on this CPU; it is AVX-512 only, "
                                                       "where gemm_isa_available(GemmIsa::Avx512) says so");
  if (M <= 0 || N <= 0) return;
#if STRIDER_GEMM_X86
  sgemm_dot_nt_avx512(M, N, std::max<Idx>(K, 0), A, B, beta, C, ldc);
#else
  (void)K, (void)A, (void)B, (void)beta, (void)C, (void)ldc;
#endif
}

void sgemm_ex_isa(GemmIsa isa, bool trans_a, bool trans_b, Idx M, Idx N, Idx K, float alpha, const SgemmIn& A,
                  const SgemmIn& B, float beta, const SgemmOut& C, std::uint64_t reuse_token) {
  if (isa == GemmIsa::Portable || !gemm_isa_available(isa))
    STRIDER_THROW(DeviceError, "sgemm_ex_isa: " << gemm_isa_name(isa)
                                                << " has no gathering / scattering SGEMM on this CPU; use Avx2 or Avx512 "
                                                   "where gemm_isa_available() says so");
  if (A.gather && trans_a)
    STRIDER_THROW(ValueError, "sgemm_ex: a gathered A cannot be transposed (trans_a must be false); gather op(A) "
                              "itself, swapping the GatherMatrix's row and column offsets");
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {  // C = beta C
    for (Idx i = 0; i < M; ++i)
      for (Idx j = 0; j < N; ++j) {
        float& out = C.scatter ? C.scatter->base[C.scatter->row_offset[i] + C.scatter->col_offset[j]] : C.data[i * C.ld + j];
        out = beta == 0.0f ? 0.0f : beta * out;
      }
    return;
  }
#if STRIDER_GEMM_X86
  const Operand a = Operand::of(A), b = Operand::of(B);
  if (isa == GemmIsa::Avx2)
    sgemm_serial<6, 16>(kAvx2Blocking, kernel_avx2, trans_a, trans_b, M, N, K, alpha, a, b, beta, C, reuse_token);
  else
    sgemm_serial<12, 32>(kAvx512Blocking, kernel_avx512, trans_a, trans_b, M, N, K, alpha, a, b, beta, C, reuse_token);
#else
  (void)reuse_token;
#endif
}

}  // namespace strider::kernels::cpu
