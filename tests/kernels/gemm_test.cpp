// kernels/cpu/gemm.hpp: gemm() (whatever this build and CPU run), gemm_portable() (every build)
// and strider's SGEMM on every ISA this CPU has (sgemm_isa) against a float64 triple loop, over odd
// shapes, both transposes, padded leading dimensions, alpha/beta cases, sizes that cross the
// blocks and micro-tiles, and the threaded and single-threaded paths.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include <strider/core/random.hpp>
#include <strider/core/tensor.hpp>
#include <strider/kernels/cpu/gemm.hpp>

namespace strider::kernels::cpu {
namespace {

using Idx = std::int64_t;

struct Case {
  Idx M, N, K;
  bool ta, tb;
  double alpha, beta;
  Idx pad;  // extra leading-dimension elements
};

template <class T>
std::vector<T> random_values(Idx n, std::uint64_t seed) {
  Generator g(seed);
  const auto v = Tensor::rand({std::max<Idx>(n, 1)}, g, DType::Float64, -1, 1).to_vector<double>();
  return std::vector<T>(v.begin(), v.begin() + n);
}

template <class T, class F>
void check(const Case& c, F&& fn, const std::string& what) {
  // op(A) is M x K: stored K x M when transposed.
  const Idx a_rows = c.ta ? c.K : c.M, a_cols = c.ta ? c.M : c.K;
  const Idx b_rows = c.tb ? c.N : c.K, b_cols = c.tb ? c.K : c.N;
  const Idx lda = a_cols + c.pad, ldb = b_cols + c.pad, ldc = c.N + c.pad;
  const auto A = random_values<T>(a_rows * lda, 1 + c.M);
  const auto B = random_values<T>(b_rows * ldb, 2 + c.N);
  auto C = random_values<T>(c.M * ldc, 3 + c.K);
  const auto C0 = C;
  if (c.beta == 0)  // beta 0 must overwrite: NaN in C may not survive
    for (Idx i = 0; i < c.M; ++i) C[static_cast<std::size_t>(i * ldc)] = std::nan("");
  fn(c.ta, c.tb, c.M, c.N, c.K, static_cast<T>(c.alpha), A.data(), lda, B.data(), ldb, static_cast<T>(c.beta), C.data(),
     ldc);
  const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-12;
  double worst = 0;
  for (Idx i = 0; i < c.M; ++i)
    for (Idx j = 0; j < ldc; ++j) {
      const double got = C[static_cast<std::size_t>(i * ldc + j)];
      if (j >= c.N) {  // the padding is never written
        ASSERT_EQ(got, static_cast<double>(C0[static_cast<std::size_t>(i * ldc + j)])) << what << " wrote padding";
        continue;
      }
      double ref = 0, mag = 0;
      for (Idx k = 0; k < c.K; ++k) {
        const double a = c.ta ? A[static_cast<std::size_t>(k * lda + i)] : A[static_cast<std::size_t>(i * lda + k)];
        const double b = c.tb ? B[static_cast<std::size_t>(j * ldb + k)] : B[static_cast<std::size_t>(k * ldb + j)];
        ref += a * b;
        mag += std::abs(a * b);
      }
      const double c0 = C0[static_cast<std::size_t>(i * ldc + j)];
      ref = c.alpha * ref + (c.beta == 0 ? 0.0 : c.beta * c0);
      const double err = std::abs(got - ref) / (tol * (std::abs(c.alpha) * mag + std::abs(c.beta * c0) + 1));
      worst = std::max(worst, err);
      ASSERT_LE(err, 1.0) << what << " M " << c.M << " N " << c.N << " K " << c.K << " ta " << c.ta << " tb " << c.tb
                          << " alpha " << c.alpha << " beta " << c.beta << " at (" << i << ", " << j << "): got "
                          << got << ", float64 reference " << ref;
    }
}

std::vector<Case> cases() {
  std::vector<Case> out;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      out.push_back({1, 1, 1, ta, tb, 1, 0, 0});
      out.push_back({7, 5, 3, ta, tb, 1, 0, 2});
      out.push_back({1, 37, 13, ta, tb, 0.5, 1, 0});       // one row (GEMV-like)
      out.push_back({33, 1, 70, ta, tb, -2, 0.25, 1});     // one column
      out.push_back({67, 259, 300, ta, tb, 1, 0, 3});      // crosses the 32/256/256 blocks
      out.push_back({130, 70, 513, ta, tb, 1.5, -1, 0});   // K over two panels, threaded
      out.push_back({5, 6, 0, ta, tb, 1, 0.5, 0});         // K = 0: C = beta C
      out.push_back({9, 11, 4, ta, tb, 0, 2, 1});          // alpha = 0: C = beta C
    }
  return out;
}

TEST(Gemm, BuildGemmMatchesFloat64Reference) {
  for (const Case& c : cases()) {
    check<float>(c, gemm<float>, std::string("gemm<float> (") + gemm_backend_name() + ")");
    check<double>(c, gemm<double>, "gemm<double>");
  }
}

TEST(Gemm, PortableGemmMatchesFloat64Reference) {
  for (const Case& c : cases()) {
    check<float>(c, gemm_portable<float>, "gemm_portable<float>");
    check<double>(c, gemm_portable<double>, "gemm_portable<double>");
  }
}

TEST(Gemm, PortableGemmSingleThreadedAndInsideParallelRegions) {
  const Case c{100, 300, 260, false, true, 1, 0, 0};
  {
    BlasSingleThread hold;
    check<float>(c, gemm_portable<float>, "gemm_portable under BlasSingleThread");
  }
  // Each thread of a parallel region runs its own GEMM on the calling thread.
#pragma omp parallel num_threads(2)
  {
    const Case mine{40 + omp_get_thread_num(), 70, 90, omp_get_thread_num() == 1, false, 1, 0.5, 1};
    check<double>(mine, gemm_portable<double>, "gemm_portable in a parallel region");
  }
}

// Shapes aimed at the packed SGEMM: partial MR x NR tiles (MR 12 / 6, NR 32 / 16), K = 1, K a
// multiple of KC (256), K past KC but not a multiple, and products large enough to thread.
std::vector<Case> sgemm_edge_cases() {
  std::vector<Case> out;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      out.push_back({12, 32, 1, ta, tb, 1, 0, 0});        // one full tile, K = 1
      out.push_back({13, 33, 1, ta, tb, 1, 0.5, 1});      // a tile plus one row and column
      out.push_back({11, 31, 17, ta, tb, -1, 0, 2});      // less than one tile
      out.push_back({24, 64, 256, ta, tb, 1, 1, 0});      // K = KC exactly
      out.push_back({25, 47, 600, ta, tb, 0.75, 0, 3});   // K > KC, not a multiple
      out.push_back({150, 70, 40, ta, tb, 1, 0, 0});      // past MC (144 / 120)
      out.push_back({200, 300, 260, ta, tb, 1, -0.5, 1}); // threaded: M < N, split over columns
      out.push_back({301, 45, 333, ta, tb, 2, 0, 0});     // threaded: M > N, split over rows
    }
  out.push_back({20, 2100, 30, false, false, 1, 0, 0});   // past NC (2048), threaded
  return out;
}

const GemmIsa kIsas[] = {GemmIsa::Portable, GemmIsa::Avx2, GemmIsa::Avx512};

// One test per ISA, so a CPU without one shows a skip naming it.
class SgemmIsa : public ::testing::TestWithParam<GemmIsa> {};

TEST_P(SgemmIsa, MatchesFloat64Reference) {
  const GemmIsa isa = GetParam();
  if (!gemm_isa_available(isa)) GTEST_SKIP() << "sgemm " << gemm_isa_name(isa) << " is not available on this CPU";
  const std::string what = std::string("sgemm_isa(") + gemm_isa_name(isa) + ")";
  const auto fn = [isa](auto&&... args) { sgemm_isa(isa, args...); };
  for (const Case& c : cases()) check<float>(c, fn, what);
  for (const Case& c : sgemm_edge_cases()) check<float>(c, fn, what);
}

TEST_P(SgemmIsa, SingleThreadedAndInsideParallelRegions) {
  const GemmIsa isa = GetParam();
  if (!gemm_isa_available(isa)) GTEST_SKIP() << "sgemm " << gemm_isa_name(isa) << " is not available on this CPU";
  const auto fn = [isa](auto&&... args) { sgemm_isa(isa, args...); };
  const Case c{100, 300, 260, false, true, 1, 0, 0};
  {
    BlasSingleThread hold;
    check<float>(c, fn, std::string("sgemm_isa(") + gemm_isa_name(isa) + ") under BlasSingleThread");
  }
#pragma omp parallel num_threads(2)
  {
    const int t = omp_get_thread_num();
    const Case mine{140 + t, 290 + 3 * t, 300, t == 1, t == 0, 1, 0.5, 1};
    check<float>(mine, fn, std::string("sgemm_isa(") + gemm_isa_name(isa) + ") in a parallel region");
  }
}

TEST_P(SgemmIsa, RejectsOrRunsAsAvailable) {
  const GemmIsa isa = GetParam();
  float c = 1;
  const float a = 2, b = 3;
  if (!gemm_isa_available(isa)) {
    EXPECT_THROW(sgemm_isa(isa, false, false, 1, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &c, 1), DeviceError);
    GTEST_SKIP() << "sgemm " << gemm_isa_name(isa) << " is not available on this CPU";
  }
  sgemm_isa(isa, false, false, 1, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &c, 1);
  EXPECT_EQ(c, 6.0f);
}

// sgemm_reuse_a's contract: one token per op(A); the packed copy is reused across calls (also with
// N beyond one column block, and K beyond one depth slice), and a new token or another A repacks.
TEST_P(SgemmIsa, ReusedPackedAMatchesReferenceAcrossCalls) {
  const GemmIsa isa = GetParam();
  if (!gemm_isa_available(isa)) GTEST_SKIP() << "sgemm " << gemm_isa_name(isa) << " is not available on this CPU";
  const Idx M = 37, K = 600;
  for (const bool ta : {false, true}) {
    const Idx lda = (ta ? M : K) + 1;
    auto A = random_values<float>((ta ? K : M) * lda, 50 + ta);
    const auto a_at = [&](const std::vector<float>& a, Idx i, Idx k) {
      return static_cast<double>(ta ? a[static_cast<std::size_t>(k * lda + i)] : a[static_cast<std::size_t>(i * lda + k)]);
    };
    const auto run = [&](std::uint64_t token, const std::vector<float>& a, Idx N, std::uint64_t seed) {
      const auto B = random_values<float>(K * N, seed);
      auto C = random_values<float>(M * N, seed + 1);
      const auto C0 = C;
      sgemm_isa(isa, ta, false, M, N, K, 1.0f, a.data(), lda, B.data(), N, 0.5f, C.data(), N, token);
      for (Idx i = 0; i < M; ++i)
        for (Idx j = 0; j < N; ++j) {
          double ref = 0.5 * C0[static_cast<std::size_t>(i * N + j)], mag = std::abs(ref);
          for (Idx k = 0; k < K; ++k) {
            const double t = a_at(a, i, k) * B[static_cast<std::size_t>(k * N + j)];
            ref += t;
            mag += std::abs(t);
          }
          ASSERT_NEAR(C[static_cast<std::size_t>(i * N + j)], ref, 2e-5 * (mag + 1))
              << gemm_isa_name(isa) << " ta " << ta << " N " << N << " token " << token << " at (" << i << ", " << j << ")";
        }
    };
    const std::uint64_t t1 = sgemm_reuse_token();
    run(t1, A, 50, 60);
    run(t1, A, 2100, 61);  // reused; two column blocks
    run(t1, A, 7, 62);
    for (float& v : A) v = -v + 0.25f;  // new values: the caller takes a new token
    const std::uint64_t t2 = sgemm_reuse_token();
    EXPECT_NE(t1, t2);
    run(t2, A, 33, 63);
    const std::vector<float> copy = A;  // same values elsewhere: the pointer is part of the key
    run(t2, copy, 33, 64);
    run(t2, A, 33, 65);
  }
}

// A matrix's values scattered into a NaN-filled buffer for sgemm_ex's GatherMatrix: runs of `run`
// columns with gaps between them, rows in reverse order, so a gather that reads a wrong float
// shows as NaN or a wrong value (run 1: a pure gather; 16 and more: whole vectors).
struct Gathered {
  std::vector<Idx> row_offset, col_offset;
  std::vector<float> base;
  GatherMatrix g() const { return {base.data(), row_offset.data(), col_offset.data()}; }
  Gathered(const float* x, Idx rows, Idx cols, Idx ld, Idx run) {
    const Idx gap = 5;
    col_offset.resize(static_cast<std::size_t>(cols));
    row_offset.resize(static_cast<std::size_t>(rows));
    for (Idx c = 0; c < cols; ++c) col_offset[static_cast<std::size_t>(c)] = c + (c / run) * gap;
    const Idx row_stride = (cols > 0 ? col_offset.back() + 1 : 0) + gap;
    for (Idx r = 0; r < rows; ++r) row_offset[static_cast<std::size_t>(r)] = (rows - 1 - r) * row_stride + 2;
    base.assign(static_cast<std::size_t>(rows * row_stride + 2), std::nanf(""));
    for (Idx r = 0; r < rows; ++r)
      for (Idx c = 0; c < cols; ++c)
        base[static_cast<std::size_t>(row_offset[static_cast<std::size_t>(r)] + col_offset[static_cast<std::size_t>(c)])] =
            x[r * ld + c];
  }
};

// sgemm_ex_isa with A, B or both gathered (a gathered A only untransposed), into a plain C: the same
// cases and float64 reference as the plain SGEMM.
TEST_P(SgemmIsa, GatheredOperandsMatchFloat64Reference) {
  const GemmIsa isa = GetParam();
  float c = 0;
  const float a = 1;
  const Idx off = 0;
  const GatherMatrix one{&a, &off, &off};
  if (isa == GemmIsa::Portable) {
    EXPECT_THROW(sgemm_ex_isa(isa, false, false, 1, 1, 1, 1.0f, SgemmIn{&a, 1, nullptr}, SgemmIn{nullptr, 0, &one}, 0.0f,
                              SgemmOut{&c, 1, nullptr}),
                 DeviceError);
    GTEST_SKIP() << "no sgemm_ex for the portable ISA (the convolutions use explicit matrices there)";
  }
  if (!gemm_isa_available(isa)) GTEST_SKIP() << "sgemm " << gemm_isa_name(isa) << " is not available on this CPU";
  EXPECT_THROW(sgemm_ex_isa(isa, true, false, 1, 1, 1, 1.0f, SgemmIn{nullptr, 0, &one}, SgemmIn{&a, 1, nullptr}, 0.0f,
                            SgemmOut{&c, 1, nullptr}),
               ValueError);
  for (const Idx run : {1, 4, 16, 19})
    for (const int which : {1, 2, 3}) {  // bit 0: A gathered, bit 1: B gathered
      const std::string what = std::string("sgemm_ex_isa(") + gemm_isa_name(isa) + "), " +
                               (which == 1 ? "A" : which == 2 ? "B" : "A and B") + " gathered in runs of " +
                               std::to_string(run);
      const auto fn = [&](bool ta, bool tb, Idx M, Idx N, Idx K, float alpha, const float* A, Idx lda, const float* B,
                          Idx ldb, float beta, float* C, Idx ldc) {
        const bool ga = (which & 1) && !ta, gb = (which & 2) != 0;
        const Gathered a_g(A, ta ? K : M, ta ? M : K, lda, run), b_g(B, tb ? N : K, tb ? K : N, ldb, run);
        const GatherMatrix am = a_g.g(), bm = b_g.g();
        sgemm_ex_isa(isa, ta, tb, M, N, K, alpha, ga ? SgemmIn{nullptr, 0, &am} : SgemmIn{A, lda, nullptr},
                     gb ? SgemmIn{nullptr, 0, &bm} : SgemmIn{B, ldb, nullptr}, beta, SgemmOut{C, ldc, nullptr});
      };
      for (const Case& cs : cases()) check<float>(cs, fn, what);
      for (const Case& cs : sgemm_edge_cases()) check<float>(cs, fn, what);
    }
}

// sgemm_ex_isa into a ScatterMatrix: C(i, j) = alpha (op(A) op(B))(i, j) + beta C(i, j) at
// base[row_offset[i] + col_offset[j]], in runs of `run` columns with gaps. Distinct floats with the
// case's beta; and rows that overlap (row_offset stepping by a third of a row, as col2im's kernel
// taps do) with beta 1, where every product must be added. Every float of the buffer, touched or
// not, is checked against a float64 scatter. A gathered B rides along for some runs.
TEST_P(SgemmIsa, ScatteredCMatchesFloat64Reference) {
  const GemmIsa isa = GetParam();
  if (isa == GemmIsa::Portable) GTEST_SKIP() << "no sgemm_ex for the portable ISA";
  if (!gemm_isa_available(isa)) GTEST_SKIP() << "sgemm " << gemm_isa_name(isa) << " is not available on this CPU";
  for (const Idx run : {1, 4, 8, 16, 21})
    for (const bool overlap : {false, true})
      for (std::vector<Case> list : {cases(), sgemm_edge_cases()})
        for (const Case& c : list) {
          const double beta = overlap ? 1.0 : c.beta;
          const Idx a_rows = c.ta ? c.K : c.M, a_cols = c.ta ? c.M : c.K;
          const Idx b_rows = c.tb ? c.N : c.K, b_cols = c.tb ? c.K : c.N;
          const Idx lda = a_cols + c.pad, ldb = b_cols + c.pad, gap = 3;
          const auto A = random_values<float>(a_rows * lda, 7 + c.M);
          const auto B = random_values<float>(b_rows * ldb, 8 + c.N);
          std::vector<Idx> row_offset(static_cast<std::size_t>(c.M)), col_offset(static_cast<std::size_t>(c.N));
          for (Idx j = 0; j < c.N; ++j) col_offset[static_cast<std::size_t>(j)] = j + (j / run) * gap;
          const Idx span = c.N > 0 ? col_offset.back() + 1 : 1, step = overlap ? std::max<Idx>(1, span / 3) : span + gap;
          for (Idx i = 0; i < c.M; ++i) row_offset[static_cast<std::size_t>(i)] = 1 + i * step;
          auto base = random_values<float>(1 + c.M * step + span + 2, 9 + c.K);
          std::vector<double> ref(base.begin(), base.end()), mag(base.size(), 1.0);
          if (beta != 1.0)
            for (Idx i = 0; i < c.M; ++i)
              for (Idx j = 0; j < c.N; ++j) {
                const auto at = static_cast<std::size_t>(row_offset[static_cast<std::size_t>(i)] + col_offset[static_cast<std::size_t>(j)]);
                ref[at] = beta == 0.0 ? 0.0 : beta * ref[at];
                mag[at] = std::abs(ref[at]) + 1;
              }
          for (Idx i = 0; i < c.M; ++i)
            for (Idx j = 0; j < c.N; ++j) {
              double dot = 0, m = 0;
              for (Idx k = 0; k < c.K; ++k) {
                const double a = c.ta ? A[static_cast<std::size_t>(k * lda + i)] : A[static_cast<std::size_t>(i * lda + k)];
                const double b = c.tb ? B[static_cast<std::size_t>(j * ldb + k)] : B[static_cast<std::size_t>(k * ldb + j)];
                dot += a * b;
                m += std::abs(a * b);
              }
              const auto at = static_cast<std::size_t>(row_offset[static_cast<std::size_t>(i)] + col_offset[static_cast<std::size_t>(j)]);
              ref[at] += c.alpha * dot;
              mag[at] += std::abs(c.alpha) * m;
            }
          const Gathered b_g(B.data(), b_rows, b_cols, ldb, run);
          const GatherMatrix bm = b_g.g();
          const ScatterMatrix dst{base.data(), row_offset.data(), col_offset.data()};
          sgemm_ex_isa(isa, c.ta, c.tb, c.M, c.N, c.K, static_cast<float>(c.alpha), SgemmIn{A.data(), lda, nullptr},
                       run % 2 == 0 ? SgemmIn{nullptr, 0, &bm} : SgemmIn{B.data(), ldb, nullptr}, static_cast<float>(beta),
                       SgemmOut{nullptr, 0, &dst});
          for (std::size_t e = 0; e < base.size(); ++e)
            ASSERT_LE(std::abs(base[e] - ref[e]), 2e-5 * mag[e])
                << gemm_isa_name(isa) << " runs of " << run << (overlap ? ", overlapping rows" : "") << " M " << c.M
                << " N " << c.N << " K " << c.K << " ta " << c.ta << " tb " << c.tb << " alpha " << c.alpha << " beta "
                << beta << ": float " << e << " is " << base[e] << ", float64 " << ref[e];
        }
}

// sgemm_dot_nt_isa: C = A . B^T + beta C, both operands gathered (Gathered: runs of `run` columns,
// rows reversed, NaN between), against float64: sizes around its 6 x 4 blocks and 16-lane steps,
// runs of 1 (no vector step is whole), 7, 16 and 19, K from 1 to long. Only AVX-512 has it.
TEST_P(SgemmIsa, DotProductNtMatchesFloat64Reference) {
  const GemmIsa isa = GetParam();
  const float a = 1;
  const Idx off = 0;
  const GatherMatrix one{&a, &off, &off};
  float c = 0;
  if (isa != GemmIsa::Avx512 || !gemm_isa_available(isa)) {
    EXPECT_THROW(sgemm_dot_nt_isa(isa, 1, 1, 1, one, one, 0.0f, &c, 1), DeviceError);
    GTEST_SKIP() << "sgemm_dot_nt is AVX-512 only";
  }
  for (const Idx run : {1, 7, 16, 19})
    for (const Idx M : {1, 5, 6, 7, 64})
      for (const Idx N : {1, 4, 5, 16})
        for (const Idx K : {1, 15, 16, 33, 700}) {
          const auto A = random_values<float>(M * K, 81 + M + K), B = random_values<float>(N * K, 82 + N + K);
          const Gathered ag(A.data(), M, K, K, run), bg(B.data(), N, K, K, (run * 3) % 23 + 1);
          const GatherMatrix am = ag.g(), bm = bg.g();
          for (const float beta : {0.0f, 0.5f}) {
            const Idx ldc = N + 3;
            const auto C0 = random_values<float>(M * ldc, 83);
            auto C = C0;
            sgemm_dot_nt_isa(isa, M, N, K, am, bm, beta, C.data(), ldc);
            for (Idx i = 0; i < M; ++i)
              for (Idx j = 0; j < ldc; ++j) {
                const auto at = static_cast<std::size_t>(i * ldc + j);
                if (j >= N) {
                  ASSERT_EQ(C[at], C0[at]) << "wrote past N";
                  continue;
                }
                double dot = 0, mag = 0;
                for (Idx k = 0; k < K; ++k) {
                  const double t = double{A[static_cast<std::size_t>(i * K + k)]} * B[static_cast<std::size_t>(j * K + k)];
                  dot += t, mag += std::abs(t);
                }
                const double ref = dot + beta * double{C0[at]};
                ASSERT_LE(std::abs(C[at] - ref), 2e-6 * (mag + 1))
                    << "runs of " << run << " M " << M << " N " << N << " K " << K << " beta " << beta << " C(" << i
                    << ", " << j << ")";
              }
          }
        }
}

INSTANTIATE_TEST_SUITE_P(Gemm, SgemmIsa, ::testing::ValuesIn(kIsas),
                         [](const ::testing::TestParamInfo<GemmIsa>& param_info) {
                           return std::string(gemm_isa_name(param_info.param));
                         });

TEST(Gemm, FloatUsesBestIsa) {
  const std::string name = gemm_backend_name();
  const char* env = std::getenv("STRIDER_GEMM");
  if (sgemm_best_isa() != GemmIsa::Portable && !(env && std::string(env) == "openblas")) {
    EXPECT_NE(name.find(std::string("strider ") + gemm_isa_name(sgemm_best_isa())), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace strider::kernels::cpu
