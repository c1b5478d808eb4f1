// Storage: one reference-counted allocation on one device. Tensors are views into a Storage.
//
// Memory of each device type is managed by a DeviceBackend: the CPU's (64-byte aligned
// allocations, large blocks cached for reuse within a bound, memcpy) and, in CUDA builds, the CUDA
// device's caching allocator (core/cuda/).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include <strider/core/device.hpp>

namespace strider {

class DeviceBackend {
 public:
  virtual ~DeviceBackend() = default;
  virtual void* allocate(std::size_t nbytes, int index) = 0;
  virtual void deallocate(void* ptr, std::size_t nbytes, int index) = 0;
  // Copies between this device's memory and the host. Synchronous with respect to the host.
  virtual void copy_from_host(void* dst, const void* src, std::size_t nbytes, int index) = 0;
  virtual void copy_to_host(void* dst, const void* src, std::size_t nbytes, int index) = 0;
  virtual void copy_on_device(void* dst, const void* src, std::size_t nbytes, int index) = 0;
  virtual void memset_zero(void* dst, std::size_t nbytes, int index) = 0;
  virtual void synchronize(int index) = 0;
};

// The backend that owns memory of `d`'s type; throws DeviceError (with the reason) for a CUDA
// device when this build or machine has none, or for an index past the device count.
DeviceBackend& device_backend(Device d);

// Alignment of every CPU allocation (one cache line; AVX-512 loads).
constexpr std::size_t kCpuAlignment = 64;

class Storage {
 public:
  Storage(std::size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  std::size_t nbytes_ = 0;
  Device device_;
};

using StoragePtr = std::shared_ptr<Storage>;

// Copies nbytes between any two devices (through the host when neither is the CPU).
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, std::size_t nbytes);

// The CPU allocator. Blocks of kCachedMinBytes and more are mapped pages rounded up to a size
// class (64 KiB steps; untouched slack is never made resident) and, when freed, kept for the
// next request of the same class: a training loop then reuses its activations' memory instead of
// mapping and page-faulting it every step. The cache is bounded: memory in use plus cached never
// exceeds 1.5 times the most that was ever in use at once; what it holds between steps goes back
// to the system with empty_cache().
namespace cpu {

constexpr std::size_t kCachedMinBytes = std::size_t{1} << 20;  // 1 MiB

struct MemoryStats {
  std::size_t bytes_in_use = 0;       // held by tensors now (size classes)
  std::size_t peak_bytes_in_use = 0;  // since start or reset_peak_memory_stats()
  std::size_t bytes_cached = 0;       // freed by tensors, kept for reuse
  std::uint64_t allocations = 0;      // allocation requests served
  std::uint64_t cache_hits = 0;       // ... of which from the cache
  std::uint64_t system_allocs = 0;    // aligned_alloc calls
  std::uint64_t system_frees = 0;     // free calls
};

MemoryStats memory_stats();
void reset_peak_memory_stats();
// Gives every cached block back to the system.
void empty_cache();
// The size class a request of `nbytes` is rounded up to (64-byte steps below kCachedMinBytes).
std::size_t allocation_size_class(std::size_t nbytes);

}  // namespace cpu

}  // namespace strider
