// conv_bench: every pass (forward, backward-data, backward-weight) of every conv layer of the two
// DCGAN configurations (bench/bench.hpp: A 64x64 RGB batch 128, B 32x32 grey batch 64), on every
// backend this build and machine have. Names: conv/<config>/<layer>/<pass>/<backend>, e.g.
// conv/A/D.2/fwd/cpu. Backends:
//   cpu          kernels::cpu (im2col + OpenBLAS sgemm, OpenMP)                       always
//   cuda-direct  kernels::cuda, Conv2dAlgo::kDirect (v1)                              real CUDA + GPU
//   cuda-igemm   kernels::cuda, Conv2dAlgo::kImplicitGemm (v2)                        real CUDA + GPU
//   cudnn        kernels::cudnn, strider's cuDNN backend                              + cuDNN
//   cudnn-fp32   cuDNN directly, FMA math only (strict FP32; PyTorch allow_tf32=False) + cuDNN
//   cudnn-tf32   cuDNN directly, TF32 tensor cores allowed (allow_tf32=True)          + cuDNN
// Counters (from the measured time, per pass):
//   GFLOP/s, GB/s       Conv2dProblem::flops(); bytes of the pass's inputs and outputs, each once
//   %peak, %bw          of the machine's peak FLOP/s (TF32 peak for cudnn-tf32) and bandwidth
//   floor_us, %roofline max(FLOPs / peak, bytes / bandwidth) and that floor over the time
//   cpu_ms              (CPU) process CPU time per call, all threads: the work done, which other
//                       load on the machine inflates far less than the wall time
//   x_cudnn, x_cudnn_tf32  (GPU) time over cudnn-fp32's / cudnn-tf32's for the same pass
//   rel_err, sets       (GPU) output error against kernels::cpu; input sets rotated through
// Timing: CPU by the steady clock around each call after one warm-up call (per benchmark); GPU
// by CUDA events around a batch of launches after warm-up, rotating through enough input sets to
// exceed twice the L2 cache so no launch finds its inputs cached. Every benchmark uses manual
// time.
// Defaults when not given: --benchmark_min_time=0.05 --benchmark_repetitions=3
// --benchmark_display_aggregates_only=true (bench/README.md has the full run).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include <strider/config.hpp>
#include <strider/kernels/conv2d.hpp>

#include "bench.hpp"

namespace {

using namespace strider;
using namespace strider::bench;
using kernels::Conv2dPass;
using kernels::Conv2dProblem;

constexpr Conv2dPass kPasses[] = {Conv2dPass::kForward, Conv2dPass::kBackwardData, Conv2dPass::kBackwardWeight};

// ---- CPU ---------------------------------------------------------------------------------------

// The inputs of the benchmark running now, kept across its repetitions (drawing 30 M random
// floats again for each repetition would cost more than the pass).
struct CpuInputs {
  std::string key;
  std::vector<float> in0, in1, out;
};

void bm_cpu(benchmark::State& st, const ConvLayer& layer, Conv2dPass pass) {
  const Conv2dProblem& p = layer.problem;
  static CpuInputs buf;
  const std::string key = layer.config + "/" + layer.name + "/" + pass_short_name(pass);
  if (buf.key != key) {
    buf = CpuInputs{};
    const PassSizes n = pass_sizes(p, pass);
    buf.in0 = random_floats(n.in0, 1);
    buf.in1 = random_floats(n.in1, 2);
    buf.out.assign(static_cast<std::size_t>(n.out), std::nanf(""));
    try {
      run_cpu_pass(p, pass, buf.in0.data(), buf.in1.data(), buf.out.data());  // warm-up: buffers, threads
    } catch (const std::exception& e) {
      st.SkipWithError(e.what());
      return;
    }
    buf.key = key;
  }
  const std::vector<float>& in0 = buf.in0;
  const std::vector<float>& in1 = buf.in1;
  std::vector<float>& out = buf.out;
  double total = 0, cpu_total = 0;
  for (auto _ : st) {
    const double c0 = process_cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    run_cpu_pass(p, pass, in0.data(), in1.data(), out.data());
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    cpu_total += process_cpu_seconds() - c0;
    st.SetIterationTime(sec);
    total += sec;
  }
  benchmark::DoNotOptimize(out.data());
  const Peak& peak = cpu_peak();
  for (const auto& [counter, value] :
       conv_counters(layer.problem, pass, total / static_cast<double>(st.iterations()), peak.flops, peak.bytes))
    st.counters[counter] = value;
  st.counters["threads"] = cpu_threads();
  st.counters["cpu_ms"] = 1e3 * cpu_total / static_cast<double>(st.iterations());
  st.SetLabel(layer.describe());
}

}  // namespace

// GPU benchmarks: conv_bench_gpu.cpp (real CUDA builds), or this stub elsewhere.
namespace strider::bench {
void register_gpu_conv_benchmarks(const std::vector<ConvLayer>& layers);
}

namespace {

bool has_flag(int argc, char** argv, const char* flag) {
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], flag, std::strlen(flag)) == 0) return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  static char min_time[] = "--benchmark_min_time=0.05";
  static char repetitions[] = "--benchmark_repetitions=3";
  static char aggregates[] = "--benchmark_display_aggregates_only=true";
  if (!has_flag(argc, argv, "--benchmark_min_time")) args.push_back(min_time);
  if (!has_flag(argc, argv, "--benchmark_repetitions")) args.push_back(repetitions);
  if (!has_flag(argc, argv, "--benchmark_display_aggregates_only") &&
      !has_flag(argc, argv, "--benchmark_report_aggregates_only"))
    args.push_back(aggregates);
  int n = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;

  const Peak& cpu = cpu_peak();
  std::cerr << "conv_bench: CPU " << cpu_model_name() << ", " << cpu_threads() << " OpenMP threads\n"
            << "  peak FLOP/s: " << cpu.flops_how << "\n  bandwidth:   " << cpu.bytes_how << "\n";
  benchmark::AddCustomContext("cpu_model", cpu_model_name());
  benchmark::AddCustomContext("cpu_threads", std::to_string(cpu_threads()));
  benchmark::AddCustomContext("cpu_peak_gflops", std::to_string(cpu.flops / 1e9));
  benchmark::AddCustomContext("cpu_peak_how", cpu.flops_how);
  benchmark::AddCustomContext("cpu_bw_gbs", std::to_string(cpu.bytes / 1e9));
  benchmark::AddCustomContext("cpu_bw_how", cpu.bytes_how);

  const std::vector<ConvLayer> layers = all_dcgan_conv_layers();
  for (const ConvLayer& layer : layers) {
    for (Conv2dPass pass : kPasses) {
      const std::string name =
          "conv/" + layer.config + "/" + layer.name + "/" + pass_short_name(pass) + "/cpu";
      benchmark::RegisterBenchmark(name.c_str(), [layer, pass](benchmark::State& st) { bm_cpu(st, layer, pass); })
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  register_gpu_conv_benchmarks(layers);

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
