// gemm_bench: float GEMM throughput of strider's SGEMM per ISA (kernels/cpu/gemm.hpp, sgemm_isa)
// against OpenBLAS, on 1 and 2 threads. Not a test: a print for comparing kernels.
//   gemm/<M>x<N>x<K>/<backend>/threads:<n>   backend: openblas | portable | avx2 | avx512
// openblas is gemm<float> with STRIDER_GEMM=openblas, which main() sets before the first GEMM (in
// a build without BLAS that row is the portable GEMM; the label says so). Run it also with
// OPENBLAS_CORETYPE=SkylakeX to see OpenBLAS with its AVX-512 kernels. 1 thread: under
// BlasSingleThread (both libraries stay on the calling thread); 2 threads: omp_set_num_threads(2)
// for strider, OpenBLAS's own pool (one thread per core). Operands are row-major, not transposed
// (the im2col forward convolution). Counter GFLOP/s = 2 M N K per call over the wall time.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <strider/kernels/cpu/gemm.hpp>

namespace {

using namespace strider::kernels::cpu;
using Idx = std::int64_t;

struct Shape {
  Idx M, N, K;
};
// A square product and three conv-like ones (from im2col of the DCGAN layers).
constexpr Shape kShapes[] = {{512, 512, 512}, {128, 4096, 1024}, {64, 16384, 48}, {1024, 256, 2048}};

std::vector<float> random_floats(Idx n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = d(rng);
  return v;
}

// isa empty: gemm<float> (OpenBLAS here).
void bm_gemm(benchmark::State& st, Shape s, std::optional<GemmIsa> isa, int threads) {
  const auto A = random_floats(s.M * s.K, 1), B = random_floats(s.K * s.N, 2);
  auto C = random_floats(s.M * s.N, 3);
  omp_set_num_threads(threads);
  std::unique_ptr<BlasSingleThread> hold;
  if (threads == 1) hold = std::make_unique<BlasSingleThread>();
  const auto call = [&] {
    if (isa)
      sgemm_isa(*isa, false, false, s.M, s.N, s.K, 1.0f, A.data(), s.K, B.data(), s.N, 0.0f, C.data(), s.N);
    else
      gemm<float>(false, false, s.M, s.N, s.K, 1.0f, A.data(), s.K, B.data(), s.N, 0.0f, C.data(), s.N);
  };
  call();  // warm-up: packing buffers, thread pools
  for (auto _ : st) {
    call();
    benchmark::DoNotOptimize(C.data());
    benchmark::ClobberMemory();
  }
  st.counters["GFLOP/s"] = benchmark::Counter(2e-9 * static_cast<double>(s.M * s.N * s.K),
                                              benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

int main(int argc, char** argv) {
  setenv("STRIDER_GEMM", "openblas", 1);  // gemm<float> = OpenBLAS; read at the first GEMM
  std::cout << "gemm<float>: " << gemm_backend_name() << "\n";
  const std::string base_name = std::string(gemm_backend_name()).rfind("OpenBLAS", 0) == 0 ? "openblas" : "build-gemm";
  for (const Shape& s : kShapes)
    for (int threads : {1, 2}) {
      const std::string shape =
          "gemm/" + std::to_string(s.M) + "x" + std::to_string(s.N) + "x" + std::to_string(s.K) + "/";
      const std::string suffix = "/threads:" + std::to_string(threads);
      benchmark::RegisterBenchmark((shape + base_name + suffix).c_str(), bm_gemm, s, std::nullopt, threads)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
      for (GemmIsa isa : {GemmIsa::Portable, GemmIsa::Avx2, GemmIsa::Avx512})
        if (gemm_isa_available(isa))
          benchmark::RegisterBenchmark((shape + gemm_isa_name(isa) + suffix).c_str(), bm_gemm, s,
                                       std::optional<GemmIsa>(isa), threads)
              ->UseRealTime()
              ->Unit(benchmark::kMillisecond);
    }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
