// The CUDA device as seen from the host: availability, memory statistics of strider's caching
// allocator, synchronisation. Usable in every build; in a build without CUDA the functions report
// no device (memory_stats throws DeviceError).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace strider::cuda {

struct MemoryStats {
  std::size_t bytes_in_use = 0;       // handed out to tensors now (rounded to the size class)
  std::size_t peak_bytes_in_use = 0;  // since start or reset_peak_memory_stats()
  std::size_t bytes_cached = 0;       // freed by tensors, kept for reuse (not returned to CUDA)
  std::size_t bytes_reserved = 0;     // in use + cached: what cudaMalloc has given us
  std::uint64_t allocations = 0;      // allocation requests served
  std::uint64_t cache_hits = 0;       // ... of which without a cudaMalloc
  std::uint64_t device_mallocs = 0;   // cudaMalloc calls
  std::uint64_t device_frees = 0;     // cudaFree calls (empty_cache, out-of-memory retries)
};

MemoryStats memory_stats(int device = 0);
void reset_peak_memory_stats(int device = 0);
// Returns every cached (unused) block to CUDA.
void empty_cache();
// Waits for all work queued on the device.
void synchronize(int device = 0);
// The size class an allocation of `nbytes` is rounded up to (exposed for tests).
std::size_t allocation_size_class(std::size_t nbytes);

}  // namespace strider::cuda
