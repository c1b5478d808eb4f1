// Device memory of the CUDA emulator: host memory, tracked per allocation so that copies and
// memsets outside one fail as on a device. Also pinned host memory and __constant__ symbols.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include <strider/kernels/emu/internal.hpp>

namespace strider::emu::detail {
namespace {

// MemTotal / MemAvailable from /proc/meminfo (bytes); sysconf when it cannot be read.
std::size_t meminfo(const char* key) {
  std::ifstream in("/proc/meminfo");
  std::string name;
  std::size_t kib = 0;
  std::string unit;
  while (in >> name >> kib >> unit) {
    if (name == key) return kib * 1024;
  }
  const long pages = sysconf(std::strcmp(key, "MemTotal:") == 0 ? _SC_PHYS_PAGES : _SC_AVPHYS_PAGES);
  return static_cast<std::size_t>(pages) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

// Where [p, p + bytes) lies in device memory: 0 = inside one allocation, 1 = not device memory,
// 2 = starts in an allocation but runs past its end (*why explains). Caller holds the registry lock.
int classify_device_range(const Registry& r, const void* p, std::size_t bytes, std::string* why) {
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  auto it = r.device_allocations.upper_bound(addr);
  if (it == r.device_allocations.begin()) return 1;
  --it;
  if (addr >= it->first + std::max<std::size_t>(it->second, 1)) return 1;
  if (addr + bytes > it->first + it->second) {
    std::ostringstream os;
    os << bytes << " bytes at " << p << " run past the end of the " << it->second << "-byte allocation at "
       << reinterpret_cast<const void*>(it->first) << " (offset " << addr - it->first << ")";
    *why = os.str();
    return 2;
  }
  return 0;
}

// Checks that a device-side range of a copy or memset is device memory; returns an error or success.
cudaError_t check_device_range(const char* api, const char* role, const void* p, std::size_t bytes) {
  if (bytes == 0) return cudaSuccess;
  if (p == nullptr) return record_error(cudaErrorInvalidValue, std::string(api) + ": " + role + " is null");
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  std::string why;
  switch (classify_device_range(r, p, bytes, &why)) {
    case 0: return cudaSuccess;
    case 1:
      return record_error(cudaErrorInvalidValue, std::string(api) + ": " + role + " " + pointer_text(p) +
                                                     " is not device memory from cudaMalloc (or was freed)");
    default: return record_error(cudaErrorInvalidValue, std::string(api) + ": " + role + ": " + why);
  }
}

bool is_device_pointer(const void* p) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  std::string why;
  return classify_device_range(r, p, 1, &why) != 1;
}

cudaError_t copy(const char* api, void* dst, const void* src, std::size_t count, cudaMemcpyKind kind) {
  if (count == 0) return cudaSuccess;
  if (dst == nullptr || src == nullptr) return record_error(cudaErrorInvalidValue, std::string(api) + ": null pointer");
  bool dst_device = false, src_device = false;
  switch (kind) {
    case cudaMemcpyHostToHost: break;
    case cudaMemcpyHostToDevice: dst_device = true; break;
    case cudaMemcpyDeviceToHost: src_device = true; break;
    case cudaMemcpyDeviceToDevice: dst_device = src_device = true; break;
    case cudaMemcpyDefault:
      dst_device = is_device_pointer(dst);
      src_device = is_device_pointer(src);
      break;
    default:
      return record_error(cudaErrorInvalidMemcpyDirection,
                          std::string(api) + ": " + std::to_string(static_cast<int>(kind)) + " is not a cudaMemcpyKind");
  }
  if (dst_device) {
    if (const cudaError_t e = check_device_range(api, "destination", dst, count); e != cudaSuccess) return e;
  }
  if (src_device) {
    if (const cudaError_t e = check_device_range(api, "source", src, count); e != cudaSuccess) return e;
  }
  std::memmove(dst, src, count);
  return cudaSuccess;
}

}  // namespace

std::size_t total_memory() {
  static const std::size_t total = meminfo("MemTotal:");
  return total;
}

cudaError_t copy_symbol(void* symbol, std::size_t symbol_size, void* other, std::size_t count, std::size_t offset,
                        cudaMemcpyKind kind, bool to_symbol) {
  if (offset > symbol_size || count > symbol_size - offset) {
    return record_error(cudaErrorInvalidValue, "cudaMemcpy" + std::string(to_symbol ? "To" : "From") + "Symbol: " +
                                                   std::to_string(count) + " bytes at offset " +
                                                   std::to_string(offset) + " overrun the " +
                                                   std::to_string(symbol_size) + "-byte symbol");
  }
  const bool ok = kind == cudaMemcpyDefault || kind == cudaMemcpyDeviceToDevice ||
                  kind == (to_symbol ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost);
  if (!ok) return record_error(cudaErrorInvalidMemcpyDirection, "cudaMemcpyToSymbol/FromSymbol: wrong copy kind");
  if (count == 0) return cudaSuccess;
  char* sym = static_cast<char*>(symbol) + offset;
  if (to_symbol) {
    std::memmove(sym, other, count);
  } else {
    std::memmove(other, sym, count);
  }
  return cudaSuccess;
}


}  // namespace strider::emu::detail

using namespace strider::emu::detail;  // NOLINT(google-build-using-namespace): this file implements it

// --- memory ---

cudaError_t cudaMalloc(void** dev_ptr, std::size_t size) {
  using namespace strider::emu::detail;
  if (dev_ptr == nullptr) return record_error(cudaErrorInvalidValue, "cudaMalloc: null result pointer");
  *dev_ptr = nullptr;
  if (size == 0) return cudaSuccess;
  // Refuse what the host cannot hold before asking malloc (an overcommitted allocation would be
  // killed later, and a sanitizer allocator aborts on absurd sizes).
  if (size > total_memory() || (size > (std::size_t{64} << 20) && size > meminfo("MemAvailable:"))) {
    return record_error(cudaErrorMemoryAllocation, "cudaMalloc(" + std::to_string(size) +
                                                       " bytes): more than the host memory available to the "
                                                       "emulated device");
  }
  void* p = nullptr;
  if (posix_memalign(&p, 256, size) != 0 || p == nullptr) {
    return record_error(cudaErrorMemoryAllocation, "cudaMalloc(" + std::to_string(size) + " bytes) failed");
  }
  std::memset(p, 0xff, size);  // like uninitialised device memory: NaN as float
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.device_allocations[reinterpret_cast<std::uintptr_t>(p)] = size;
  *dev_ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* dev_ptr) {
  using namespace strider::emu::detail;
  if (dev_ptr == nullptr) return cudaSuccess;
  Registry& r = registry();
  {
    std::lock_guard lock(r.mutex);
    const auto it = r.device_allocations.find(reinterpret_cast<std::uintptr_t>(dev_ptr));
    if (it != r.device_allocations.end()) {
      r.device_allocations.erase(it);
      std::free(dev_ptr);
      return cudaSuccess;
    }
  }
  return record_error(cudaErrorInvalidValue, "cudaFree(" + pointer_text(dev_ptr) +
                                                 "): not the start of a live cudaMalloc allocation (double free?)");
}

cudaError_t cudaMallocHost(void** ptr, std::size_t size) {
  using namespace strider::emu::detail;
  if (ptr == nullptr) return record_error(cudaErrorInvalidValue, "cudaMallocHost: null result pointer");
  *ptr = nullptr;
  if (size == 0) return cudaSuccess;
  void* p = nullptr;
  if (size > total_memory() || posix_memalign(&p, 256, size) != 0 || p == nullptr) {
    return record_error(cudaErrorMemoryAllocation, "cudaMallocHost(" + std::to_string(size) + " bytes) failed");
  }
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.host_allocations.insert(p);
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFreeHost(void* ptr) {
  using namespace strider::emu::detail;
  if (ptr == nullptr) return cudaSuccess;
  Registry& r = registry();
  {
    std::lock_guard lock(r.mutex);
    if (r.host_allocations.erase(ptr) != 0) {
      std::free(ptr);
      return cudaSuccess;
    }
  }
  return record_error(cudaErrorInvalidValue, "cudaFreeHost(" + pointer_text(ptr) + "): not from cudaMallocHost");
}

cudaError_t cudaMemGetInfo(std::size_t* free, std::size_t* total) {
  using namespace strider::emu::detail;
  if (free == nullptr || total == nullptr) return record_error(cudaErrorInvalidValue, "cudaMemGetInfo: null pointer");
  *total = total_memory();
  *free = std::min(meminfo("MemAvailable:"), *total);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t count, cudaMemcpyKind kind) {
  if (const cudaError_t e = strider::emu::detail::sync_status(); e != cudaSuccess) return e;
  return strider::emu::detail::copy("cudaMemcpy", dst, src, count, kind);
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t count, cudaMemcpyKind kind, cudaStream_t stream) {
  if (const cudaError_t e = strider::emu::detail::check_stream("cudaMemcpyAsync", stream); e != cudaSuccess) return e;
  return strider::emu::detail::copy("cudaMemcpyAsync", dst, src, count, kind);
}

cudaError_t cudaMemset(void* dev_ptr, int value, std::size_t count) {
  if (const cudaError_t e = strider::emu::detail::check_device_range("cudaMemset", "destination", dev_ptr, count);
      e != cudaSuccess) {
    return e;
  }
  if (count > 0) std::memset(dev_ptr, value, count);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* dev_ptr, int value, std::size_t count, cudaStream_t stream) {
  if (const cudaError_t e = strider::emu::detail::check_stream("cudaMemsetAsync", stream); e != cudaSuccess) return e;
  return cudaMemset(dev_ptr, value, count);
}

// --- streams ---
