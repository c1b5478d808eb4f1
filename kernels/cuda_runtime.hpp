// The one CUDA portability header: every .cu file and all CUDA-using core code include this,
// never <cuda_runtime.h> directly, so the same source builds for a GPU (nvcc) and for the CPU
// (the host compiler against kernels/emu). Kernel files carry no #ifdef of their own.
//
//   STRIDER_LAUNCH(kernel, grid, block, shared_bytes, stream, args...)
//       kernel<<<grid, block, shared_bytes, stream>>>(args...), then a launch check that throws
//       strider::CudaError naming the kernel. A template kernel whose name has a comma goes
//       through a pointer: `auto* k = tile_kernel<float, 64>; STRIDER_LAUNCH(k, ...)`; write
//       grid/block as dim3(...) or variables, not dim3{...}.
//   STRIDER_DYNAMIC_SHARED(T, name)
//       inside a kernel body: `T* name` pointing at the block's dynamic shared memory
//       (16-byte aligned; size set by the launch's shared_bytes).
//   STRIDER_CUDA_CHECK(expr)
//       evaluates a runtime call; on failure throws strider::CudaError (strider::OutOfMemoryError
//       for cudaErrorMemoryAllocation) with the expression, error name and text, file and line,
//       plus the emulator's explanation where it has one.
#pragma once

#include <sstream>
#include <string>

#include <strider/config.hpp>
#include <strider/core/error.hpp>

#if defined(__CUDACC__) || (STRIDER_HAS_CUDA && !STRIDER_EMULATED_CUDA)
#define STRIDER_CUDA_IS_EMULATED 0
#include <cuda_runtime.h>
#elif STRIDER_EMULATED_CUDA
#define STRIDER_CUDA_IS_EMULATED 1
#include <strider/kernels/emu/emu.hpp>
#else
#error "this strider build has no CUDA backend: include <strider/kernels/cuda_runtime.hpp> only under #if STRIDER_HAS_CUDA (configure with nvcc available, or -DSTRIDER_CUDA_EMULATION=ON)"
#endif

namespace strider::detail {

// Builds the message and throws; never returns. Also clears CUDA's (non-sticky) last error so a
// caught exception does not make the next check fail too.
[[noreturn]] inline void cuda_check_failed(cudaError_t status, const std::string& what, const char* file, int line) {
  std::ostringstream os;
  os << what << " failed: " << cudaGetErrorName(status) << " (" << cudaGetErrorString(status) << ") at " << file
     << ':' << line;
#if STRIDER_CUDA_IS_EMULATED
  const std::string detail = ::strider::emu::last_error_detail(status);
  ::strider::emu::clear_last_error_detail();
  if (!detail.empty()) os << "\n  " << detail;
#endif
  (void)cudaGetLastError();
  if (status == cudaErrorMemoryAllocation) throw ::strider::OutOfMemoryError(os.str());
  throw ::strider::CudaError(os.str());
}

inline void check_launch(const char* kernel, const char* file, int line) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess) cuda_check_failed(status, std::string("launch of kernel `") + kernel + "`", file, line);
}

}  // namespace strider::detail

#define STRIDER_CUDA_CHECK(expr)                                                               \
  do {                                                                                         \
    const cudaError_t strider_cuda_status_ = (expr);                                           \
    if (strider_cuda_status_ != cudaSuccess)                                                   \
      ::strider::detail::cuda_check_failed(strider_cuda_status_, #expr, __FILE__, __LINE__); \
  } while (0)

#if STRIDER_CUDA_IS_EMULATED
#define STRIDER_LAUNCH(kernel, grid, block, shared_bytes, stream, ...)                                        \
  do {                                                                                                        \
    (void)::strider::emu::launch(#kernel, kernel, grid, block, shared_bytes, stream __VA_OPT__(, ) __VA_ARGS__); \
    ::strider::detail::check_launch(#kernel, __FILE__, __LINE__);                                             \
  } while (0)
#define STRIDER_DYNAMIC_SHARED(T, name) T* const name = ::strider::emu::dynamic_shared<T>()
#elif defined(__CUDACC__)
#define STRIDER_LAUNCH(kernel, grid, block, shared_bytes, stream, ...)  \
  do {                                                                  \
    kernel<<<grid, block, shared_bytes, stream>>>(__VA_ARGS__);         \
    ::strider::detail::check_launch(#kernel, __FILE__, __LINE__);       \
  } while (0)
// One untyped extern array per name: every extern __shared__ array aliases the same memory, and
// a single element type avoids nvcc's "incompatible redeclaration" when two kernels of one file
// use the same name with different types.
#define STRIDER_DYNAMIC_SHARED(T, name)                                      \
  extern __shared__ __align__(16) unsigned char strider_dynamic_shared_##name[]; \
  T* const name = reinterpret_cast<T*>(strider_dynamic_shared_##name)
#endif
// (A host-compiled .cpp of the real GPU build gets the runtime API and STRIDER_CUDA_CHECK only:
// launches belong in .cu files.)
