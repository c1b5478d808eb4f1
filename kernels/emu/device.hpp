// Device-side CUDA for the emulated build: the qualifiers, the built-in variables, block barriers
// and warp collectives. Every call that synchronises threads switches fibers (kernels/emu/executor.cpp
// decides who runs next); everything else is plain host code. Atomics and math live in atomics.hpp
// and math.hpp. Included through <strider/kernels/cuda_runtime.hpp>.
#pragma once

#include <cstdint>
#include <cstring>
#include <source_location>
#include <type_traits>

#include <strider/kernels/emu/vector_types.hpp>

// ---------------------------------------------------------------------------------------------
// Qualifiers. A __global__ kernel is an ordinary function that every emulated thread calls;
// __shared__ becomes thread_local (implicitly static at block scope): a block's threads are fibers
// on one OS thread, so they share it, and blocks running at the same time on other OS threads
// each have their own copy.
// ---------------------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __constant__
#define __managed__
#define __grid_constant__
#define __shared__ thread_local
#define __forceinline__ __inline__ __attribute__((always_inline))
// No __noinline__: libstdc++ (<memory>) and <immintrin.h> spell __attribute__((__noinline__)),
// which such a macro would break in every file that includes them after a kernels header.
// strider's kernels do not use it (a .cu file that does fails to compile in emulation, clearly).
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)
// __restrict__ is a GNU keyword already.

// Built-in variables, set by the emulator before it resumes a thread. constinit lets every access
// skip the thread_local initialisation check.
extern thread_local constinit uint3 threadIdx;
extern thread_local constinit uint3 blockIdx;
extern thread_local constinit dim3 blockDim;
extern thread_local constinit dim3 gridDim;
extern const int warpSize;  // 32; not a constant expression, as on the device

namespace strider::emu::detail {

enum class BarrierOp : std::uint8_t { sync, count, all, any };
enum class WarpOp : std::uint8_t {
  sync, shfl_idx, shfl_up, shfl_down, shfl_xor, ballot, any, all, match_any, match_all,
  reduce_add, reduce_min_s, reduce_min_u, reduce_max_s, reduce_max_u, reduce_and, reduce_or, reduce_xor, active,
};

// Waits at a block barrier; returns the reduction of `predicate` over the block for op != sync.
int block_barrier(BarrierOp op, int predicate, const std::source_location& where);
// Waits until every lane named in `mask` has reached a warp collective, then returns this lane's
// result. `value` carries the lane's operand bits, `param` the source lane / delta / lane mask.
// For match_all, *all_equal receives the predicate.
std::uint64_t warp_collective(WarpOp op, unsigned mask, std::uint64_t value, int param, int width,
                              const std::source_location& where, int* all_equal = nullptr);
unsigned active_mask(const std::source_location& where);
// Abandons the block: the launch fails with cudaErrorLaunchFailure naming `what` and the thread.
[[noreturn]] void trap(const char* what, const std::source_location& where);
void* dynamic_shared_memory();
long long clock_ticks();

template <class T>
std::uint64_t to_bits(T value) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8,
                "warp shuffles move values of at most 8 bytes (as CUDA's __shfl_sync overloads)");
  std::uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  return bits;
}
template <class T>
T from_bits(std::uint64_t bits) {
  T value;
  std::memcpy(&value, &bits, sizeof(T));
  return value;
}

}  // namespace strider::emu::detail

// ---------------------------------------------------------------------------------------------
// Block barriers. The source location identifies the barrier: threads of one block must all wait
// at the same __syncthreads, or the launch fails naming the threads and both locations.
// ---------------------------------------------------------------------------------------------
inline void __syncthreads(const std::source_location& where = std::source_location::current()) {
  strider::emu::detail::block_barrier(strider::emu::detail::BarrierOp::sync, 0, where);
}
inline int __syncthreads_count(int predicate, const std::source_location& where = std::source_location::current()) {
  return strider::emu::detail::block_barrier(strider::emu::detail::BarrierOp::count, predicate, where);
}
inline int __syncthreads_and(int predicate, const std::source_location& where = std::source_location::current()) {
  return strider::emu::detail::block_barrier(strider::emu::detail::BarrierOp::all, predicate, where);
}
inline int __syncthreads_or(int predicate, const std::source_location& where = std::source_location::current()) {
  return strider::emu::detail::block_barrier(strider::emu::detail::BarrierOp::any, predicate, where);
}

// Memory is coherent on the host: fences only order this OS thread's accesses for other OS threads.
void __threadfence();
inline void __threadfence_block() { __threadfence(); }
inline void __threadfence_system() { __threadfence(); }
inline void __nanosleep(unsigned) {}
inline long long clock64() { return strider::emu::detail::clock_ticks(); }
[[noreturn]] inline void __trap(const std::source_location& where = std::source_location::current()) {
  strider::emu::detail::trap("__trap()", where);
}

// ---------------------------------------------------------------------------------------------
// Warp collectives: 32-lane warps (lane = linear thread index % 32), CUDA's mask and width rules.
// ---------------------------------------------------------------------------------------------
inline void __syncwarp(unsigned mask = 0xffffffffu,
                       const std::source_location& where = std::source_location::current()) {
  strider::emu::detail::warp_collective(strider::emu::detail::WarpOp::sync, mask, 0, 0, 32, where);
}

#define STRIDER_EMU_SHFL(name, op, Param)                                                              \
  template <class T>                                                                                   \
  T name(unsigned mask, T var, Param param, int width = 32,                                            \
         const std::source_location& where = std::source_location::current()) {                       \
    using namespace strider::emu::detail;                                                              \
    return from_bits<T>(warp_collective(WarpOp::op, mask, to_bits(var), static_cast<int>(param), width, \
                                        where));                                                       \
  }
STRIDER_EMU_SHFL(__shfl_sync, shfl_idx, int)
STRIDER_EMU_SHFL(__shfl_up_sync, shfl_up, unsigned)
STRIDER_EMU_SHFL(__shfl_down_sync, shfl_down, unsigned)
STRIDER_EMU_SHFL(__shfl_xor_sync, shfl_xor, int)
#undef STRIDER_EMU_SHFL

inline unsigned __ballot_sync(unsigned mask, int predicate,
                              const std::source_location& where = std::source_location::current()) {
  using namespace strider::emu::detail;
  return static_cast<unsigned>(warp_collective(WarpOp::ballot, mask, predicate != 0, 0, 32, where));
}
inline int __any_sync(unsigned mask, int predicate, const std::source_location& where = std::source_location::current()) {
  using namespace strider::emu::detail;
  return static_cast<int>(warp_collective(WarpOp::any, mask, predicate != 0, 0, 32, where));
}
inline int __all_sync(unsigned mask, int predicate, const std::source_location& where = std::source_location::current()) {
  using namespace strider::emu::detail;
  return static_cast<int>(warp_collective(WarpOp::all, mask, predicate != 0, 0, 32, where));
}
// The lanes of the warp that reach this same call in the same step: those that got here together.
inline unsigned __activemask(const std::source_location& where = std::source_location::current()) {
  return strider::emu::detail::active_mask(where);
}

template <class T>
unsigned __match_any_sync(unsigned mask, T value, const std::source_location& where = std::source_location::current()) {
  using namespace strider::emu::detail;
  return static_cast<unsigned>(warp_collective(WarpOp::match_any, mask, to_bits(value), 0, 32, where));
}
template <class T>
unsigned __match_all_sync(unsigned mask, T value, int* pred,
                          const std::source_location& where = std::source_location::current()) {
  using namespace strider::emu::detail;
  return static_cast<unsigned>(warp_collective(WarpOp::match_all, mask, to_bits(value), 0, 32, where, pred));
}

// sm_80 warp reductions.
#define STRIDER_EMU_REDUCE(name, T, op)                                                                   \
  inline T name(unsigned mask, T value, const std::source_location& where = std::source_location::current()) { \
    using namespace strider::emu::detail;                                                                 \
    return from_bits<T>(warp_collective(WarpOp::op, mask, to_bits(value), 0, 32, where));                 \
  }
STRIDER_EMU_REDUCE(__reduce_add_sync, int, reduce_add)
STRIDER_EMU_REDUCE(__reduce_add_sync, unsigned, reduce_add)
STRIDER_EMU_REDUCE(__reduce_min_sync, int, reduce_min_s)
STRIDER_EMU_REDUCE(__reduce_min_sync, unsigned, reduce_min_u)
STRIDER_EMU_REDUCE(__reduce_max_sync, int, reduce_max_s)
STRIDER_EMU_REDUCE(__reduce_max_sync, unsigned, reduce_max_u)
STRIDER_EMU_REDUCE(__reduce_and_sync, unsigned, reduce_and)
STRIDER_EMU_REDUCE(__reduce_or_sync, unsigned, reduce_or)
STRIDER_EMU_REDUCE(__reduce_xor_sync, unsigned, reduce_xor)
#undef STRIDER_EMU_REDUCE
