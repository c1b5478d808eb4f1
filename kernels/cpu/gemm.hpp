// CPU GEMM for the matmul op and the im2col convolutions: row-major
//   C (M x N) = alpha * op(A) (M x K) * op(B) (K x N) + beta * C,   op(X) = X or X^T.
//
// gemm<float> is strider's own packed SGEMM (gemm_x86.cpp) for the best ISA this CPU has
// (AVX-512, else AVX2+FMA, chosen at run time), because OpenBLAS's own CPU detection can pick
// slow kernels (0.3.21 takes a Sapphire Rapids VM for "Prescott" and runs SSE3 code). Setting
// STRIDER_GEMM=openblas in the environment (read once) hands float back to OpenBLAS in a BLAS
// build. On a CPU with neither ISA, and for gemm<double>, gemm() is OpenBLAS's cblas_?gemm in a
// build with STRIDER_BLAS=ON (the default), and gemm_portable() otherwise.
//
// gemm_portable() is always compiled (and tested against a float64 reference in every build): a
// cache-blocked, packed loop nest in plain C++ that the compiler vectorises; correct for any
// shapes and leading dimensions, several times slower than OpenBLAS. It exists so that strider
// builds where OpenBLAS cannot be installed (a GPU machine that installs nothing), not to be fast.
//
// Threads: gemm() may use threads of its own (OpenBLAS's pool; strider's SGEMM and
// gemm_portable(): OpenMP when called outside a parallel region and the product is large).
// Callers that parallelise themselves hold it at one thread with BlasSingleThread for the duration.
#pragma once

#include <cstdint>

namespace strider::kernels::cpu {

template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A,
          std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc);

template <class T>
void gemm_portable(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A,
                   std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc);

// What gemm() runs, for float and for double, e.g.
// "strider avx512 sgemm (float); OpenBLAS 0.3.21 ... (double)".
const char* gemm_backend_name();

// strider's SGEMM per instruction set, for tests and benchmarks (gemm<float> picks the best).
enum class GemmIsa { Portable, Avx2, Avx512 };
// Whether this CPU (and OS) runs `isa`; Portable always.
bool gemm_isa_available(GemmIsa isa);
// Avx512, else Avx2 (with FMA), else Portable; decided once.
GemmIsa sgemm_best_isa();
const char* gemm_isa_name(GemmIsa isa);  // "portable", "avx2", "avx512"
// gemm<float> on `isa` (Portable: gemm_portable<float>); DeviceError when !gemm_isa_available(isa).
// reuse_token: see sgemm_reuse_a (0: none).
void sgemm_isa(GemmIsa isa, bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
               const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C,
               std::int64_t ldc, std::uint64_t reuse_token = 0);

// Reusing a packed op(A). A caller that multiplies one op(A) by many B's — a convolution pass, its
// weights by every column tile — takes a token per pass (sgemm_reuse_token(): never 0, never
// repeated) and passes it with each call. strider's SGEMM then packs op(A) once per thread and
// reuses the packed copy while (token, A, lda, trans_a, M, K) match (up to 16 MiB per thread).
// The caller promises that op(A)'s values do not change while it uses the token; a new pass takes
// a new token. Where strider's SGEMM is not used (STRIDER_GEMM=openblas, a CPU without AVX2) this
// is gemm<float>.
std::uint64_t sgemm_reuse_token();
void sgemm_reuse_a(std::uint64_t token, bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
                   float alpha, const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta,
                   float* C, std::int64_t ldc);

// A "separable gather" matrix (rows x cols): X[r][c] = base[row_offset[r] + col_offset[c]]
// (offsets in floats). An im2col matrix is one, read from a zero-padded copy of the image:
// row_offset is the kernel tap's offset, col_offset the output position's; so is a batch of NCHW
// images seen as a (channels x images * pixels) matrix.
struct GatherMatrix {
  const float* base;
  const std::int64_t* row_offset;
  const std::int64_t* col_offset;
};

// The same shape as a destination: C(i, j) is base[row_offset[i] + col_offset[j]].
struct ScatterMatrix {
  float* base;
  const std::int64_t* row_offset;
  const std::int64_t* col_offset;
};

// An input of sgemm_ex: a row-major matrix (data, ld), or, when `gather` is set, a GatherMatrix.
struct SgemmIn {
  const float* data = nullptr;
  std::int64_t ld = 0;
  const GatherMatrix* gather = nullptr;
};
// The output of sgemm_ex: a row-major matrix (data, ld), or, when `scatter` is set, a ScatterMatrix.
struct SgemmOut {
  float* data = nullptr;
  std::int64_t ld = 0;
  const ScatterMatrix* scatter = nullptr;
};

// C = alpha op(A) op(B) + beta C where any operand may be given by offsets, gathered straight
// into the GEMM's packed micro-panels and scattered straight from its register tiles: an
// implicit-GEMM convolution reads its im2col matrix from a padded copy of the image, and reads and
// writes batches of NCHW images, with no intermediate matrices. A gathered A cannot be transposed
// (ValueError). Entries of different rows of a ScatterMatrix may share a float only with beta == 1:
// then all of them are added, one after another (col2im's overlapping windows); the entries of one
// row never share a float. On the calling thread only.
// reuse_token as in sgemm_reuse_a (ignored for a gathered A). Returns false, touching nothing,
// where sgemm_gather_available() is false (then use explicit matrices and gemm).
// Whether sgemm_ex runs here (it returns false where not): strider's x86 SGEMM is gemm<float>.
bool sgemm_gather_available();
bool sgemm_ex(std::uint64_t reuse_token, bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
              float alpha, const SgemmIn& A, const SgemmIn& B, float beta, const SgemmOut& C);
// The same on `isa` (Avx2 or Avx512; DeviceError when not available or Portable), for tests.
void sgemm_ex_isa(GemmIsa isa, bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
                  const SgemmIn& A, const SgemmIn& B, float beta, const SgemmOut& C, std::uint64_t reuse_token = 0);

// C (M x N, row-major, ldc) = A . B^T + beta C with both operands given by offsets, A (M x K) and B
// (N x K), by dot products along k: for K much larger than M and N, where sgemm_ex would spend
// more time transposing its packed panels than multiplying (a first layer's backward-weight: 16
// kernel taps x 64 channels over thousands of output positions, both read along the positions).
// Fast where the column offsets step by 1 over long runs of k (an output row's positions), in 16
// lanes. Returns false, touching nothing, where it does not run (no AVX-512, or
// STRIDER_GEMM=openblas): use sgemm_ex then. On the calling thread.
bool sgemm_dot_nt(std::int64_t M, std::int64_t N, std::int64_t K, const GatherMatrix& A, const GatherMatrix& B,
                  float beta, float* C, std::int64_t ldc);
// The same on `isa` (Avx512 only; DeviceError otherwise), for tests.
void sgemm_dot_nt_isa(GemmIsa isa, std::int64_t M, std::int64_t N, std::int64_t K, const GatherMatrix& A,
                      const GatherMatrix& B, float beta, float* C, std::int64_t ldc);

// Internal: whether a BlasSingleThread is alive on this thread (the GEMMs then stay on it).
bool gemm_single_thread_held();

// Holds gemm() at one thread while it lives (restores the previous setting after).
class BlasSingleThread {
 public:
  BlasSingleThread();
  ~BlasSingleThread();
  BlasSingleThread(const BlasSingleThread&) = delete;
  BlasSingleThread& operator=(const BlasSingleThread&) = delete;

 private:
  int prev_;
};

}  // namespace strider::kernels::cpu
