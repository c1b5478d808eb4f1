// conv_bench's GPU benchmarks (see conv_bench.cpp for names and counters): the hand-written CUDA
// kernels (both Conv2dAlgo versions), strider's cuDNN backend, and cuDNN called directly in strict
// FP32 and in TF32 (CudnnConvPlan, the baseline of the x_cudnn counters).
//
// Timing: CUDA events around a batch of launches on one stream, after warm-up. A benchmark owns S
// sets of its pass's buffers, S = enough sets to span twice the L2 cache (2..64), and a batch
// runs each set once in turn, so no launch finds its inputs in L2 from the launch before.
// Correctness: set 0's output is compared once per benchmark with kernels::cpu on the same inputs
// (counter rel_err = |out - ref|_2 / |ref|_2; FP32 ~1e-6, TF32 ~1e-3). A wrong kernel is not
// a fast one.
// In builds without real CUDA (CPU-only, emulated) and on machines without a GPU nothing is
// registered, and the reason is printed once.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <strider/config.hpp>
#include <strider/kernels/conv2d.hpp>

#include "bench.hpp"

#if STRIDER_HAS_CUDA && !STRIDER_EMULATED_CUDA
#include <strider/kernels/cuda_runtime.hpp>
#endif

namespace strider::bench {

#if STRIDER_HAS_CUDA && !STRIDER_EMULATED_CUDA
namespace {

using kernels::Conv2dPass;
using kernels::Conv2dProblem;

cudaStream_t bench_stream() {
  static cudaStream_t s = [] {
    cudaStream_t created = nullptr;
    STRIDER_CUDA_CHECK(cudaStreamCreateWithFlags(&created, cudaStreamNonBlocking));
    return created;
  }();
  return s;
}

// S sets of one pass's device buffers; inputs filled with the same random data as the CPU uses.
class DeviceSets {
 public:
  DeviceSets(const Conv2dProblem& p, Conv2dPass pass) : n_(pass_sizes(p, pass)) {
    const double set_bytes = 4.0 * static_cast<double>(n_.in0 + n_.in1 + n_.out);
    int l2 = 0;
    STRIDER_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, 0));
    std::size_t free_bytes = 0, total_bytes = 0;
    STRIDER_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    int sets = static_cast<int>(std::ceil(2.0 * l2 / set_bytes)) + 1;
    sets = std::clamp(sets, 2, 64);
    sets = std::max(1, std::min(sets, static_cast<int>(0.25 * static_cast<double>(free_bytes) / set_bytes)));
    const std::vector<float> h0 = random_floats(n_.in0, 1), h1 = random_floats(n_.in1, 2);
    for (int i = 0; i < sets; ++i) {
      Set s;
      s.in0 = alloc(h0);
      s.in1 = alloc(h1);
      s.out = alloc(std::vector<float>(static_cast<std::size_t>(n_.out), std::nanf("")));
      sets_.push_back(s);
    }
  }
  ~DeviceSets() {
    for (Set& s : sets_) {
      (void)cudaFree(s.in0);
      (void)cudaFree(s.in1);
      (void)cudaFree(s.out);
    }
  }
  DeviceSets(const DeviceSets&) = delete;
  DeviceSets& operator=(const DeviceSets&) = delete;

  struct Set { float* in0 = nullptr; float* in1 = nullptr; float* out = nullptr; };
  int size() const { return static_cast<int>(sets_.size()); }
  const Set& operator[](int i) const { return sets_[static_cast<std::size_t>(i)]; }
  std::vector<float> download_out(int i) const {
    std::vector<float> h(static_cast<std::size_t>(n_.out));
    STRIDER_CUDA_CHECK(cudaMemcpy(h.data(), sets_[static_cast<std::size_t>(i)].out, 4 * h.size(),
                                  cudaMemcpyDeviceToHost));
    return h;
  }

 private:
  static float* alloc(const std::vector<float>& host) {
    float* d = nullptr;
    STRIDER_CUDA_CHECK(cudaMalloc(&d, 4 * std::max<std::size_t>(host.size(), 1)));
    STRIDER_CUDA_CHECK(cudaMemcpy(d, host.data(), 4 * host.size(), cudaMemcpyHostToDevice));
    return d;
  }
  PassSizes n_;
  std::vector<Set> sets_;
};

using Launch = std::function<void(const float* in0, const float* in1, float* out)>;
// Makes a backend's launch for a pass (may search, e.g. cuDNN, on set 0's buffers).
using MakeLaunch = std::function<Launch(const Conv2dProblem&, Conv2dPass, const DeviceSets&)>;

// Seconds per launch of one batch (each set once), by CUDA events.
double time_batch(const DeviceSets& sets, const Launch& launch) {
  static cudaEvent_t start = nullptr, stop = nullptr;
  if (start == nullptr) {
    STRIDER_CUDA_CHECK(cudaEventCreate(&start));
    STRIDER_CUDA_CHECK(cudaEventCreate(&stop));
  }
  STRIDER_CUDA_CHECK(cudaEventRecord(start, bench_stream()));
  for (int i = 0; i < sets.size(); ++i) launch(sets[i].in0, sets[i].in1, sets[i].out);
  STRIDER_CUDA_CHECK(cudaEventRecord(stop, bench_stream()));
  STRIDER_CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0;
  STRIDER_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  return ms / 1e3 / sets.size();
}

std::string key_of(const ConvLayer& layer, Conv2dPass pass) {
  return layer.config + "/" + layer.name + "/" + pass_short_name(pass);
}

// kernels::cpu on the same inputs; the backends of one (layer, pass) run one after another, so
// the last one computed is kept.
const std::vector<float>& cpu_reference(const ConvLayer& layer, Conv2dPass pass) {
  static std::string key;
  static std::vector<float> ref;
  if (key == key_of(layer, pass)) return ref;
  const PassSizes n = pass_sizes(layer.problem, pass);
  const std::vector<float> h0 = random_floats(n.in0, 1), h1 = random_floats(n.in1, 2);
  ref.assign(static_cast<std::size_t>(n.out), 0.f);
  run_cpu_pass(layer.problem, pass, h0.data(), h1.data(), ref.data());
  key = key_of(layer, pass);
  return ref;
}

double relative_error(const std::vector<float>& out, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double d = static_cast<double>(out[i]) - ref[i];
    num += d * d;
    den += static_cast<double>(ref[i]) * ref[i];
  }
  if (std::isnan(num)) return INFINITY;
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// ---- backends ----------------------------------------------------------------------------------

MakeLaunch hand_written(kernels::cuda::Conv2dAlgo algo) {
  return [algo](const Conv2dProblem& p, Conv2dPass pass, const DeviceSets&) -> Launch {
    namespace c = kernels::cuda;
    const cudaStream_t s = bench_stream();
    switch (pass) {
      case Conv2dPass::kForward:
        return [p, s, algo](const float* a, const float* b, float* o) {
          if (p.transposed) c::conv_transpose2d_forward(p, a, b, nullptr, o, s, algo);
          else c::conv2d_forward(p, a, b, nullptr, o, s, algo);
        };
      case Conv2dPass::kBackwardData:
        return [p, s, algo](const float* a, const float* b, float* o) {
          if (p.transposed) c::conv_transpose2d_backward_data(p, a, b, o, s, algo);
          else c::conv2d_backward_data(p, a, b, o, s, algo);
        };
      case Conv2dPass::kBackwardWeight:
        return [p, s, algo](const float* a, const float* b, float* o) {
          if (p.transposed) c::conv_transpose2d_backward_weight(p, a, b, o, nullptr, s, algo);
          else c::conv2d_backward_weight(p, a, b, o, nullptr, s, algo);
        };
    }
    return {};
  };
}

#if STRIDER_HAS_CUDNN
MakeLaunch strider_cudnn() {
  return [](const Conv2dProblem& p, Conv2dPass pass, const DeviceSets&) -> Launch {
    namespace c = kernels::cudnn;
    const cudaStream_t s = bench_stream();
    switch (pass) {
      case Conv2dPass::kForward:
        return [p, s](const float* a, const float* b, float* o) {
          if (p.transposed) c::conv_transpose2d_forward(p, a, b, nullptr, o, s);
          else c::conv2d_forward(p, a, b, nullptr, o, s);
        };
      case Conv2dPass::kBackwardData:
        return [p, s](const float* a, const float* b, float* o) {
          if (p.transposed) c::conv_transpose2d_backward_data(p, a, b, o, s);
          else c::conv2d_backward_data(p, a, b, o, s);
        };
      case Conv2dPass::kBackwardWeight:
        return [p, s](const float* a, const float* b, float* o) {
          if (p.transposed) c::conv_transpose2d_backward_weight(p, a, b, o, nullptr, s);
          else c::conv2d_backward_weight(p, a, b, o, nullptr, s);
        };
    }
    return {};
  };
}

MakeLaunch direct_cudnn(CudnnMath math, std::string* algo_out = nullptr) {
  return [math, algo_out](const Conv2dProblem& p, Conv2dPass pass, const DeviceSets& sets) -> Launch {
    auto plan = std::make_shared<CudnnConvPlan>(p, pass, math, bench_stream(), sets[0].in0, sets[0].in1, sets[0].out);
    if (algo_out != nullptr) *algo_out = plan->algo_name();
    return [plan](const float* a, const float* b, float* o) { plan->run(a, b, o); };
  };
}

// Seconds per pass of cuDNN-direct on this (layer, pass): median of 15 batches after warm-up,
// measured once and cached; 0 when cuDNN failed (the ratio counter is then left out).
double cudnn_baseline(const ConvLayer& layer, Conv2dPass pass, CudnnMath math) {
  static std::map<std::string, double> cache;
  const std::string key = key_of(layer, pass) + (math == CudnnMath::kFp32 ? "/fp32" : "/tf32");
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  double seconds = 0;
  try {
    DeviceSets sets(layer.problem, pass);
    const Launch launch = direct_cudnn(math)(layer.problem, pass, sets);
    time_batch(sets, launch);
    time_batch(sets, launch);
    std::vector<double> t;
    for (int i = 0; i < 15; ++i) t.push_back(time_batch(sets, launch));
    std::nth_element(t.begin(), t.begin() + 7, t.end());
    seconds = t[7];
  } catch (const std::exception& e) {
    std::cerr << "conv_bench: cuDNN baseline for " << key << " failed: " << e.what() << "\n";
  }
  cache[key] = seconds;
  return seconds;
}
#endif

// The buffers, launch and error check of the benchmark running now, kept across its
// repetitions (one at a time: the previous one's device memory is freed first).
struct GpuContext {
  std::string key;
  std::unique_ptr<DeviceSets> sets;
  Launch launch;
  std::string algo;
  double rel_err = 0;
};

GpuContext& gpu_context(const ConvLayer& layer, Conv2dPass pass, const std::string& backend, const MakeLaunch& make) {
  static GpuContext ctx;
  const std::string key = key_of(layer, pass) + "/" + backend;
  if (ctx.key == key) return ctx;
  ctx.launch = nullptr;
  ctx.sets.reset();
  ctx = GpuContext{};
  const Conv2dProblem& p = layer.problem;
  ctx.sets = std::make_unique<DeviceSets>(p, pass);
#if STRIDER_HAS_CUDNN
  if (backend == "cudnn-fp32" || backend == "cudnn-tf32")
    ctx.launch =
        direct_cudnn(backend == "cudnn-fp32" ? CudnnMath::kFp32 : CudnnMath::kTf32, &ctx.algo)(p, pass, *ctx.sets);
  else
#endif
    ctx.launch = make(p, pass, *ctx.sets);
  time_batch(*ctx.sets, ctx.launch);  // warm-up: module load, handles, workspaces
  ctx.rel_err = relative_error(ctx.sets->download_out(ctx.sets->size() - 1), cpu_reference(layer, pass));
  ctx.key = key;
  return ctx;
}

void bm_gpu(benchmark::State& st, const ConvLayer& layer, Conv2dPass pass, const std::string& backend,
            const MakeLaunch& make) {
  try {
    GpuContext& ctx = gpu_context(layer, pass, backend, make);
    time_batch(*ctx.sets, ctx.launch);  // warm-up of this repetition
    double total = 0;
    for (auto _ : st) {
      const double sec = time_batch(*ctx.sets, ctx.launch);
      st.SetIterationTime(sec);
      total += sec;
    }
    const double t = total / static_cast<double>(st.iterations());
    const Peak& peak = gpu_peak();
    const bool tf32 = backend == "cudnn-tf32";
    for (const auto& [k, v] : conv_counters(layer.problem, pass, t, tf32 ? peak.tf32_flops : peak.flops, peak.bytes))
      st.counters[k] = v;
    st.counters["rel_err"] = ctx.rel_err;
    st.counters["sets"] = ctx.sets->size();
#if STRIDER_HAS_CUDNN
    if (const double fp32 = cudnn_baseline(layer, pass, CudnnMath::kFp32); fp32 > 0) st.counters["x_cudnn"] = t / fp32;
    if (const double tf = cudnn_baseline(layer, pass, CudnnMath::kTf32); tf > 0) st.counters["x_cudnn_tf32"] = t / tf;
#endif
    st.SetLabel(layer.describe() + (ctx.algo.empty() ? "" : " | " + ctx.algo));
  } catch (const std::exception& e) {
    st.SkipWithError(e.what());
  }
}

}  // namespace
#endif  // real CUDA

void register_gpu_conv_benchmarks(const std::vector<ConvLayer>& layers) {
  const std::string why = gpu_unavailable_reason();
  if (!why.empty()) {
    std::cerr << "conv_bench: GPU benchmarks (cuda-direct, cuda-igemm, cudnn*) not registered: " << why << "\n";
    return;
  }
#if STRIDER_HAS_CUDA && !STRIDER_EMULATED_CUDA
  const Peak& peak = gpu_peak();
  std::cerr << "conv_bench: GPU " << gpu_name() << "\n  peak FLOP/s: " << peak.flops_how
            << "\n  bandwidth:   " << peak.bytes_how << "\n";
  benchmark::AddCustomContext("gpu_name", gpu_name());
  benchmark::AddCustomContext("gpu_peak_tflops_fp32", std::to_string(peak.flops / 1e12));
  benchmark::AddCustomContext("gpu_peak_tflops_tf32", std::to_string(peak.tf32_flops / 1e12));
  benchmark::AddCustomContext("gpu_bw_tbs", std::to_string(peak.bytes / 1e12));
  benchmark::AddCustomContext("gpu_peak_how", peak.flops_how + "; " + peak.bytes_how);

  std::vector<std::pair<std::string, MakeLaunch>> backends = {
      {"cuda-direct", hand_written(kernels::cuda::Conv2dAlgo::kDirect)},
      {"cuda-igemm", hand_written(kernels::cuda::Conv2dAlgo::kImplicitGemm)},
  };
#if STRIDER_HAS_CUDNN
  backends.push_back({"cudnn", strider_cudnn()});
  backends.push_back({"cudnn-fp32", MakeLaunch()});
  backends.push_back({"cudnn-tf32", MakeLaunch()});
#else
  std::cerr << "conv_bench: cudnn benchmarks not registered: this build has no cuDNN (so no x_cudnn ratios)\n";
#endif
  constexpr Conv2dPass kPasses[] = {Conv2dPass::kForward, Conv2dPass::kBackwardData, Conv2dPass::kBackwardWeight};
  for (const ConvLayer& layer : layers) {
    for (Conv2dPass pass : kPasses) {
      for (const auto& [backend, make] : backends) {
        const std::string name =
            "conv/" + layer.config + "/" + layer.name + "/" + pass_short_name(pass) + "/" + backend;
        benchmark::RegisterBenchmark(name.c_str(), [layer, pass, backend = backend, make = make](benchmark::State& st) {
          bm_gpu(st, layer, pass, backend, make);
        })->UseManualTime()->Unit(benchmark::kMicrosecond);
      }
    }
  }
#else
  (void)layers;
#endif
}

}  // namespace strider::bench
