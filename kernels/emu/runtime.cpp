// The emulated CUDA runtime API (declared in runtime.hpp): errors, the one device, memory,
// streams, events and kernel attributes.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <unordered_map>

#include <strider/kernels/emu/internal.hpp>

struct CUstream_st {
  unsigned flags = 0;
};
struct CUevent_st {
  unsigned flags = 0;
  bool recorded = false;
  std::chrono::steady_clock::time_point time;
};

namespace strider::emu {
namespace detail {
namespace {

thread_local cudaError_t tls_last_error = cudaSuccess;
thread_local cudaError_t tls_execution_error = cudaSuccess;
thread_local cudaError_t tls_detail_code = cudaSuccess;
thread_local std::string tls_detail;

// Every registry is reached through a leaked pointer: host threads may still call the API while
// static destructors run.
struct Registry {
  std::mutex mutex;
  std::map<std::uintptr_t, std::size_t> device_allocations;  // base -> bytes
  std::set<void*> host_allocations;
  std::size_t device_bytes = 0;
  std::set<CUstream_st*> streams;
  std::set<CUevent_st*> events;
  std::unordered_map<std::uintptr_t, std::size_t> max_dynamic_shared;
};
Registry& registry() {
  static auto* r = new Registry;
  return *r;
}

std::string pointer_text(const void* p) {
  std::ostringstream os;
  os << p;
  return os.str();
}

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
std::size_t total_memory() {
  static const std::size_t total = meminfo("MemTotal:");
  return total;
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

cudaError_t check_stream(const char* api, cudaStream_t stream) {
  if (is_valid_stream(stream)) return cudaSuccess;
  return record_error(cudaErrorInvalidResourceHandle,
                      std::string(api) + ": stream " + pointer_text(stream) + " is not a live stream");
}

cudaError_t check_event(const char* api, cudaEvent_t event) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  if (r.events.count(event) != 0) return cudaSuccess;
  return record_error(cudaErrorInvalidResourceHandle,
                      std::string(api) + ": event " + pointer_text(event) + " is not a live event");
}

// What a synchronising call returns: the pending fault of an earlier kernel, if any.
cudaError_t sync_status() { return tls_execution_error; }

}  // namespace

cudaError_t record_error(cudaError_t code, std::string detail) {
  tls_last_error = code;
  tls_detail_code = code;
  tls_detail = std::move(detail);
  return code;
}

cudaError_t record_execution_error(cudaError_t code, std::string detail) {
  tls_execution_error = code;
  return record_error(code, std::move(detail));
}

bool is_valid_stream(cudaStream_t stream) {
  if (stream == nullptr || stream == cudaStreamLegacy || stream == cudaStreamPerThread) return true;
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  return r.streams.count(stream) != 0;
}

std::size_t dynamic_shared_limit(std::uintptr_t kernel) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  const auto it = r.max_dynamic_shared.find(kernel);
  return it == r.max_dynamic_shared.end() ? kSharedPerBlock : it->second;
}

cudaError_t set_func_attribute(std::uintptr_t kernel, cudaFuncAttribute attr, int value) {
  if (kernel == 0) return record_error(cudaErrorInvalidDeviceFunction, "cudaFuncSetAttribute: null kernel");
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || static_cast<std::size_t>(value) > kSharedPerBlockOptin) {
      return record_error(cudaErrorInvalidValue, "cudaFuncSetAttribute: cudaFuncAttributeMaxDynamicSharedMemorySize " +
                                                     std::to_string(value) + " is not from 0 to " +
                                                     std::to_string(kSharedPerBlockOptin));
    }
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    r.max_dynamic_shared[kernel] = std::max<std::size_t>(static_cast<std::size_t>(value), kSharedPerBlock);
    return cudaSuccess;
  }
  if (attr == cudaFuncAttributePreferredSharedMemoryCarveout) {
    if (value < -1 || value > 100) {
      return record_error(cudaErrorInvalidValue, "cudaFuncSetAttribute: carveout " + std::to_string(value) +
                                                     " is not -1 or a percentage");
    }
    return cudaSuccess;
  }
  return record_error(cudaErrorInvalidValue, "cudaFuncSetAttribute: attribute " +
                                                 std::to_string(static_cast<int>(attr)) + " is not supported");
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

}  // namespace detail

std::string last_error_detail(cudaError_t error) {
  return error == detail::tls_detail_code ? detail::tls_detail : std::string();
}

void clear_last_error_detail() {
  detail::tls_detail_code = cudaSuccess;
  detail::tls_detail.clear();
}

}  // namespace strider::emu

using namespace strider::emu::detail;  // NOLINT(google-build-using-namespace): this file implements it

// --- errors ---

cudaError_t cudaGetLastError() {
  const cudaError_t e = strider::emu::detail::tls_last_error;
  strider::emu::detail::tls_last_error = cudaSuccess;
  strider::emu::detail::tls_execution_error = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError() { return strider::emu::detail::tls_last_error; }

const char* cudaGetErrorName(cudaError_t error) {
#define STRIDER_EMU_NAME(name, value, text) \
  case name: return #name;
  switch (error) { STRIDER_EMU_CUDA_ERRORS(STRIDER_EMU_NAME) }
#undef STRIDER_EMU_NAME
  return "unrecognized error code";
}

const char* cudaGetErrorString(cudaError_t error) {
#define STRIDER_EMU_TEXT(name, value, text) \
  case name: return text;
  switch (error) { STRIDER_EMU_CUDA_ERRORS(STRIDER_EMU_TEXT) }
#undef STRIDER_EMU_TEXT
  return "unrecognized error code";
}

// --- device ---

cudaError_t cudaGetDeviceCount(int* count) {
  if (count == nullptr) return record_error(cudaErrorInvalidValue, "cudaGetDeviceCount: null pointer");
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (device != 0) {
    return record_error(cudaErrorInvalidDevice,
                        "cudaSetDevice(" + std::to_string(device) + "): the emulator has one device, 0");
  }
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  if (device == nullptr) return record_error(cudaErrorInvalidValue, "cudaGetDevice: null pointer");
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  using namespace strider::emu::detail;
  if (prop == nullptr) return record_error(cudaErrorInvalidValue, "cudaGetDeviceProperties: null pointer");
  if (device != 0) return record_error(cudaErrorInvalidDevice, "cudaGetDeviceProperties: device " + std::to_string(device));
  *prop = cudaDeviceProp{};
  const int threads = strider::emu::num_threads();
  std::snprintf(prop->name, sizeof prop->name, "strider emulated CUDA device (CPU, %d threads)", threads);
  prop->totalGlobalMem = total_memory();
  prop->sharedMemPerBlock = kSharedPerBlock;
  prop->regsPerBlock = 65536;
  prop->warpSize = kWarpSize;
  prop->memPitch = 2147483647;
  prop->maxThreadsPerBlock = static_cast<int>(kMaxThreadsPerBlock);
  for (int i = 0; i < 3; ++i) {
    prop->maxThreadsDim[i] = static_cast<int>(kMaxBlockDim[i]);
    prop->maxGridSize[i] = static_cast<int>(kMaxGridDim[i]);
  }
  prop->totalConstMem = 65536;
  prop->major = 9;
  prop->minor = 0;
  prop->textureAlignment = 512;
  prop->multiProcessorCount = threads;
  prop->concurrentKernels = 0;
  prop->unifiedAddressing = 1;
  prop->memoryBusWidth = 64;
  prop->l2CacheSize = 1 << 20;
  prop->maxThreadsPerMultiProcessor = 2048;
  prop->sharedMemPerMultiprocessor = 228 * 1024;
  prop->regsPerMultiprocessor = 65536;
  prop->sharedMemPerBlockOptin = kSharedPerBlockOptin;
  prop->maxBlocksPerMultiProcessor = 32;
  prop->reservedSharedMemPerBlock = 1024;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  cudaDeviceProp p;
  if (value == nullptr) return record_error(cudaErrorInvalidValue, "cudaDeviceGetAttribute: null pointer");
  if (const cudaError_t e = cudaGetDeviceProperties(&p, device); e != cudaSuccess) return e;
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = p.maxThreadsPerBlock; break;
    case cudaDevAttrMaxBlockDimX: *value = p.maxThreadsDim[0]; break;
    case cudaDevAttrMaxBlockDimY: *value = p.maxThreadsDim[1]; break;
    case cudaDevAttrMaxBlockDimZ: *value = p.maxThreadsDim[2]; break;
    case cudaDevAttrMaxGridDimX: *value = p.maxGridSize[0]; break;
    case cudaDevAttrMaxGridDimY: *value = p.maxGridSize[1]; break;
    case cudaDevAttrMaxGridDimZ: *value = p.maxGridSize[2]; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = static_cast<int>(p.sharedMemPerBlock); break;
    case cudaDevAttrWarpSize: *value = p.warpSize; break;
    case cudaDevAttrMultiProcessorCount: *value = p.multiProcessorCount; break;
    case cudaDevAttrL2CacheSize: *value = p.l2CacheSize; break;
    case cudaDevAttrMaxThreadsPerMultiProcessor: *value = p.maxThreadsPerMultiProcessor; break;
    case cudaDevAttrComputeCapabilityMajor: *value = p.major; break;
    case cudaDevAttrComputeCapabilityMinor: *value = p.minor; break;
    case cudaDevAttrMaxSharedMemoryPerMultiprocessor: *value = static_cast<int>(p.sharedMemPerMultiprocessor); break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = static_cast<int>(p.sharedMemPerBlockOptin); break;
    case cudaDevAttrTotalConstantMemory: *value = static_cast<int>(p.totalConstMem); break;
    case cudaDevAttrMaxPitch: *value = static_cast<int>(p.memPitch); break;
    case cudaDevAttrMaxRegistersPerBlock: *value = p.regsPerBlock; break;
    case cudaDevAttrTextureAlignment: *value = static_cast<int>(p.textureAlignment); break;
    case cudaDevAttrIntegrated: *value = p.integrated; break;
    case cudaDevAttrConcurrentKernels: *value = p.concurrentKernels; break;
    case cudaDevAttrEccEnabled: *value = p.ECCEnabled; break;
    // Nominal: the emulated device has no clocks of its own (1 GHz, so peak-rate arithmetic works).
    case cudaDevAttrClockRate: *value = 1000000; break;
    case cudaDevAttrMemoryClockRate: *value = 1000000; break;
    case cudaDevAttrGlobalMemoryBusWidth: *value = p.memoryBusWidth; break;
    case cudaDevAttrAsyncEngineCount: *value = p.asyncEngineCount; break;
    case cudaDevAttrUnifiedAddressing: *value = p.unifiedAddressing; break;
    case cudaDevAttrMaxRegistersPerMultiprocessor: *value = p.regsPerMultiprocessor; break;
    case cudaDevAttrManagedMemory: *value = p.managedMemory; break;
    case cudaDevAttrCooperativeLaunch: *value = p.cooperativeLaunch; break;
    case cudaDevAttrMaxBlocksPerMultiprocessor: *value = p.maxBlocksPerMultiProcessor; break;
    case cudaDevAttrReservedSharedMemoryPerBlock: *value = static_cast<int>(p.reservedSharedMemPerBlock); break;
    default:
      return record_error(cudaErrorInvalidValue, "cudaDeviceGetAttribute: attribute " +
                                                     std::to_string(static_cast<int>(attr)) + " is not emulated");
  }
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() { return strider::emu::detail::sync_status(); }
cudaError_t cudaDeviceReset() { return cudaSuccess; }

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
  r.device_bytes += size;
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
      r.device_bytes -= it->second;
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

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
  if (stream == nullptr || flags > cudaStreamNonBlocking) {
    return record_error(cudaErrorInvalidValue, "cudaStreamCreateWithFlags: null pointer or unknown flags");
  }
  auto* s = new CUstream_st{flags};
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.streams.insert(s);
  *stream = s;
  return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  Registry& r = registry();
  {
    std::lock_guard lock(r.mutex);
    if (r.streams.erase(stream) != 0) {
      delete stream;
      return cudaSuccess;
    }
  }
  return record_error(cudaErrorInvalidResourceHandle,
                      "cudaStreamDestroy: " + pointer_text(stream) + " is not a live stream you created");
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (const cudaError_t e = strider::emu::detail::check_stream("cudaStreamSynchronize", stream); e != cudaSuccess) {
    return e;
  }
  return strider::emu::detail::sync_status();
}

cudaError_t cudaStreamQuery(cudaStream_t stream) {
  return strider::emu::detail::check_stream("cudaStreamQuery", stream);
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags) {
  (void)flags;
  if (const cudaError_t e = strider::emu::detail::check_stream("cudaStreamWaitEvent", stream); e != cudaSuccess) {
    return e;
  }
  return strider::emu::detail::check_event("cudaStreamWaitEvent", event);
}

// --- events ---

cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags) {
  if (event == nullptr || (flags & ~0x0fu) != 0) {
    return record_error(cudaErrorInvalidValue, "cudaEventCreateWithFlags: null pointer or unknown flags");
  }
  auto* e = new CUevent_st{flags, false, {}};
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.events.insert(e);
  *event = e;
  return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  Registry& r = registry();
  {
    std::lock_guard lock(r.mutex);
    if (r.events.erase(event) != 0) {
      delete event;
      return cudaSuccess;
    }
  }
  return record_error(cudaErrorInvalidResourceHandle, "cudaEventDestroy: " + pointer_text(event) + " is not a live event");
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  using namespace strider::emu::detail;
  if (const cudaError_t e = check_stream("cudaEventRecord", stream); e != cudaSuccess) return e;
  if (const cudaError_t e = check_event("cudaEventRecord", event); e != cudaSuccess) return e;
  event->time = std::chrono::steady_clock::now();  // streams are synchronous: all earlier work is done
  event->recorded = true;
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (const cudaError_t e = strider::emu::detail::check_event("cudaEventSynchronize", event); e != cudaSuccess) {
    return e;
  }
  return strider::emu::detail::sync_status();
}

cudaError_t cudaEventQuery(cudaEvent_t event) { return strider::emu::detail::check_event("cudaEventQuery", event); }

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  using namespace strider::emu::detail;
  if (ms == nullptr) return record_error(cudaErrorInvalidValue, "cudaEventElapsedTime: null result pointer");
  if (const cudaError_t e = check_event("cudaEventElapsedTime", start); e != cudaSuccess) return e;
  if (const cudaError_t e = check_event("cudaEventElapsedTime", end); e != cudaSuccess) return e;
  if (!start->recorded || !end->recorded) {
    return record_error(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: an event was never recorded");
  }
  if (((start->flags | end->flags) & cudaEventDisableTiming) != 0) {
    return record_error(cudaErrorInvalidResourceHandle,
                        "cudaEventElapsedTime: an event was created with cudaEventDisableTiming");
  }
  *ms = std::chrono::duration<float, std::milli>(end->time - start->time).count();
  return cudaSuccess;
}
