// CUDA atomics for the emulated build, on std::atomic_ref: correct while blocks run on several OS
// threads at once. Like CUDA's, they are relaxed: order other memory with __threadfence().
// Included through <strider/kernels/cuda_runtime.hpp>.
#pragma once

#include <atomic>

namespace strider::emu::detail {

inline constexpr auto kRelaxed = std::memory_order_relaxed;

// Read-modify-write with an arbitrary update, for the operations std::atomic_ref lacks.
template <class T, class F>
T atomic_update(T* address, F update) {
  std::atomic_ref<T> ref(*address);
  T old = ref.load(kRelaxed);
  while (!ref.compare_exchange_weak(old, update(old), kRelaxed)) {
  }
  return old;
}

}  // namespace strider::emu::detail

#define STRIDER_EMU_ATOMIC_FETCH(name, T, fetch)                  \
  inline T name(T* address, T val) {                              \
    return std::atomic_ref<T>(*address).fetch(val, strider::emu::detail::kRelaxed); \
  }
STRIDER_EMU_ATOMIC_FETCH(atomicAdd, int, fetch_add)
STRIDER_EMU_ATOMIC_FETCH(atomicAdd, unsigned int, fetch_add)
STRIDER_EMU_ATOMIC_FETCH(atomicAdd, unsigned long long, fetch_add)
STRIDER_EMU_ATOMIC_FETCH(atomicAdd, float, fetch_add)
STRIDER_EMU_ATOMIC_FETCH(atomicAdd, double, fetch_add)
STRIDER_EMU_ATOMIC_FETCH(atomicSub, int, fetch_sub)
STRIDER_EMU_ATOMIC_FETCH(atomicSub, unsigned int, fetch_sub)
STRIDER_EMU_ATOMIC_FETCH(atomicExch, int, exchange)
STRIDER_EMU_ATOMIC_FETCH(atomicExch, unsigned int, exchange)
STRIDER_EMU_ATOMIC_FETCH(atomicExch, unsigned long long, exchange)
STRIDER_EMU_ATOMIC_FETCH(atomicExch, float, exchange)
STRIDER_EMU_ATOMIC_FETCH(atomicAnd, int, fetch_and)
STRIDER_EMU_ATOMIC_FETCH(atomicAnd, unsigned int, fetch_and)
STRIDER_EMU_ATOMIC_FETCH(atomicAnd, unsigned long long, fetch_and)
STRIDER_EMU_ATOMIC_FETCH(atomicOr, int, fetch_or)
STRIDER_EMU_ATOMIC_FETCH(atomicOr, unsigned int, fetch_or)
STRIDER_EMU_ATOMIC_FETCH(atomicOr, unsigned long long, fetch_or)
STRIDER_EMU_ATOMIC_FETCH(atomicXor, int, fetch_xor)
STRIDER_EMU_ATOMIC_FETCH(atomicXor, unsigned int, fetch_xor)
STRIDER_EMU_ATOMIC_FETCH(atomicXor, unsigned long long, fetch_xor)
#undef STRIDER_EMU_ATOMIC_FETCH

#define STRIDER_EMU_ATOMIC_MINMAX(T)                                                                  \
  inline T atomicMin(T* address, T val) {                                                            \
    return strider::emu::detail::atomic_update(address, [val](T old) { return val < old ? val : old; }); \
  }                                                                                                   \
  inline T atomicMax(T* address, T val) {                                                            \
    return strider::emu::detail::atomic_update(address, [val](T old) { return val > old ? val : old; }); \
  }
STRIDER_EMU_ATOMIC_MINMAX(int)
STRIDER_EMU_ATOMIC_MINMAX(unsigned int)
STRIDER_EMU_ATOMIC_MINMAX(long long)
STRIDER_EMU_ATOMIC_MINMAX(unsigned long long)
#undef STRIDER_EMU_ATOMIC_MINMAX

// ((old >= val) ? 0 : old + 1) and (((old == 0) || (old > val)) ? val : old - 1), as documented.
inline unsigned int atomicInc(unsigned int* address, unsigned int val) {
  return strider::emu::detail::atomic_update(address, [val](unsigned int old) { return old >= val ? 0u : old + 1; });
}
inline unsigned int atomicDec(unsigned int* address, unsigned int val) {
  return strider::emu::detail::atomic_update(
      address, [val](unsigned int old) { return (old == 0 || old > val) ? val : old - 1; });
}

#define STRIDER_EMU_ATOMIC_CAS(T)                                                   \
  inline T atomicCAS(T* address, T compare, T val) {                               \
    std::atomic_ref<T>(*address).compare_exchange_strong(compare, val,             \
                                                         strider::emu::detail::kRelaxed); \
    return compare; /* the old value, whether or not it was swapped */              \
  }
STRIDER_EMU_ATOMIC_CAS(int)
STRIDER_EMU_ATOMIC_CAS(unsigned int)
STRIDER_EMU_ATOMIC_CAS(unsigned long long)
STRIDER_EMU_ATOMIC_CAS(unsigned short)
#undef STRIDER_EMU_ATOMIC_CAS
