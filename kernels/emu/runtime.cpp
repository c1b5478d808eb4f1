// The emulated CUDA runtime API (declared in runtime.hpp): errors, the one device, streams,
// events and kernel attributes (memory is in memory.cpp).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>

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

}  // namespace

Registry& registry() {
  static auto* r = new Registry;
  return *r;
}

std::string pointer_text(const void* p) {
  std::ostringstream os;
  os << p;
  return os.str();
}

cudaError_t check_stream(const char* api, cudaStream_t stream) {
  if (is_valid_stream(stream)) return cudaSuccess;
  return record_error(cudaErrorInvalidResourceHandle,
                      std::string(api) + ": stream " + pointer_text(stream) + " is not a live stream");
}

namespace {
cudaError_t check_event(const char* api, cudaEvent_t event) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  if (r.events.count(event) != 0) return cudaSuccess;
  return record_error(cudaErrorInvalidResourceHandle,
                      std::string(api) + ": event " + pointer_text(event) + " is not a live event");
}
}  // namespace

cudaError_t sync_status() { return tls_execution_error; }

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
