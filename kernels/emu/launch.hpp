// Launching emulated kernels, and the emulator's own controls (thread schedule, worker threads).
// Kernel code launches through STRIDER_LAUNCH (kernels/cuda_runtime.hpp), which calls launch().
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include <strider/kernels/emu/device.hpp>
#include <strider/kernels/emu/runtime.hpp>

namespace strider::emu {

// The order in which a block's runnable threads run between two synchronisation points.
// A kernel whose result depends on it has a race (a missing __syncthreads or __syncwarp).
enum class Schedule {
  in_order,  // thread 0, 1, 2, ...
  reverse,   // the last thread first
  shuffle,   // a permutation drawn from (seed, block, step): reproducible, and the same on every run
};
struct ScheduleSetting {
  Schedule kind = Schedule::in_order;
  std::uint64_t seed = 0;
};

// The process-wide schedule. The default comes from STRIDER_EMU_SCHEDULE=inorder|reverse|shuffle[:SEED]
// (in order when unset). A bad value throws strider::ValueError.
void set_schedule(Schedule kind, std::uint64_t seed = 0);
void set_schedule(std::string_view spec);
ScheduleSetting schedule();

// OS threads that run blocks (the launching thread is one of them). The default comes from
// STRIDER_EMU_THREADS, else the hardware threads (at most 16). n < 1 throws strider::ValueError.
void set_num_threads(int n);
int num_threads();

// Sets a schedule for one scope (a test) and restores the previous one.
class ScopedSchedule {
 public:
  explicit ScopedSchedule(Schedule kind, std::uint64_t seed = 0) : saved_(schedule()) { set_schedule(kind, seed); }
  ~ScopedSchedule() { set_schedule(saved_.kind, saved_.seed); }
  ScopedSchedule(const ScopedSchedule&) = delete;
  ScopedSchedule& operator=(const ScopedSchedule&) = delete;

 private:
  ScheduleSetting saved_;
};

namespace detail {

struct LaunchRequest {
  const char* kernel_name;  // the text given to STRIDER_LAUNCH, for messages
  std::uintptr_t kernel_id;  // the kernel's address: the key of cudaFuncSetAttribute
  dim3 grid;
  dim3 block;
  std::size_t shared_bytes;
  cudaStream_t stream;
  void (*run_thread)(const void* args);  // calls the kernel with a copy of the packed arguments
  const void* args;
};

// Validates the configuration, runs every block, and returns (and records as the last error) the
// outcome: cudaErrorInvalidConfiguration / cudaErrorInvalidValue / cudaErrorInvalidResourceHandle
// before anything runs, cudaErrorLaunchFailure when a block breaks CUDA's rules.
cudaError_t launch(const LaunchRequest& request);

template <class... Params>
struct PackedLaunch {
  void (*kernel)(Params...);
  std::tuple<std::decay_t<Params>...> args;

  static void run_thread(const void* self) {
    const auto& packed = *static_cast<const PackedLaunch*>(self);
    std::apply(packed.kernel, packed.args);  // each thread gets its own copy of the parameters
  }
};

}  // namespace detail

// kernel<<<grid, block, shared_bytes, stream>>>(args...). The arguments are converted to the
// kernel's parameter types once, at launch, as CUDA does.
template <class... Params, class... Args>
cudaError_t launch(const char* kernel_name, void (*kernel)(Params...), dim3 grid, dim3 block,
                   std::size_t shared_bytes, cudaStream_t stream, Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "STRIDER_LAUNCH: wrong number of kernel arguments");
  detail::PackedLaunch<Params...> packed{kernel, std::tuple<std::decay_t<Params>...>(std::forward<Args>(args)...)};
  return detail::launch(detail::LaunchRequest{kernel_name, reinterpret_cast<std::uintptr_t>(kernel), grid, block,
                                              shared_bytes, stream, &detail::PackedLaunch<Params...>::run_thread,
                                              &packed});
}

// The calling block's dynamic shared memory (STRIDER_DYNAMIC_SHARED).
template <class T>
T* dynamic_shared() {
  return static_cast<T*>(detail::dynamic_shared_memory());
}

}  // namespace strider::emu
