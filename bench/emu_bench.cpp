// The CUDA emulator's speed: emulated threads per second (counter `threads/s`) for kernels with one
// block barrier, with no barrier, and with a warp-shuffle reduction. 256-thread blocks, 4096 blocks.
// Floor: a thread costs at least its fiber switches (4 with one barrier: run, park, run, exit).
// Built only in the emulated build (STRIDER_CUDA_EMULATION=ON); run it from a Release build.
#include <benchmark/benchmark.h>

#include <vector>

#include <strider/kernels/cuda_runtime.hpp>

namespace {

constexpr int kThreads = 256;
constexpr int kBlocks = 4096;

// One barrier: every thread writes shared memory, waits, reads another thread's slot.
__global__ void one_barrier_kernel(float* out) {
  __shared__ float tile[kThreads];
  const unsigned t = threadIdx.x;
  tile[t] = static_cast<float>(t);
  __syncthreads();
  out[blockIdx.x * kThreads + t] = tile[kThreads - 1 - t];
}

__global__ void no_barrier_kernel(float* out) {
  const unsigned i = blockIdx.x * kThreads + threadIdx.x;
  out[i] = static_cast<float>(i);
}

// Five shuffles per thread: each is a warp-wide collective.
__global__ void warp_reduce_kernel(float* out) {
  float v = static_cast<float>(threadIdx.x);
  for (unsigned offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  if (threadIdx.x % 32 == 0) out[(blockIdx.x * kThreads + threadIdx.x) / 32] = v;
}

template <void (*Kernel)(float*)>
void run(benchmark::State& state) {
  float* out = nullptr;
  STRIDER_CUDA_CHECK(cudaMalloc(&out, sizeof(float) * kThreads * kBlocks));
  STRIDER_LAUNCH(Kernel, kBlocks, kThreads, 0, 0, out);  // warm-up: creates the fibers
  for (auto _ : state) {
    STRIDER_LAUNCH(Kernel, kBlocks, kThreads, 0, 0, out);
  }
  STRIDER_CUDA_CHECK(cudaFree(out));
  const double threads = static_cast<double>(state.iterations()) * kThreads * kBlocks;
  state.counters["threads/s"] = benchmark::Counter(threads, benchmark::Counter::kIsRate);
  state.counters["ns/thread"] =
      benchmark::Counter(threads, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["emu_threads"] = strider::emu::num_threads();
}

void BM_EmuOneBarrier(benchmark::State& state) { run<one_barrier_kernel>(state); }
void BM_EmuNoBarrier(benchmark::State& state) { run<no_barrier_kernel>(state); }
void BM_EmuWarpReduce(benchmark::State& state) { run<warp_reduce_kernel>(state); }

BENCHMARK(BM_EmuOneBarrier)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_EmuNoBarrier)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_EmuWarpReduce)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
