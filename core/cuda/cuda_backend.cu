// The CUDA device's DeviceBackend: a caching allocator plus copies, for real GPUs and for the
// emulated device alike (the runtime calls come from kernels/cuda_runtime.hpp).
//
// Caching allocator: requests are rounded up to a size class (512 B steps below 1 MiB, 2 MiB
// steps above) and freed blocks are kept in per-device bins keyed by that size, so steady-state
// training does no cudaMalloc/cudaFree at all. All work is on the legacy default stream, so a
// block freed by one op can be handed to the next op without synchronising. When cudaMalloc
// fails, the cache is emptied and the request retried once before OutOfMemoryError.
//
// Under AddressSanitizer on the emulated device (where device memory is host memory), the bytes
// of a block past the request (the size-class slack) and whole cached blocks are poisoned, so a
// kernel that writes one element past its buffer, or uses a freed tensor's memory, is reported
// even though the caching allocator owns the bytes.
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <strider/core/cuda.hpp>
#include <strider/core/detail/block_cache.hpp>
#include <strider/core/device.hpp>
#include <strider/core/error.hpp>
#include <strider/core/storage.hpp>
#include <strider/kernels/cuda_runtime.hpp>

#if STRIDER_EMULATED_CUDA && defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define STRIDER_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define STRIDER_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define STRIDER_POISON(p, n) ((void)(p), (void)(n))
#define STRIDER_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace strider {
namespace {

constexpr std::size_t kSmallLimit = 1u << 20;  // 1 MiB
constexpr std::size_t kSmallStep = 512;
constexpr std::size_t kLargeStep = 2u << 20;   // 2 MiB

std::string mib(std::size_t bytes) {
  std::ostringstream os;
  os.precision(2);
  os << std::fixed << static_cast<double>(bytes) / (1 << 20) << " MiB";
  return os.str();
}

struct DeviceCache {
  detail::BlockCache free_blocks;                          // by size class
  std::unordered_map<void*, std::size_t> live;            // block -> size class
  cuda::MemoryStats stats;
};

class CudaBackend final : public DeviceBackend {
 public:
  void* allocate(std::size_t nbytes, int index) override {
    if (nbytes == 0) return nullptr;
    const std::size_t size = cuda::allocation_size_class(nbytes);
    std::lock_guard<std::mutex> lock(mutex_);
    DeviceCache& dc = cache(index);
    ++dc.stats.allocations;
    void* p = nullptr;
    p = dc.free_blocks.take(size);
    if (p) {
      dc.stats.bytes_cached -= size;
      ++dc.stats.cache_hits;
    } else {
      STRIDER_CUDA_CHECK(cudaSetDevice(index));
      cudaError_t err = cudaMalloc(&p, size);
      if (err == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();  // clear the sticky-free error before retrying
        const std::size_t cached_before = dc.stats.bytes_cached;
        release_cached(dc);
        err = cudaMalloc(&p, size);
        if (err != cudaSuccess) {
          (void)cudaGetLastError();
          STRIDER_THROW(OutOfMemoryError,
                        "CUDA out of memory on cuda:" << index << ": tried to allocate " << mib(nbytes) << " ("
                            << nbytes << " bytes); " << mib(dc.stats.bytes_in_use) << " in use by tensors, "
                            << mib(cached_before) << " was cached (released and retried). Free tensors you no "
                               "longer need, or use a smaller batch or model");
        }
      }
      STRIDER_CUDA_CHECK(err);
      ++dc.stats.device_mallocs;
      dc.stats.bytes_reserved += size;
    }
    STRIDER_UNPOISON(p, nbytes);
    STRIDER_POISON(static_cast<char*>(p) + nbytes, size - nbytes);
    dc.live.emplace(p, size);
    dc.stats.bytes_in_use += size;
    dc.stats.peak_bytes_in_use = std::max(dc.stats.peak_bytes_in_use, dc.stats.bytes_in_use);
    return p;
  }

  void deallocate(void* ptr, std::size_t, int index) override {
    std::lock_guard<std::mutex> lock(mutex_);
    DeviceCache& dc = cache(index);
    auto it = dc.live.find(ptr);
    if (it == dc.live.end()) return;  // not ours; never happens for Storage-owned memory
    const std::size_t size = it->second;
    dc.live.erase(it);
    dc.stats.bytes_in_use -= size;
    dc.stats.bytes_cached += size;
    dc.free_blocks.put(ptr, size);
    STRIDER_POISON(ptr, size);
  }

  void copy_from_host(void* dst, const void* src, std::size_t n, int index) override {
    STRIDER_CUDA_CHECK(cudaSetDevice(index));
    STRIDER_CUDA_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice));
  }
  void copy_to_host(void* dst, const void* src, std::size_t n, int index) override {
    STRIDER_CUDA_CHECK(cudaSetDevice(index));
    STRIDER_CUDA_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost));
  }
  void copy_on_device(void* dst, const void* src, std::size_t n, int index) override {
    STRIDER_CUDA_CHECK(cudaSetDevice(index));
    STRIDER_CUDA_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToDevice));
  }
  void memset_zero(void* dst, std::size_t n, int index) override {
    STRIDER_CUDA_CHECK(cudaSetDevice(index));
    STRIDER_CUDA_CHECK(cudaMemset(dst, 0, n));
  }
  void synchronize(int index) override {
    STRIDER_CUDA_CHECK(cudaSetDevice(index));
    STRIDER_CUDA_CHECK(cudaDeviceSynchronize());
  }

  cuda::MemoryStats stats(int index) {
    std::lock_guard<std::mutex> lock(mutex_);
    return cache(index).stats;
  }
  void reset_peak(int index) {
    std::lock_guard<std::mutex> lock(mutex_);
    DeviceCache& dc = cache(index);
    dc.stats.peak_bytes_in_use = dc.stats.bytes_in_use;
  }
  void empty_cache() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [index, dc] : caches_) {
      STRIDER_CUDA_CHECK(cudaSetDevice(index));
      release_cached(dc);
    }
  }

 private:
  DeviceCache& cache(int index) { return caches_[index]; }

  // Frees every cached block of one device (the caller holds the lock and set the device).
  void release_cached(DeviceCache& dc) {
    STRIDER_CUDA_CHECK(cudaDeviceSynchronize());
    std::size_t size = 0;
    while (void* p = dc.free_blocks.pop_oldest(size)) {
      STRIDER_UNPOISON(p, size);
      STRIDER_CUDA_CHECK(cudaFree(p));
      ++dc.stats.device_frees;
      dc.stats.bytes_reserved -= size;
    }
    dc.stats.bytes_cached = 0;
  }

  std::mutex mutex_;
  std::map<int, DeviceCache> caches_;
};

// Intentionally leaked: tensors held in static storage may be freed after main returns, when a
// destroyed backend (or a torn-down CUDA context) must not be touched.
CudaBackend& backend() {
  static auto* b = new CudaBackend();
  return *b;
}

struct Probe {
  int count = 0;
  std::string reason;
};

const Probe& probe() {
  static const Probe p = [] {
    Probe r;
    const cudaError_t err = cudaGetDeviceCount(&r.count);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      r.count = 0;
      r.reason = std::string("no CUDA device is usable on this machine (cudaGetDeviceCount: ") + cudaGetErrorName(err) +
                 ", " + cudaGetErrorString(err) + ")";
    } else if (r.count == 0) {
      r.reason = "no CUDA device is present on this machine";
    }
    return r;
  }();
  return p;
}

void check_device(int device) {
  STRIDER_CHECK(device >= 0 && device < cuda_device_count(), DeviceError,
                "cuda:" << device << " does not exist: "
                        << (cuda_device_count() ? "this machine has " + std::to_string(cuda_device_count()) + " CUDA device(s)"
                                                : cuda_unavailable_reason()));
}

}  // namespace

DeviceBackend& cuda_device_backend() { return backend(); }

bool cuda_is_available() { return probe().count > 0; }
int cuda_device_count() { return probe().count; }
std::string cuda_unavailable_reason() { return probe().reason; }

namespace cuda {

std::size_t allocation_size_class(std::size_t nbytes) {
  if (nbytes <= kSmallLimit) return (nbytes + kSmallStep - 1) / kSmallStep * kSmallStep;
  return (nbytes + kLargeStep - 1) / kLargeStep * kLargeStep;
}

MemoryStats memory_stats(int device) {
  check_device(device);
  return backend().stats(device);
}
void reset_peak_memory_stats(int device) {
  check_device(device);
  backend().reset_peak(device);
}
void empty_cache() {
  if (cuda_is_available()) backend().empty_cache();
}
void synchronize(int device) {
  check_device(device);
  backend().synchronize(device);
}

}  // namespace cuda
}  // namespace strider
