// The emulated CUDA runtime API: the real names, types and numeric error codes of
// <cuda_runtime_api.h>, at global scope, implemented on the host (kernels/emu/runtime.cpp).
//
// One emulated device (ordinal 0). Device memory is host memory (posix_memalign, so AddressSanitizer
// sees every allocation's exact bounds); streams run their work synchronously; events record host
// time. Errors follow CUDA: each call returns a cudaError_t and remembers the last error per host
// thread for cudaGetLastError / cudaPeekAtLastError.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <strider/kernels/emu/vector_types.hpp>

// X(name, value, cudaGetErrorString text): the codes the emulator can return, with CUDA's values.
#define STRIDER_EMU_CUDA_ERRORS(X)                                                   \
  X(cudaSuccess, 0, "no error")                                                      \
  X(cudaErrorInvalidValue, 1, "invalid argument")                                    \
  X(cudaErrorMemoryAllocation, 2, "out of memory")                                   \
  X(cudaErrorInitializationError, 3, "initialization error")                         \
  X(cudaErrorInvalidConfiguration, 9, "invalid configuration argument")              \
  X(cudaErrorInvalidPitchValue, 12, "invalid pitch argument")                        \
  X(cudaErrorInvalidSymbol, 13, "invalid device symbol")                             \
  X(cudaErrorInvalidHostPointer, 16, "invalid host pointer")                         \
  X(cudaErrorInvalidDevicePointer, 17, "invalid device pointer")                     \
  X(cudaErrorInvalidMemcpyDirection, 21, "invalid copy direction for memcpy")        \
  X(cudaErrorMissingConfiguration, 52, "__global__ function call is not configured") \
  X(cudaErrorInvalidDeviceFunction, 98, "invalid device function")                   \
  X(cudaErrorNoDevice, 100, "no CUDA-capable device is detected")                    \
  X(cudaErrorInvalidDevice, 101, "invalid device ordinal")                           \
  X(cudaErrorInvalidKernelImage, 200, "device kernel image is invalid")              \
  X(cudaErrorInvalidResourceHandle, 400, "invalid resource handle")                  \
  X(cudaErrorNotReady, 600, "device not ready")                                      \
  X(cudaErrorIllegalAddress, 700, "an illegal memory access was encountered")        \
  X(cudaErrorLaunchOutOfResources, 701, "too many resources requested for launch")   \
  X(cudaErrorLaunchTimeout, 702, "the launch timed out and was terminated")          \
  X(cudaErrorAssert, 710, "device-side assert triggered")                            \
  X(cudaErrorIllegalInstruction, 715, "an illegal instruction was encountered")      \
  X(cudaErrorMisalignedAddress, 716, "misaligned address")                           \
  X(cudaErrorLaunchFailure, 719, "unspecified launch failure")                       \
  X(cudaErrorNotPermitted, 800, "operation not permitted")                           \
  X(cudaErrorNotSupported, 801, "operation not supported")                           \
  X(cudaErrorUnknown, 999, "unknown error")

#define STRIDER_EMU_ENUMERATOR(name, value, text) name = value,
enum cudaError : int { STRIDER_EMU_CUDA_ERRORS(STRIDER_EMU_ENUMERATOR) };
#undef STRIDER_EMU_ENUMERATOR
typedef cudaError cudaError_t;

enum cudaMemcpyKind : int {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};

enum cudaFuncAttribute : int {
  cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
  cudaFuncAttributePreferredSharedMemoryCarveout = 9,
};

enum cudaDeviceAttr : int {
  cudaDevAttrMaxThreadsPerBlock = 1,
  cudaDevAttrMaxBlockDimX = 2,
  cudaDevAttrMaxBlockDimY = 3,
  cudaDevAttrMaxBlockDimZ = 4,
  cudaDevAttrMaxGridDimX = 5,
  cudaDevAttrMaxGridDimY = 6,
  cudaDevAttrMaxGridDimZ = 7,
  cudaDevAttrMaxSharedMemoryPerBlock = 8,
  cudaDevAttrTotalConstantMemory = 9,
  cudaDevAttrWarpSize = 10,
  cudaDevAttrMaxPitch = 11,
  cudaDevAttrMaxRegistersPerBlock = 12,
  cudaDevAttrClockRate = 13,
  cudaDevAttrTextureAlignment = 14,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrIntegrated = 18,
  cudaDevAttrConcurrentKernels = 31,
  cudaDevAttrEccEnabled = 32,
  cudaDevAttrMemoryClockRate = 36,
  cudaDevAttrGlobalMemoryBusWidth = 37,
  cudaDevAttrL2CacheSize = 38,
  cudaDevAttrMaxThreadsPerMultiProcessor = 39,
  cudaDevAttrAsyncEngineCount = 40,
  cudaDevAttrUnifiedAddressing = 41,
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76,
  cudaDevAttrMaxSharedMemoryPerMultiprocessor = 81,
  cudaDevAttrMaxRegistersPerMultiprocessor = 82,
  cudaDevAttrManagedMemory = 83,
  cudaDevAttrCooperativeLaunch = 95,
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
  cudaDevAttrMaxBlocksPerMultiprocessor = 106,
  cudaDevAttrReservedSharedMemoryPerBlock = 111,
};

// The fields of CUDA 13's cudaDeviceProp that describe compute and memory limits (same names and
// types; the texture/surface/interop fields are left out).
struct cudaDeviceProp {
  char name[256];
  std::size_t totalGlobalMem;
  std::size_t sharedMemPerBlock;
  int regsPerBlock;
  int warpSize;
  std::size_t memPitch;
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  std::size_t totalConstMem;
  int major;
  int minor;
  std::size_t textureAlignment;
  int multiProcessorCount;
  int integrated;
  int canMapHostMemory;
  int concurrentKernels;
  int ECCEnabled;
  int pciBusID;
  int pciDeviceID;
  int pciDomainID;
  int asyncEngineCount;
  int unifiedAddressing;
  int memoryBusWidth;
  int l2CacheSize;
  int persistingL2CacheMaxSize;
  int maxThreadsPerMultiProcessor;
  int streamPrioritiesSupported;
  std::size_t sharedMemPerMultiprocessor;
  int regsPerMultiprocessor;
  int managedMemory;
  int isMultiGpuBoard;
  int cooperativeLaunch;
  std::size_t sharedMemPerBlockOptin;
  int maxBlocksPerMultiProcessor;
  std::size_t reservedSharedMemPerBlock;
};

struct CUstream_st;
struct CUevent_st;
typedef CUstream_st* cudaStream_t;
typedef CUevent_st* cudaEvent_t;

#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01
#define cudaStreamLegacy (reinterpret_cast<cudaStream_t>(0x1))
#define cudaStreamPerThread (reinterpret_cast<cudaStream_t>(0x2))
#define cudaEventDefault 0x00
#define cudaEventBlockingSync 0x01
#define cudaEventDisableTiming 0x02

// --- errors ---
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorName(cudaError_t error);
const char* cudaGetErrorString(cudaError_t error);

// --- device ---
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaDeviceReset();

// --- memory ---
cudaError_t cudaMalloc(void** dev_ptr, std::size_t size);
cudaError_t cudaFree(void* dev_ptr);
cudaError_t cudaMallocHost(void** ptr, std::size_t size);
cudaError_t cudaFreeHost(void* ptr);
cudaError_t cudaMemGetInfo(std::size_t* free, std::size_t* total);
cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t count, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t count, cudaMemcpyKind kind,
                            cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* dev_ptr, int value, std::size_t count);
cudaError_t cudaMemsetAsync(void* dev_ptr, int value, std::size_t count, cudaStream_t stream = nullptr);

template <class T>
cudaError_t cudaMalloc(T** dev_ptr, std::size_t size) {
  return cudaMalloc(reinterpret_cast<void**>(dev_ptr), size);
}
template <class T>
cudaError_t cudaMallocHost(T** ptr, std::size_t size) {
  return cudaMallocHost(reinterpret_cast<void**>(ptr), size);
}

// __constant__ and __device__ variables are ordinary host globals in emulation.
namespace strider::emu::detail {
cudaError_t copy_symbol(void* symbol, std::size_t symbol_size, void* other, std::size_t count,
                        std::size_t offset, cudaMemcpyKind kind, bool to_symbol);
}
template <class T>
cudaError_t cudaMemcpyToSymbol(const T& symbol, const void* src, std::size_t count, std::size_t offset = 0,
                               cudaMemcpyKind kind = cudaMemcpyHostToDevice) {
  return strider::emu::detail::copy_symbol(const_cast<T*>(&symbol), sizeof(T), const_cast<void*>(src), count,
                                           offset, kind, true);
}
template <class T>
cudaError_t cudaMemcpyFromSymbol(void* dst, const T& symbol, std::size_t count, std::size_t offset = 0,
                                 cudaMemcpyKind kind = cudaMemcpyDeviceToHost) {
  return strider::emu::detail::copy_symbol(const_cast<T*>(&symbol), sizeof(T), dst, count, offset, kind, false);
}

// --- streams and events ---
cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamQuery(cudaStream_t stream);
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags = 0);
cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventQuery(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);

// --- kernel attributes ---
namespace strider::emu::detail {
cudaError_t set_func_attribute(std::uintptr_t kernel, cudaFuncAttribute attr, int value);
}
template <class R, class... P>
cudaError_t cudaFuncSetAttribute(R (*kernel)(P...), cudaFuncAttribute attr, int value) {
  return strider::emu::detail::set_func_attribute(reinterpret_cast<std::uintptr_t>(kernel), attr, value);
}

namespace strider::emu {
// The emulator's own explanation of the last error it set on this thread, when `error` is that
// error (e.g. which block and threads reached different barriers); empty otherwise.
// STRIDER_CUDA_CHECK appends it to the exception message.
std::string last_error_detail(cudaError_t error);
// Marks the detail as reported, so a later error with the same code does not repeat it.
void clear_last_error_detail();
}  // namespace strider::emu
