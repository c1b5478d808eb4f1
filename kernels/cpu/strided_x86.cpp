// kernels/cpu/strided.hpp. The AVX-512 functions carry a target attribute and run only where
// gemm_isa_available(Avx512) says so; the rest of the file is baseline x86-64 (or portable C++).
#include <strider/kernels/cpu/strided.hpp>

#include <strider/kernels/cpu/gemm.hpp>

#if defined(__x86_64__) || defined(__i386__)
#define STRIDER_STRIDED_X86 1
#include <immintrin.h>
#else
#define STRIDER_STRIDED_X86 0
#endif

namespace strider::kernels::cpu {
namespace {

using Idx = std::int64_t;

#if STRIDER_STRIDED_X86
// GCC 12 reports the _mm512_undefined_* inside the intrinsics as maybe-uninitialized once inlined
// (a known false positive; sanitizer builds): silenced for the AVX-512 functions below.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
__attribute__((target("avx512f"))) inline __mmask16 lanes_below(Idx n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF)
                 : n <= 0 ? static_cast<__mmask16>(0) : static_cast<__mmask16>((1u << n) - 1u);
}

// Per 32 floats of x: two loads, two permutes, two stores (masked at the row's end). All rows in
// one call: at 8x8 inputs a row is 8 floats, and a call per row cost as much as the row.
__attribute__((target("avx512f"))) void deinterleave2_avx512(const float* x, Idx n, float* even, float* odd, Idx rows,
                                                             Idx x_stride, Idx out_stride) {
  const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  for (Idx r = 0; r < rows; ++r, x += x_stride, even += out_stride, odd += out_stride)
    for (Idx i = 0; i < n; i += 32) {
      const Idx left = n - i, v = i / 2;
      const __m512 a = _mm512_maskz_loadu_ps(lanes_below(left), x + i);
      const __m512 b = _mm512_maskz_loadu_ps(lanes_below(left - 16), x + i + 16);
      _mm512_mask_storeu_ps(even + v, lanes_below((left + 1) / 2), _mm512_permutex2var_ps(a, ie, b));
      _mm512_mask_storeu_ps(odd + v, lanes_below(left / 2), _mm512_permutex2var_ps(a, io, b));
    }
}

__attribute__((target("avx512f"))) void interleave2_add_avx512(const float* even, const float* odd, Idx n, float* x,
                                                               Idx rows, Idx in_stride, Idx x_stride) {
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  for (Idx r = 0; r < rows; ++r, even += in_stride, odd += in_stride, x += x_stride)
    for (Idx i = 0; i < n; i += 32) {
      const Idx left = n - i, v = i / 2;
      const __m512 e = _mm512_maskz_loadu_ps(lanes_below((left + 1) / 2), even + v);
      const __m512 o = _mm512_maskz_loadu_ps(lanes_below(left / 2), odd + v);
      const __mmask16 m0 = lanes_below(left), m1 = lanes_below(left - 16);
      _mm512_mask_storeu_ps(x + i, m0,
                            _mm512_add_ps(_mm512_maskz_loadu_ps(m0, x + i), _mm512_permutex2var_ps(e, lo, o)));
      _mm512_mask_storeu_ps(x + i + 16, m1,
                            _mm512_add_ps(_mm512_maskz_loadu_ps(m1, x + i + 16), _mm512_permutex2var_ps(e, hi, o)));
    }
}

#pragma GCC diagnostic pop

bool use_avx512() {
  static const bool yes = gemm_isa_available(GemmIsa::Avx512);
  return yes;
}
#endif

}  // namespace

void deinterleave2_portable(const float* x, Idx n, float* even, float* odd, Idx rows, Idx x_stride, Idx out_stride) {
  for (Idx r = 0; r < rows; ++r, x += x_stride, even += out_stride, odd += out_stride) {
    for (Idx v = 0; 2 * v < n; ++v) even[v] = x[2 * v];
    for (Idx v = 0; 2 * v + 1 < n; ++v) odd[v] = x[2 * v + 1];
  }
}

void interleave2_add_portable(const float* even, const float* odd, Idx n, float* x, Idx rows, Idx in_stride,
                              Idx x_stride) {
  for (Idx r = 0; r < rows; ++r, even += in_stride, odd += in_stride, x += x_stride) {
    for (Idx v = 0; 2 * v < n; ++v) x[2 * v] += even[v];
    for (Idx v = 0; 2 * v + 1 < n; ++v) x[2 * v + 1] += odd[v];
  }
}

void deinterleave2(const float* x, Idx n, float* even, float* odd, Idx rows, Idx x_stride, Idx out_stride) {
#if STRIDER_STRIDED_X86
  if (use_avx512()) return deinterleave2_avx512(x, n, even, odd, rows, x_stride, out_stride);
#endif
  deinterleave2_portable(x, n, even, odd, rows, x_stride, out_stride);
}

void interleave2_add(const float* even, const float* odd, Idx n, float* x, Idx rows, Idx in_stride, Idx x_stride) {
#if STRIDER_STRIDED_X86
  if (use_avx512()) return interleave2_add_avx512(even, odd, n, x, rows, in_stride, x_stride);
#endif
  interleave2_add_portable(even, odd, n, x, rows, in_stride, x_stride);
}

}  // namespace strider::kernels::cpu
