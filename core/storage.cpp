#include <strider/core/storage.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

#include <sys/mman.h>

#include <strider/config.hpp>
#include <strider/core/cuda.hpp>
#include <strider/core/detail/block_cache.hpp>
#include <strider/core/error.hpp>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define STRIDER_CPU_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define STRIDER_CPU_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define STRIDER_CPU_POISON(p, n) ((void)(p), (void)(n))
#define STRIDER_CPU_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace strider {

#if STRIDER_HAS_CUDA
DeviceBackend& cuda_device_backend();  // core/cuda/cuda_backend.cu
#endif

namespace {

// The CPU's allocator. Blocks of at least cpu::kCachedMinBytes are mapped pages (mmap) rounded to
// a 64 KiB size class and, when tensors free them, kept for reuse (detail::BlockCache): a training
// step allocates the same large activations and gradients every iteration, and through malloc
// they were mapped afresh each time (DCGAN A: 151k page faults per step, 6% of the step in the
// kernel). Bounded: in use plus cached never exceeds 1.5 times the most ever in use at once (on a
// miss, the blocks cached longest ago are unmapped first). A training step's pool settles at the
// sum of each size class's own peak, above the peak of them all together (the D and G steps peak
// in different sizes: 1.3x for DCGAN A); a bound at 1x left A with 102k faults per step, 1.25x
// with 28k, 1.5x with 1.2k. Mapping directly means an unmapped block leaves the process at once
// (malloc's heap kept freed blocks below its mmap threshold): A's peak resident memory is 635 MiB
// with the cache, 625 through malloc without. Smaller blocks go to malloc and back (its own free
// lists serve them). Under AddressSanitizer, cached blocks and each block's size-class slack are
// poisoned, so a use of a freed tensor's memory is still reported.
class CpuBackend final : public DeviceBackend {
 public:
  void* allocate(std::size_t nbytes, int) override {
    if (nbytes == 0) return nullptr;
    const std::size_t size = cpu::allocation_size_class(nbytes);
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.allocations;
    void* p = size >= cpu::kCachedMinBytes ? cache_.take(size) : nullptr;
    if (p) {
      ++stats_.cache_hits;
    } else {
      const std::size_t peak = std::max(high_water_, stats_.bytes_in_use + size);
      const std::size_t limit = peak + peak / 2;
      while (!cache_.empty() && stats_.bytes_in_use + size + cache_.bytes() > limit) release_oldest();
      p = system_allocate(size);
      if (!p && !cache_.empty()) {  // the system is short of memory: give back the whole cache, retry
        while (!cache_.empty()) release_oldest();
        p = system_allocate(size);
      }
      STRIDER_CHECK(p != nullptr, OutOfMemoryError,
                    "out of CPU memory: could not allocate " << nbytes << " bytes (" << nbytes / (1 << 20)
                        << " MiB; " << stats_.bytes_in_use / (1 << 20)
                        << " MiB in use by tensors); use smaller tensors or a smaller batch");
      ++stats_.system_allocs;
    }
    STRIDER_CPU_UNPOISON(p, nbytes);
    STRIDER_CPU_POISON(static_cast<char*>(p) + nbytes, size - nbytes);
    stats_.bytes_in_use += size;
    stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
    high_water_ = std::max(high_water_, stats_.bytes_in_use);
    return p;
  }
  void deallocate(void* ptr, std::size_t nbytes, int) override {
    if (!ptr) return;
    const std::size_t size = cpu::allocation_size_class(nbytes);
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.bytes_in_use -= size;
    if (size >= cpu::kCachedMinBytes) {
      STRIDER_CPU_POISON(ptr, size);
      cache_.put(ptr, size);
    } else {
      system_free(ptr, size);
    }
  }
  void copy_from_host(void* dst, const void* src, std::size_t n, int) override { if (n) std::memcpy(dst, src, n); }
  void copy_to_host(void* dst, const void* src, std::size_t n, int) override { if (n) std::memcpy(dst, src, n); }
  void copy_on_device(void* dst, const void* src, std::size_t n, int) override { if (n) std::memmove(dst, src, n); }
  void memset_zero(void* dst, std::size_t n, int) override { if (n) std::memset(dst, 0, n); }
  void synchronize(int) override {}

  cpu::MemoryStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    cpu::MemoryStats s = stats_;
    s.bytes_cached = cache_.bytes();
    return s;
  }
  void reset_peak() {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.peak_bytes_in_use = stats_.bytes_in_use;
  }
  void empty_cache() {
    std::lock_guard<std::mutex> lock(mutex_);
    while (!cache_.empty()) release_oldest();
    high_water_ = stats_.bytes_in_use;
  }

 private:
  // A new block of a size class: mapped pages for the cached classes, malloc below. nullptr when
  // the system has no memory.
  void* system_allocate(std::size_t size) {
    if (size < cpu::kCachedMinBytes) return std::aligned_alloc(kCpuAlignment, size);
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
  }
  void system_free(void* p, std::size_t size) {
    STRIDER_CPU_UNPOISON(p, size);
    if (size < cpu::kCachedMinBytes) std::free(p);
    else munmap(p, size);
    ++stats_.system_frees;
  }
  // Gives the block cached longest ago back to the system (the caller holds the lock).
  void release_oldest() {
    std::size_t size = 0;
    void* p = cache_.pop_oldest(size);
    system_free(p, size);
  }

  std::mutex mutex_;
  detail::BlockCache cache_;
  cpu::MemoryStats stats_;
  std::size_t high_water_ = 0;  // the most bytes ever in use at once (since the last empty_cache)
};

// Intentionally leaked: tensors in static storage may be freed after main returns.
CpuBackend& cpu_backend() {
  static auto* b = new CpuBackend();
  return *b;
}

}  // namespace

DeviceBackend& device_backend(Device d) {
  if (d.is_cpu()) return cpu_backend();
#if STRIDER_HAS_CUDA
  const int count = cuda_device_count();
  STRIDER_CHECK(count > 0, DeviceError, "device " << d << " requested, but " << cuda_unavailable_reason()
                                                  << "; use device \"cpu\"");
  STRIDER_CHECK(d.index() >= 0 && d.index() < count, DeviceError,
                "device " << d << " does not exist: this machine has " << count
                          << " CUDA device(s), cuda:0 to cuda:" << count - 1);
  return cuda_device_backend();
#else
  STRIDER_THROW(DeviceError, "device " << d << " requested, but " << cuda_unavailable_reason()
                                       << "; use device \"cpu\"");
#endif
}

Storage::Storage(std::size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  data_ = device_backend(device).allocate(nbytes, device.index());
}

Storage::~Storage() {
  if (data_) device_backend(device_).deallocate(data_, nbytes_, device_.index());
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, std::size_t nbytes) {
  if (nbytes == 0) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    std::memmove(dst, src, nbytes);
  } else if (src_device.is_cpu()) {
    device_backend(dst_device).copy_from_host(dst, src, nbytes, dst_device.index());
  } else if (dst_device.is_cpu()) {
    device_backend(src_device).copy_to_host(dst, src, nbytes, src_device.index());
  } else if (dst_device == src_device) {
    device_backend(dst_device).copy_on_device(dst, src, nbytes, dst_device.index());
  } else {
    std::vector<unsigned char> staging(nbytes);
    device_backend(src_device).copy_to_host(staging.data(), src, nbytes, src_device.index());
    device_backend(dst_device).copy_from_host(dst, staging.data(), nbytes, dst_device.index());
  }
}

#if !STRIDER_HAS_CUDA
namespace cuda {
MemoryStats memory_stats(int device) {
  STRIDER_THROW(DeviceError, "memory_stats(cuda:" << device << "): " << cuda_unavailable_reason());
}
void reset_peak_memory_stats(int device) {
  STRIDER_THROW(DeviceError, "reset_peak_memory_stats(cuda:" << device << "): " << cuda_unavailable_reason());
}
void empty_cache() {}
void synchronize(int device) {
  STRIDER_THROW(DeviceError, "synchronize(cuda:" << device << "): " << cuda_unavailable_reason());
}
std::size_t allocation_size_class(std::size_t nbytes) { return nbytes; }
}  // namespace cuda

bool cuda_is_available() { return false; }
int cuda_device_count() { return 0; }
std::string cuda_unavailable_reason() {
  return "this build of strider has no CUDA backend (configured without nvcc; rebuild with the CUDA "
         "toolkit, or with -DSTRIDER_CUDA_EMULATION=ON to run the CUDA kernels on the CPU)";
}
#endif

namespace cpu {

std::size_t allocation_size_class(std::size_t nbytes) {
  constexpr std::size_t kLargeStep = std::size_t{64} << 10;
  if (nbytes < kCachedMinBytes) return (nbytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
  return (nbytes + kLargeStep - 1) / kLargeStep * kLargeStep;
}
MemoryStats memory_stats() { return cpu_backend().stats(); }
void reset_peak_memory_stats() { cpu_backend().reset_peak(); }
void empty_cache() { cpu_backend().empty_cache(); }

}  // namespace cpu
}  // namespace strider
