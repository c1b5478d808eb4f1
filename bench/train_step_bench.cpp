// train_step_bench: one full DCGAN training step (pytorch/examples dcgan: D on real then on
// detached fake with BCE, one Adam step for D; G through D with BCE against "real", one Adam step
// for G) for configurations A and B (bench/bench.hpp), per device:
//   train/<config>/cpu     strider's CPU kernels (OpenMP threads: counter `threads`)
//   train/<config>/cuda    strider's hand-written CUDA kernels          (real CUDA build + GPU)
//   train/<config>/cudnn   the same, convolutions through cuDNN          (+ cuDNN)
// Built from core/nn.hpp's functional ops directly (conv2d, conv_transpose2d, batch_norm, relu,
// leaky_relu, tanh, sigmoid, binary_cross_entropy, adam_step) so it does not depend on models/;
// when models/ has the DCGAN, this can switch to it (bench/README.md).
// Weights: conv N(0, 0.02); batch-norm weight N(1, 0.02), bias 0 (the example's weights_init).
// Adam lr 2e-4, betas (0.5, 0.999). No conv has a bias. "Real" images: a fixed random batch in
// [-1, 1]; noise: fresh N(0, 1) every step.
// Counters: ms/step is the reported time; images/s; cpu_ms (process CPU time per step, all
// threads: far less inflated than wall time by other load on the machine); conv GFLOP/step (the conv passes autograd
// runs, see conv_flops_per_step) and GFLOP/s; peak_rss_MiB: peak resident memory (VmHWM: a
// child's ru_maxrss would include this process's peak, carried over by Linux) of a child process
// (this program with --rss-only) that builds the model and runs 3 steps and nothing else, and
// page_faults/step: the minor page faults of that child's steps 2 and 3, per step (memory mapped
// afresh every step: the CPU allocator's cache misses); on a GPU also peak_gpu_MiB, strider's
// allocator peak during the timed steps.
// Defaults when not given: --benchmark_min_time=0.05 --benchmark_repetitions=3.
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <strider/config.hpp>
#include <strider/core/autograd.hpp>
#include <strider/core/cuda.hpp>
#include <strider/core/nn.hpp>
#include <strider/core/ops.hpp>
#include <strider/core/tensor.hpp>

#include "bench.hpp"

namespace {

using namespace strider;
using namespace strider::bench;

struct Param {
  Tensor value, exp_avg, exp_avg_sq;
};
struct Norm {
  int param = -1;  // index of the weight in Net::params (the bias follows it)
  Tensor running_mean, running_var;
};
struct Net {
  std::vector<ConvLayer> layers;
  std::vector<int> conv_param;  // per layer: index of its weight in params
  std::vector<Norm> norm;       // per layer: param -1 when the layer has no batch norm
  std::vector<Param> params;
};

Tensor leaf(Tensor t) {
  t.requires_grad_(true);
  return t;
}

// G: batch norm after every layer but the last; D: after every layer but the first and the last.
Net make_net(const DcganConfig& c, bool generator, Device dev, Generator& gen) {
  Net net;
  for (const ConvLayer& l : dcgan_conv_layers(c))
    if ((l.name[0] == 'G') == generator) net.layers.push_back(l);
  const TensorOptions opts(dev);
  const std::size_t last = net.layers.size() - 1;
  for (std::size_t i = 0; i < net.layers.size(); ++i) {
    const kernels::Conv2dProblem& p = net.layers[i].problem;
    // conv2d weight (K, C, R, S); conv_transpose2d weight (C, K, R, S).
    const Shape wshape = p.transposed ? Shape{p.C, p.K, p.R, p.S} : Shape{p.K, p.C, p.R, p.S};
    net.conv_param.push_back(static_cast<int>(net.params.size()));
    net.params.push_back({leaf(Tensor::randn(wshape, gen, opts, 0.0, 0.02)), Tensor(), Tensor()});
    Norm norm;
    const bool has_norm = generator ? i != last : (i != 0 && i != last);
    if (has_norm) {
      norm.param = static_cast<int>(net.params.size());
      net.params.push_back({leaf(Tensor::randn({p.K}, gen, opts, 1.0, 0.02)), Tensor(), Tensor()});
      net.params.push_back({leaf(Tensor::zeros({p.K}, opts)), Tensor(), Tensor()});
      norm.running_mean = Tensor::zeros({p.K}, opts);
      norm.running_var = Tensor::ones({p.K}, opts);
    }
    net.norm.push_back(norm);
  }
  for (Param& prm : net.params) {
    prm.exp_avg = Tensor::zeros(prm.value.shape(), opts);
    prm.exp_avg_sq = Tensor::zeros(prm.value.shape(), opts);
  }
  return net;
}

Tensor forward(Net& net, Tensor x, bool generator) {
  const std::size_t last = net.layers.size() - 1;
  for (std::size_t i = 0; i < net.layers.size(); ++i) {
    const kernels::Conv2dProblem& p = net.layers[i].problem;
    Conv2dOptions opt;
    opt.stride = {p.stride_h, p.stride_w};
    opt.padding = {p.pad_h, p.pad_w};
    const Tensor& w = net.params[static_cast<std::size_t>(net.conv_param[i])].value;
    x = p.transposed ? conv_transpose2d(x, w, Tensor(), opt) : conv2d(x, w, Tensor(), opt);
    if (const Norm& n = net.norm[i]; n.param >= 0) {
      const auto k = static_cast<std::size_t>(n.param);
      x = batch_norm(x, net.params[k].value, net.params[k + 1].value, n.running_mean, n.running_var, true);
    }
    if (i == last) x = generator ? tanh(x) : sigmoid(x);
    else x = generator ? relu(x) : leaky_relu(x, 0.2);
  }
  return generator ? x : x.reshape({-1});
}

void zero_grad(Net& net) {
  for (Param& p : net.params) p.value.zero_grad(true);
}

void adam(Net& net, std::int64_t step) {
  NoGradGuard no_grad;
  AdamStep s;
  s.lr = 2e-4;
  s.beta1 = 0.5;
  s.beta2 = 0.999;
  s.step = step;
  for (Param& p : net.params) adam_step(p.value, p.value.grad(), p.exp_avg, p.exp_avg_sq, s);
}

struct Trainer {
  DcganConfig config;
  Device device;
  Generator gen{1234};
  Net g, d;
  Tensor real, ones, zeros;
  std::int64_t step = 0;

  Trainer(const DcganConfig& c, Device dev) : config(c), device(dev) {
    g = make_net(c, true, dev, gen);
    d = make_net(c, false, dev, gen);
    const TensorOptions opts(dev);
    real = Tensor::rand({c.batch, c.channels, c.image, c.image}, gen, opts, -1.0, 1.0);
    ones = Tensor::ones({c.batch}, opts);
    zeros = Tensor::zeros({c.batch}, opts);
  }

  void train_step() {
    ++step;
    // (1) D: maximise log D(x) + log(1 - D(G(z)))
    zero_grad(d);
    binary_cross_entropy(forward(d, real, false), ones).backward();
    const Tensor noise = Tensor::randn({config.batch, config.nz, 1, 1}, gen, TensorOptions(device));
    const Tensor fake = forward(g, noise, true);
    binary_cross_entropy(forward(d, fake.detach(), false), zeros).backward();
    adam(d, step);
    // (2) G: maximise log D(G(z))
    zero_grad(g);
    zero_grad(d);
    binary_cross_entropy(forward(d, fake, false), ones).backward();
    adam(g, step);
  }
};

// The conv FLOPs autograd runs in one step: D forwards 3 times (real, detached fake, fake) with
// 3 weight gradients and 3 data gradients except in its first layer, whose input needs one only
// in the G step; G forwards once, with one weight gradient and data gradients below its first
// layer (the noise needs none).
double conv_flops_per_step(const DcganConfig& c) {
  double flops = 0;
  for (const ConvLayer& l : dcgan_conv_layers(c)) {
    const double f = static_cast<double>(l.problem.flops());
    const bool first = l.name == "G.1" || l.name == "D.1";
    if (l.name[0] == 'D') flops += f * (3 + 3 + (first ? 1 : 3));
    else flops += f * (1 + 1 + (first ? 0 : 1));
  }
  return flops;
}

void sync(Device dev) {
  if (dev.is_cuda()) cuda::synchronize(dev.index());
}

bool select_backend(const std::string& backend) {
  if (backend == "cudnn") {
    if (!cudnn_is_available()) return false;
    set_conv_backend(ConvBackend::Cudnn);
  } else {
    set_conv_backend(ConvBackend::Native);
  }
  return true;
}

// Peak RSS and page faults per step of a child that runs only the step; cached per (config,
// backend). -1 on failure.
struct ChildMemory {
  double peak_rss_mib = -1, faults_per_step = -1;
};
ChildMemory child_memory(const std::string& config, const std::string& backend) {
  static std::map<std::string, ChildMemory> cache;
  const std::string key = config + "/" + backend;
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  char exe[4096] = {};
  if (readlink("/proc/self/exe", exe, sizeof exe - 1) <= 0) return {};
  const std::string cmd = std::string("'") + exe + "' --rss-only " + config + " " + backend;
  ChildMemory m;
  if (FILE* f = popen(cmd.c_str(), "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f) != nullptr) {
      double v = 0;
      if (std::sscanf(line, "peak_rss_mib %lf", &v) == 1) m.peak_rss_mib = v;
      if (std::sscanf(line, "faults_per_step %lf", &v) == 1) m.faults_per_step = v;
    }
    if (pclose(f) != 0) m = {};
  }
  cache[key] = m;
  return m;
}

void bm_train(benchmark::State& st, const std::string& config, const std::string& backend) {
  try {
    const DcganConfig& c = dcgan_config(config);
    const Device dev = backend == "cpu" ? Device::cpu() : Device::cuda();
    if (!select_backend(backend)) {
      st.SkipWithError("cuDNN is not available in this build / on this machine");
      return;
    }
    Trainer t(c, dev);
    t.train_step();  // warm-up: allocations, caches, cuDNN algorithm search
    sync(dev);
    if (dev.is_cuda()) cuda::reset_peak_memory_stats(dev.index());
    double total = 0, cpu_total = 0;
    for (auto _ : st) {
      const double c0 = process_cpu_seconds();
      const auto t0 = std::chrono::steady_clock::now();
      t.train_step();
      sync(dev);
      const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      cpu_total += process_cpu_seconds() - c0;
      st.SetIterationTime(sec);
      total += sec;
    }
    const double per_step = total / static_cast<double>(st.iterations());
    const double flops = conv_flops_per_step(c);
    st.counters["images/s"] = c.batch / per_step;
    st.counters["cpu_ms"] = 1e3 * cpu_total / static_cast<double>(st.iterations());
    st.counters["conv_GFLOP/step"] = flops / 1e9;
    st.counters["conv_GFLOP/s"] = flops / per_step / 1e9;
    if (dev.is_cpu()) {
      st.counters["threads"] = cpu_threads();
      st.counters["%peak"] = 100.0 * flops / per_step / cpu_peak().flops;
    } else {
      st.counters["peak_gpu_MiB"] = static_cast<double>(cuda::memory_stats(dev.index()).peak_bytes_in_use) / (1 << 20);
      st.counters["%peak"] = 100.0 * flops / per_step / gpu_peak().flops;
    }
    set_conv_backend(ConvBackend::Native);
    const ChildMemory child = child_memory(config, backend);
    if (child.peak_rss_mib > 0) st.counters["peak_rss_MiB"] = child.peak_rss_mib;
    if (child.faults_per_step >= 0) st.counters["page_faults/step"] = child.faults_per_step;
    st.SetLabel(std::to_string(c.image) + "x" + std::to_string(c.image) + "x" + std::to_string(c.channels) +
                " batch " + std::to_string(c.batch));
  } catch (const std::exception& e) {
    set_conv_backend(ConvBackend::Native);
    st.SkipWithError(e.what());
  }
}

// --rss-only CONFIG BACKEND: 3 steps, then "peak_rss_mib <MiB>" and "faults_per_step <n>" (the
// minor page faults of steps 2 and 3, halved).
int rss_only(const std::string& config, const std::string& backend) {
  try {
    const Device dev = backend == "cpu" ? Device::cpu() : Device::cuda();
    if (!select_backend(backend)) return 2;
    Trainer t(dcgan_config(config), dev);
    const auto minor_faults = [] {
      rusage ru{};
      getrusage(RUSAGE_SELF, &ru);
      return static_cast<double>(ru.ru_minflt);
    };
    t.train_step();
    sync(dev);
    const double before = minor_faults();
    for (int i = 0; i < 2; ++i) t.train_step();
    sync(dev);
    const double faults = (minor_faults() - before) / 2;
    std::printf("peak_rss_mib %.1f\nfaults_per_step %.0f\n", peak_rss_mib(), faults);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_step_bench --rss-only: %s\n", e.what());
    return 1;
  }
}

bool has_flag(int argc, char** argv, const char* flag) {
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], flag, std::strlen(flag)) == 0) return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "--rss-only") == 0) return rss_only(argv[2], argv[3]);
  std::vector<char*> args(argv, argv + argc);
  static char min_time[] = "--benchmark_min_time=0.05";
  static char repetitions[] = "--benchmark_repetitions=3";
  if (!has_flag(argc, argv, "--benchmark_min_time")) args.push_back(min_time);
  if (!has_flag(argc, argv, "--benchmark_repetitions")) args.push_back(repetitions);
  int n = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;

  benchmark::AddCustomContext("cpu_model", cpu_model_name());
  benchmark::AddCustomContext("cpu_threads", std::to_string(cpu_threads()));
  std::vector<std::string> backends = {"cpu"};
  if (const std::string why = gpu_unavailable_reason(); why.empty()) {
    backends.push_back("cuda");
    if (cudnn_is_available()) backends.push_back("cudnn");
    else std::cerr << "train_step_bench: train/*/cudnn not registered: no cuDNN in this build\n";
    benchmark::AddCustomContext("gpu_name", gpu_name());
  } else {
    std::cerr << "train_step_bench: GPU benchmarks (train/*/cuda, train/*/cudnn) not registered: " << why << "\n";
  }
  for (const DcganConfig& c : dcgan_configs()) {
    for (const std::string& backend : backends) {
      const std::string name = "train/" + c.name + "/" + backend;
      benchmark::RegisterBenchmark(name.c_str(), [config = c.name, backend](benchmark::State& st) {
        bm_train(st, config, backend);
      })->UseManualTime()->Unit(benchmark::kMillisecond);
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
