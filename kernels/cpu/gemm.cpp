#include <strider/kernels/cpu/gemm.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <omp.h>

#include <strider/config.hpp>
#if STRIDER_HAS_BLAS
#include <cblas.h>
#endif

namespace strider::kernels::cpu {
namespace {

using Idx = std::int64_t;

// BlasSingleThread nesting depth on this thread: gemm_portable() and strider's SGEMM stay on it.
thread_local int t_single_thread = 0;

// Block sizes: a KC x NC panel of op(B) (128 KiB of floats) stays in L2 while MC-row strips of
// op(A) (MC x KC, 32 KiB) stream past it; four C rows of NC are updated per k step.
constexpr Idx kMC = 32, kKC = 256, kNC = 256;

// STRIDER_GEMM=openblas (read once) sends gemm<float> back to OpenBLAS, in a build that has it.
bool float_uses_openblas() {
#if STRIDER_HAS_BLAS
  static const bool v = [] {
    const char* e = std::getenv("STRIDER_GEMM");
    return e != nullptr && std::string_view(e) == "openblas";
  }();
  return v;
#else
  return false;
#endif
}

// gemm<float> runs strider's SGEMM: this CPU has AVX2 or AVX-512 and STRIDER_GEMM does not say openblas.
bool float_uses_strider() { return sgemm_best_isa() != GemmIsa::Portable && !float_uses_openblas(); }

// C rows [i0, i0 + mc) x columns [j0, j0 + nc) += Ap (mc x kc, alpha folded in) * Bp (kc x nc).
template <class T>
void block_kernel(Idx mc, Idx nc, Idx kc, const T* __restrict Ap, const T* __restrict Bp, T* C, Idx ldc) {
  Idx i = 0;
  for (; i + 4 <= mc; i += 4) {
    T* __restrict c0 = C + (i + 0) * ldc;
    T* __restrict c1 = C + (i + 1) * ldc;
    T* __restrict c2 = C + (i + 2) * ldc;
    T* __restrict c3 = C + (i + 3) * ldc;
    for (Idx k = 0; k < kc; ++k) {
      const T a0 = Ap[(i + 0) * kc + k], a1 = Ap[(i + 1) * kc + k], a2 = Ap[(i + 2) * kc + k],
              a3 = Ap[(i + 3) * kc + k];
      const T* __restrict b = Bp + k * nc;
      for (Idx j = 0; j < nc; ++j) {
        const T bj = b[j];
        c0[j] += a0 * bj;
        c1[j] += a1 * bj;
        c2[j] += a2 * bj;
        c3[j] += a3 * bj;
      }
    }
  }
  for (; i < mc; ++i) {
    T* __restrict c = C + i * ldc;
    for (Idx k = 0; k < kc; ++k) {
      const T a = Ap[i * kc + k];
      const T* __restrict b = Bp + k * nc;
      for (Idx j = 0; j < nc; ++j) c[j] += a * b[j];
    }
  }
}

}  // namespace

template <class T>
void gemm_portable(bool trans_a, bool trans_b, Idx M, Idx N, Idx K, T alpha, const T* A, Idx lda, const T* B,
                   Idx ldb, T beta, T* C, Idx ldc) {
  if (M <= 0 || N <= 0) return;
  // C = beta C; beta == 0 overwrites (NaN in C does not survive), as BLAS.
  for (Idx i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    if (beta == T(0)) std::fill(c, c + N, T(0));
    else if (beta != T(1)) for (Idx j = 0; j < N; ++j) c[j] *= beta;
  }
  if (K <= 0 || alpha == T(0)) return;
  const auto a_at = [&](Idx i, Idx k) { return trans_a ? A[k * lda + i] : A[i * lda + k]; };
  const auto b_at = [&](Idx k, Idx j) { return trans_b ? B[j * ldb + k] : B[k * ldb + j]; };
  const Idx row_blocks = (M + kMC - 1) / kMC;
  const bool parallel = !gemm_single_thread_held() && !omp_in_parallel() && row_blocks > 1 &&
                        static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K) > 4e6;
#pragma omp parallel if (parallel)
  {
    std::vector<T> Ap(static_cast<std::size_t>(kMC * kKC)), Bp(static_cast<std::size_t>(kKC * kNC));
    const int nt = omp_get_num_threads(), t = omp_get_thread_num();
    const Idx rb0 = row_blocks * t / nt, rb1 = row_blocks * (t + 1) / nt;
    for (Idx j0 = 0; j0 < N && rb0 < rb1; j0 += kNC) {
      const Idx nc = std::min(kNC, N - j0);
      for (Idx k0 = 0; k0 < K; k0 += kKC) {
        const Idx kc = std::min(kKC, K - k0);
        for (Idx k = 0; k < kc; ++k)
          for (Idx j = 0; j < nc; ++j) Bp[static_cast<std::size_t>(k * nc + j)] = b_at(k0 + k, j0 + j);
        for (Idx rb = rb0; rb < rb1; ++rb) {
          const Idx i0 = rb * kMC, mc = std::min(kMC, M - i0);
          for (Idx i = 0; i < mc; ++i)
            for (Idx k = 0; k < kc; ++k) Ap[static_cast<std::size_t>(i * kc + k)] = alpha * a_at(i0 + i, k0 + k);
          block_kernel<T>(mc, nc, kc, Ap.data(), Bp.data(), C + i0 * ldc + j0, ldc);
        }
      }
    }
  }
}

template <class T>
void gemm(bool trans_a, bool trans_b, Idx M, Idx N, Idx K, T alpha, const T* A, Idx lda, const T* B, Idx ldb, T beta,
          T* C, Idx ldc) {
  if constexpr (std::is_same_v<T, float>) {
    if (float_uses_strider()) {
      sgemm_isa(sgemm_best_isa(), trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      return;
    }
  }
#if STRIDER_HAS_BLAS
  if (M <= 0 || N <= 0) return;
  const auto ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
  // BLAS requires leading dimensions >= 1 even for empty operands.
  lda = std::max<Idx>(lda, 1);
  ldb = std::max<Idx>(ldb, 1);
  ldc = std::max<Idx>(ldc, 1);
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, ta, tb, static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), alpha, A,
                static_cast<int>(lda), B, static_cast<int>(ldb), beta, C, static_cast<int>(ldc));
  } else {
    cblas_dgemm(CblasRowMajor, ta, tb, static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), alpha, A,
                static_cast<int>(lda), B, static_cast<int>(ldb), beta, C, static_cast<int>(ldc));
  }
#else
  gemm_portable<T>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

std::uint64_t sgemm_reuse_token() {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

void sgemm_reuse_a(std::uint64_t token, bool trans_a, bool trans_b, Idx M, Idx N, Idx K, float alpha, const float* A,
                   Idx lda, const float* B, Idx ldb, float beta, float* C, Idx ldc) {
  if (float_uses_strider()) {
    sgemm_isa(sgemm_best_isa(), trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, token);
    return;
  }
  gemm<float>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

bool sgemm_gather_available() { return float_uses_strider(); }

bool sgemm_ex(std::uint64_t token, bool trans_a, bool trans_b, Idx M, Idx N, Idx K, float alpha, const SgemmIn& A,
              const SgemmIn& B, float beta, const SgemmOut& C) {
  if (!float_uses_strider()) return false;
  sgemm_ex_isa(sgemm_best_isa(), trans_a, trans_b, M, N, K, alpha, A, B, beta, C, token);
  return true;
}

bool sgemm_dot_nt(Idx M, Idx N, Idx K, const GatherMatrix& A, const GatherMatrix& B, float beta, float* C, Idx ldc) {
  if (!float_uses_strider() || sgemm_best_isa() != GemmIsa::Avx512) return false;
  sgemm_dot_nt_isa(GemmIsa::Avx512, M, N, K, A, B, beta, C, ldc);
  return true;
}

const char* gemm_backend_name() {
  static const std::string name = [] {
#if STRIDER_HAS_BLAS
    const std::string other = openblas_get_config();  // "OpenBLAS 0.3.21 ..."
#else
    const std::string other = "portable (built with STRIDER_BLAS=OFF)";
#endif
    if (float_uses_strider())
      return std::string("strider ") + gemm_isa_name(sgemm_best_isa()) + " sgemm (float); " + other + " (double)";
    return other + (float_uses_openblas() ? " (float: STRIDER_GEMM=openblas; double)" : " (float, double)");
  }();
  return name.c_str();
}

bool gemm_single_thread_held() { return t_single_thread > 0; }

BlasSingleThread::BlasSingleThread() {
  ++t_single_thread;
#if STRIDER_HAS_BLAS
  prev_ = openblas_get_num_threads();
  if (prev_ != 1) openblas_set_num_threads(1);
#else
  prev_ = 1;
#endif
}

BlasSingleThread::~BlasSingleThread() {
  --t_single_thread;
#if STRIDER_HAS_BLAS
  if (prev_ != 1) openblas_set_num_threads(prev_);
#endif
}

#define STRIDER_INSTANTIATE(T)                                                                           \
  template void gemm<T>(bool, bool, Idx, Idx, Idx, T, const T*, Idx, const T*, Idx, T, T*, Idx);         \
  template void gemm_portable<T>(bool, bool, Idx, Idx, Idx, T, const T*, Idx, const T*, Idx, T, T*, Idx);
STRIDER_INSTANTIATE(float)
STRIDER_INSTANTIATE(double)
#undef STRIDER_INSTANTIATE

}  // namespace strider::kernels::cpu
