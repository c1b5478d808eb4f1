// The machine's peak rates, the floors every benchmark number is compared with (bench/bench.hpp).
//
// CPU FLOP/s: the larger of an FMA loop measured on every thread (AVX2, and AVX-512 where the CPU
// has it) and a computed cores x clock x FLOP/cycle/core, where FLOP/cycle/core = 2 FMA pipes x
// vector lanes (8 floats with AVX2, 16 with AVX-512F) x 2 (an FMA is two FLOPs), and clock is the
// larger of cpufreq's cpuinfo_max_freq and /proc/cpuinfo's "cpu MHz". A core above its reported
// clock measures above the computed value (Zen 5 VM: 498 against 332); a loaded machine (other
// builds running) measures below it, and the computed value stays the floor. Caveat: AMD Zen 4
// executes AVX-512 as two 256-bit halves, so there the computed value overstates the peak 2x (its
// measured AVX-512 loop reads what the AVX2 one does).
//
// CPU bytes/s: measured, a parallel copy of 128 MiB (counting bytes read + bytes written), best of
// five. GPU: from the device attributes (see gpu_peak()).

// System headers first (the emulated build's CUDA headers, pulled in through bench.hpp, once
// defined __noinline__, which <immintrin.h> spells in its own attributes).
#include <sys/resource.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>

#include <omp.h>

#include <strider/config.hpp>
#include <strider/core/device.hpp>
#include <strider/core/error.hpp>
#if STRIDER_HAS_CUDA && !STRIDER_EMULATED_CUDA
#include <strider/kernels/cuda_runtime.hpp>
#endif

#include "bench.hpp"

namespace strider::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string read_cpuinfo_field(const std::string& key) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  }
  return "";
}

// Physical cores: distinct (physical id, core id) pairs in /proc/cpuinfo.
int physical_cores() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, phys = "0";
  std::set<std::string> cores;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string value = line.substr(colon + 1);
    if (line.rfind("physical id", 0) == 0) phys = value;
    if (line.rfind("core id", 0) == 0) cores.insert(phys + "/" + value);
  }
  return cores.empty() ? omp_get_num_procs() : static_cast<int>(cores.size());
}

double clock_ghz() {
  double ghz = std::atof(read_cpuinfo_field("cpu MHz").c_str()) / 1e3;
  std::ifstream max_freq("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq");
  double khz = 0;
  if (max_freq >> khz) ghz = std::max(ghz, khz / 1e6);
  return ghz;
}

int vector_lanes() {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f")) return 16;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 8;
  return 4;
#else
  return 4;
#endif
}

#if defined(__x86_64__)
// 10 independent FMA chains of 8 floats: enough to cover 4-cycle latency on two pipes.
__attribute__((target("avx2,fma"), noinline)) float fma_chains(long iterations) {
  __m256 acc[10];
  const __m256 m = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < 10; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  for (long k = 0; k < iterations; ++k) {
#pragma GCC unroll 10
    for (int i = 0; i < 10; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, c);
  }
  __m256 s = acc[0];
  for (int i = 1; i < 10; ++i) s = _mm256_add_ps(s, acc[i]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0];
}

// The same with 12 chains of 16 floats. Zen 4 runs each as two 256-bit halves (this loop then
// measures what the AVX2 one does); Sapphire Rapids and Zen 5 have full-width pipes (twice).
__attribute__((target("avx512f"), noinline)) float fma_chains_512(long iterations) {
  __m512 acc[12];
  const __m512 m = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  for (long k = 0; k < iterations; ++k) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, c);
  }
  __m512 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, acc[i]);
  float out[16];
  _mm512_storeu_ps(out, s);
  return out[0];
}
#endif

// FLOP/s of the FMA loop on all OpenMP threads, best of three (0 without AVX2, or without AVX-512F
// when `wide`).
double measure_fma_flops(bool wide) {
#if defined(__x86_64__)
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return 0;
  if (wide && !__builtin_cpu_supports("avx512f")) return 0;
  const long iterations = wide ? 10'000'000 : 20'000'000;
  const double flop_per_iteration = wide ? 12 * 16 * 2 : 10 * 8 * 2;
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = Clock::now();
    float sink = 0;
#pragma omp parallel reduction(+ : sink)
    sink += wide ? fma_chains_512(iterations) : fma_chains(iterations);
    const double sec = seconds_since(t0);
    if (sink == 12345.f) std::cerr << "";  // keeps the loop alive
    best = std::max(best, static_cast<double>(iterations) * flop_per_iteration * cpu_threads() / sec);
  }
  return best;
#else
  return 0;
#endif
}

// Bytes/s of a parallel copy (read + write counted), best of five.
double measure_copy_bandwidth() {
  const std::size_t n = (std::size_t{128} << 20) / sizeof(float);
  std::unique_ptr<float[]> a(new float[n]), b(new float[n]);
  const auto sn = static_cast<long>(n);
#pragma omp parallel for schedule(static)
  for (long i = 0; i < sn; ++i) {
    a[static_cast<std::size_t>(i)] = static_cast<float>(i & 1023);
    b[static_cast<std::size_t>(i)] = 0;
  }
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = Clock::now();
#pragma omp parallel
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      const std::size_t begin = n * static_cast<std::size_t>(t) / static_cast<std::size_t>(nt);
      const std::size_t end = n * static_cast<std::size_t>(t + 1) / static_cast<std::size_t>(nt);
      std::memcpy(b.get() + begin, a.get() + begin, (end - begin) * sizeof(float));
    }
    best = std::max(best, 2.0 * static_cast<double>(n * sizeof(float)) / seconds_since(t0));
  }
  if (b[n / 2] != a[n / 2]) std::cerr << "copy check failed\n";
  return best;
}

std::string fmt(double v, int precision = 1) {
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(precision);
  os << v;
  return os.str();
}

}  // namespace

int cpu_threads() { return omp_get_max_threads(); }

std::string cpu_model_name() { return read_cpuinfo_field("model name"); }

const Peak& cpu_peak() {
  static const Peak peak = [] {
    Peak p;
    const int cores = std::min(physical_cores(), cpu_threads());
    const double ghz = clock_ghz();
    const int flop_per_cycle = 2 * vector_lanes() * 2;
    const double computed = cores * ghz * 1e9 * flop_per_cycle;
    const double measured = measure_fma_flops(false), measured_512 = measure_fma_flops(true);
    const double override_gflops = env_double("STRIDER_BENCH_CPU_PEAK_GFLOPS", 0);
    // The larger of the computed and the measured rate: a core running above its reported clock
    // (Zen 5 here: 498 GFLOP/s measured against 332 computed from 2.6 GHz) would otherwise read
    // above 100% of "peak". A loaded machine measures low, so the computed value stays the floor.
    const double measured_best = std::max(measured, measured_512);
    p.flops = override_gflops > 0 ? override_gflops * 1e9 : std::max(computed, measured_best);
    p.flops_how = (override_gflops > 0 ? "STRIDER_BENCH_CPU_PEAK_GFLOPS=" + fmt(override_gflops) + "; "
                   : measured_best > computed ? "peak = the measured loop (above the computed); "
                                              : "") +
                  "computed " + std::to_string(cores) + " cores x " + fmt(ghz, 3) + " GHz x " +
                  std::to_string(flop_per_cycle) + " FLOP/cycle (2 FMA pipes x " + std::to_string(vector_lanes()) +
                  " lanes x 2) = " + fmt(computed / 1e9) + " GFLOP/s; measured FMA loop on " +
                  std::to_string(cpu_threads()) + " threads: AVX2 " + fmt(measured / 1e9) + " GFLOP/s" +
                  (measured_512 > 0 ? ", AVX-512 " + fmt(measured_512 / 1e9) + " GFLOP/s" : "");
    const double override_gbs = env_double("STRIDER_BENCH_CPU_BW_GBS", 0);
    const double bw = override_gbs > 0 ? override_gbs * 1e9 : measure_copy_bandwidth();
    p.bytes = bw;
    p.bytes_how = override_gbs > 0 ? "STRIDER_BENCH_CPU_BW_GBS=" + fmt(override_gbs)
                                   : "measured: parallel 128 MiB copy, read + write, best of 5 = " + fmt(bw / 1e9) +
                                         " GB/s";
    return p;
  }();
  return peak;
}

double peak_rss_mib() {
  // VmHWM: the peak of this process image. ru_maxrss is not used first because Linux carries the
  // parent's peak into a child across fork/vfork + exec, so a child started by a big benchmark
  // process would report the parent's peak.
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;  // kB
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux: KiB
}

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double env_double(const char* name, double fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const double d = std::strtod(v, &end);
  return end != v ? d : fallback;
}

// ---- GPU ---------------------------------------------------------------------------------------

std::string gpu_unavailable_reason() {
#if !STRIDER_HAS_CUDA
  return "this build has no CUDA backend (configured with STRIDER_CUDA=OFF or without nvcc)";
#elif STRIDER_EMULATED_CUDA
  return "this is the emulated CUDA build (kernels/emu runs CUDA on the CPU, for correctness, not timing): "
         "use a real CUDA build on a GPU for GPU numbers";
#else
  if (!cuda_is_available()) return cuda_unavailable_reason();
  return "";
#endif
}

#if STRIDER_HAS_CUDA && !STRIDER_EMULATED_CUDA
namespace {
int attr(cudaDeviceAttr a) {
  int v = 0;
  STRIDER_CUDA_CHECK(cudaDeviceGetAttribute(&v, a, 0));
  return v;
}
// FP32 lanes per SM (CUDA C Programming Guide, arithmetic instruction throughput table).
int fp32_lanes_per_sm(int major, int minor) {
  if (major == 8 && minor == 0) return 64;  // A100
  if (major >= 8) return 128;               // 8.6, 8.9, 9.0 (H100/H200), 10.x, 12.x
  return 64;                                // Volta, Turing
}
// Dense TF32 tensor-core FLOP/clock/SM: A100 156 TFLOP/s = 108 SMs x 1.41 GHz x 1024; H100 SXM
// 495 TFLOP/s = 132 SMs x 1.83 GHz x 2048. 0 where we have no number.
int tf32_flop_per_clock_per_sm(int major, int minor) {
  if (major == 8 && minor == 0) return 1024;
  if (major == 9 && minor == 0) return 2048;
  return 0;
}
}  // namespace

std::string gpu_name() {
  cudaDeviceProp prop{};
  STRIDER_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  return prop.name;
}

const Peak& gpu_peak() {
  static const Peak peak = [] {
    Peak p;
    const int sms = attr(cudaDevAttrMultiProcessorCount);
    const int major = attr(cudaDevAttrComputeCapabilityMajor), minor = attr(cudaDevAttrComputeCapabilityMinor);
    const double clock_hz = attr(cudaDevAttrClockRate) * 1e3;  // kHz, maximum SM clock
    const double mem_hz = attr(cudaDevAttrMemoryClockRate) * 1e3;
    const int bus_bits = attr(cudaDevAttrGlobalMemoryBusWidth);
    const int lanes = fp32_lanes_per_sm(major, minor);
    p.flops = sms * lanes * 2.0 * clock_hz;
    p.tf32_flops = sms * static_cast<double>(tf32_flop_per_clock_per_sm(major, minor)) * clock_hz;
    p.bytes = 2.0 * mem_hz * bus_bits / 8.0;
    p.flops_how = std::to_string(sms) + " SMs x " + std::to_string(lanes) + " FP32 lanes x 2 x " +
                  fmt(clock_hz / 1e9, 3) + " GHz (sm_" + std::to_string(major) + std::to_string(minor) +
                  ") = " + fmt(p.flops / 1e12) + " TFLOP/s FP32; TF32 dense " + fmt(p.tf32_flops / 1e12) +
                  " TFLOP/s";
    p.bytes_how = "2 x " + fmt(mem_hz / 1e9, 3) + " GHz x " + std::to_string(bus_bits) + " bit = " +
                  fmt(p.bytes / 1e12, 2) + " TB/s";
    return p;
  }();
  return peak;
}
#else
std::string gpu_name() { return ""; }
const Peak& gpu_peak() {
  STRIDER_THROW(DeviceError, "no GPU peak: " << gpu_unavailable_reason());
}
#endif

}  // namespace strider::bench
