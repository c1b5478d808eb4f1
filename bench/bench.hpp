// Shared by the benchmark programs of bench/ (conv_bench, train_step_bench): the two DCGAN
// configurations and their conv layers, the machine's peak rates (the floors every number is
// compared with), and small helpers (peak RSS, environment overrides).
//
//   dcgan_shapes.cpp     configurations A and B, their layers as Conv2dProblems
//   machine.cpp          CPU peak FLOP/s and bandwidth; GPU peaks from the device's attributes
//   cudnn_reference.cpp  cuDNN called directly with a chosen math mode (conv_bench's baseline)
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <strider/kernels/conv2d.hpp>

namespace strider::bench {

// ---- DCGAN configurations (pytorch/examples dcgan) ---------------------------------------------
struct DcganConfig {
  std::string name;  // "A", "B"
  int batch = 0;
  int image = 0;     // square image side: 64 or 32 (a power of two, >= 8)
  int channels = 0;  // nc: 3 (RGB) or 1 (grey)
  int nz = 100;
  int ngf = 64, ndf = 64;
};
// A: 64x64 RGB, batch 128; B: 32x32 grey, batch 64; both nz 100, ngf = ndf = 64.
const std::vector<DcganConfig>& dcgan_configs();
const DcganConfig& dcgan_config(const std::string& name);  // throws ValueError for an unknown name

// One conv layer of a configuration. All DCGAN convolutions are 4x4 without bias:
//   G.1  ConvT(nz -> ngf 2^(d-1), k4 s1 p0) 1 -> 4, then ConvT(k4 s2 p1) doubling the size,
//        halving the channels, the last one to nc;
//   D.1  Conv(nc -> ndf, k4 s2 p1), doubling the channels, halving the size, the last one
//        Conv(-> 1, k4 s1 p0) 4 -> 1;
// with d = log2(image) - 2 stride-2 layers.
struct ConvLayer {
  std::string config;  // "A"
  std::string name;    // "G.1", "D.3"
  kernels::Conv2dProblem problem;
  std::string describe() const;  // "ConvT(100->512, k4 s1 p0) 1->4"
};
std::vector<ConvLayer> dcgan_conv_layers(const DcganConfig& c);
std::vector<ConvLayer> all_dcgan_conv_layers();  // A's G and D layers, then B's

// Bytes of the buffers one pass reads and writes, each touched once (float32).
//   forward          x, weight (, bias) in; y out
//   backward-data    grad_y, weight in; grad_x out
//   backward-weight  x, grad_y in; grad_weight (, grad_bias) out
std::int64_t pass_bytes(const kernels::Conv2dProblem& p, kernels::Conv2dPass pass);
const char* pass_short_name(kernels::Conv2dPass pass);  // "fwd", "bwd_data", "bwd_weight"

// The counters every conv benchmark reports for one pass that took `seconds` (peaks of 0 leave
// the dependent counters out):
//   GFLOP/s, GB/s        Conv2dProblem::flops(), pass_bytes() over the time
//   %peak, %bw           those rates over the peaks
//   floor_us, %roofline  max(FLOPs / peak FLOP/s, bytes / peak bandwidth), and floor over time
std::vector<std::pair<std::string, double>> conv_counters(const kernels::Conv2dProblem& p, kernels::Conv2dPass pass,
                                                          double seconds, double peak_flops, double peak_bytes);

// Element counts of a pass's buffers in strider's signature order (two inputs, one output; no
// bias: the DCGAN layers have none), and the pass run by kernels::cpu on host buffers.
struct PassSizes { std::int64_t in0 = 0, in1 = 0, out = 0; };
PassSizes pass_sizes(const kernels::Conv2dProblem& p, kernels::Conv2dPass pass);
void run_cpu_pass(const kernels::Conv2dProblem& p, kernels::Conv2dPass pass, const float* in0, const float* in1,
                  float* out);
// n floats uniform in [-1, 1) from a fixed seed (never zeros: they hide unwritten outputs).
std::vector<float> random_floats(std::int64_t n, unsigned seed);

// ---- the machine's peaks -----------------------------------------------------------------------
struct Peak {
  double flops = 0;        // FLOP/s (float32, non-tensor-core for a GPU)
  double tf32_flops = 0;   // GPU tensor-core TF32 dense FLOP/s; 0 when unknown
  double bytes = 0;        // bytes/s of main / device memory
  std::string flops_how;   // how the numbers were obtained, for the report
  std::string bytes_how;
};
// CPU: computed = cores x clock x FLOP/cycle (2 FMA pipes x vector lanes x 2), measured with an
// FMA loop on every thread; the computed value is the peak (the measured one is printed).
// Bandwidth: measured (a 2 x 128 MiB copy, best of 5). STRIDER_BENCH_CPU_PEAK_GFLOPS and
// STRIDER_BENCH_CPU_BW_GBS override. Measured once per process.
const Peak& cpu_peak();
int cpu_threads();  // OpenMP threads strider's CPU kernels use

// GPU (real CUDA builds, device 0): SMs x FP32 lanes per SM (by compute capability) x 2 x the
// maximum SM clock; memory clock x bus width x 2 (DDR) from the device attributes; TF32 from a
// per-SM table (Ampere A100, Hopper). Throws when there is no device.
const Peak& gpu_peak();
std::string gpu_name();

// Why GPU benchmarks cannot run in this build or on this machine ("" when they can).
std::string gpu_unavailable_reason();

// ---- helpers -----------------------------------------------------------------------------------
double peak_rss_mib();  // peak resident memory of this process in MiB (VmHWM; ru_maxrss fallback)
double process_cpu_seconds();  // CLOCK_PROCESS_CPUTIME_ID: CPU time of all threads so far
double env_double(const char* name, double fallback);
std::string cpu_model_name();  // /proc/cpuinfo "model name"

}  // namespace strider::bench

#if STRIDER_HAS_CUDNN
#include <memory>

#include <strider/kernels/cuda_runtime.hpp>

namespace strider::bench {

// cuDNN called directly (legacy cudnnConvolution* API), as PyTorch calls it: the math mode set on
// the convolution descriptor (kFp32: CUDNN_FMA_MATH, no tensor cores — PyTorch with
// allow_tf32 = False; kTf32: CUDNN_DEFAULT_MATH, TF32 tensor cores allowed — allow_tf32 = True)
// and the algorithm chosen by cuDNN's own search (cudnnFind*AlgorithmEx, fastest that succeeded
// and honours the math mode) when the plan is made. conv_bench's baseline for "x_cudnn": strider's
// kernels/cudnn backend may pick its math mode differently, so the reference is kept separate.
enum class CudnnMath { kFp32, kTf32 };

class CudnnConvPlan {
 public:
  // Searches on the given device buffers (in the order of the pass's strider signature: forward
  // x, weight, y; backward-data grad_y, weight, grad_x; backward-weight x, grad_y, grad_weight).
  // Throws CudaError on a cuDNN failure.
  CudnnConvPlan(const kernels::Conv2dProblem& p, kernels::Conv2dPass pass, CudnnMath math, cudaStream_t stream,
                const float* in0, const float* in1, float* out);
  ~CudnnConvPlan();
  CudnnConvPlan(const CudnnConvPlan&) = delete;
  CudnnConvPlan& operator=(const CudnnConvPlan&) = delete;

  // Queues the pass on the plan's stream (no bias: the DCGAN layers have none).
  void run(const float* in0, const float* in1, float* out);
  std::string algo_name() const;  // "fwd IMPLICIT_PRECOMP_GEMM (FMA)"

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace strider::bench
#endif
