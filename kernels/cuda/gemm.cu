// Hand-written CUDA GEMM for kernels/elementwise.hpp: row-major C = alpha op(A) op(B) + beta C.
//
// v1 (gemm_tiled_kernel): 64x64 output tile per 256-thread block, K in steps of 16 through
//     shared memory, each thread accumulating a 4x4 register tile.
//
// Mapping: block (bx, by) owns C[by*64 : by*64+64, bx*64 : bx*64+64]; thread t = ty*16 + tx owns
// rows ty + 16i and columns tx + 16j (i, j < 4), so a warp's shared-memory reads of B are
// consecutive and its reads of A broadcast. Tile loads are coalesced along each operand's
// contiguous dim (k for a plain A, m for a transposed A; n for a plain B, k for a transposed B).
// Out-of-range tile elements load as 0; beta == 0 never reads C (it may hold garbage).
#include <strider/kernels/cuda/elementwise.hpp>
#include <strider/kernels/cuda_runtime.hpp>

namespace strider::kernels::cuda {
namespace {

constexpr int kBM = 64, kBN = 64, kBK = 16, kThreads = 256, kMicro = 4;

template <class T>
__global__ void __launch_bounds__(kThreads)
gemm_tiled_kernel(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha,
                  const T* __restrict__ A, std::int64_t lda, const T* __restrict__ B, std::int64_t ldb, T beta,
                  T* __restrict__ C, std::int64_t ldc) {
  __shared__ T As[kBK][kBM];  // As[k][m]
  __shared__ T Bs[kBK][kBN];  // Bs[k][n]
  const int t = static_cast<int>(threadIdx.x), tx = t % 16, ty = t / 16;
  const std::int64_t row0 = static_cast<std::int64_t>(blockIdx.y) * kBM;
  const std::int64_t col0 = static_cast<std::int64_t>(blockIdx.x) * kBN;
  T acc[kMicro][kMicro];
  for (int i = 0; i < kMicro; ++i)
    for (int j = 0; j < kMicro; ++j) acc[i][j] = T(0);

  for (std::int64_t k0 = 0; k0 < K; k0 += kBK) {
    for (int l = t; l < kBM * kBK; l += kThreads) {
      const int m = trans_a ? l % kBM : l / kBK, ka = trans_a ? l / kBM : l % kBK;
      const std::int64_t gi = row0 + m, gk = k0 + ka;
      As[ka][m] = (gi < M && gk < K) ? (trans_a ? A[gk * lda + gi] : A[gi * lda + gk]) : T(0);
      const int n = trans_b ? l / kBK : l % kBN, kb = trans_b ? l % kBK : l / kBN;
      const std::int64_t gj = col0 + n, gk2 = k0 + kb;
      Bs[kb][n] = (gj < N && gk2 < K) ? (trans_b ? B[gj * ldb + gk2] : B[gk2 * ldb + gj]) : T(0);
    }
    __syncthreads();
    for (int kk = 0; kk < kBK; ++kk) {
      T a[kMicro], b[kMicro];
      for (int i = 0; i < kMicro; ++i) a[i] = As[kk][ty + 16 * i];
      for (int j = 0; j < kMicro; ++j) b[j] = Bs[kk][tx + 16 * j];
      for (int i = 0; i < kMicro; ++i)
        for (int j = 0; j < kMicro; ++j) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }
  for (int i = 0; i < kMicro; ++i) {
    const std::int64_t r = row0 + ty + 16 * i;
    if (r >= M) continue;
    for (int j = 0; j < kMicro; ++j) {
      const std::int64_t c = col0 + tx + 16 * j;
      if (c >= N) continue;
      T v = alpha * acc[i][j];
      if (beta != T(0)) v += beta * C[r * ldc + c];
      C[r * ldc + c] = v;
    }
  }
}

}  // namespace

template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A,
          std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc) {
  if (M == 0 || N == 0) return;
  const std::int64_t gx = (N + kBN - 1) / kBN, gy = (M + kBM - 1) / kBM;
  STRIDER_CHECK(gx <= 0x7fffffff && gy <= 65535, ShapeError,
                "gemm: a " << M << "x" << N << " result needs a " << gx << "x" << gy
                           << " grid of 64x64 tiles, over CUDA's limit of 65535 tile rows; split the rows");
  auto* kernel = &gemm_tiled_kernel<T>;
  STRIDER_LAUNCH(kernel, dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy)), dim3(kThreads), 0, 0, trans_a,
                 trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template void gemm<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*, std::int64_t,
                          const float*, std::int64_t, float, float*, std::int64_t);
template void gemm<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, double, const double*, std::int64_t,
                           const double*, std::int64_t, double, double*, std::int64_t);

}  // namespace strider::kernels::cuda
