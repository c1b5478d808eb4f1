// Shared between the emulator's own .cpp files; kernel code never includes this.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>

#include <strider/kernels/emu/launch.hpp>
#include <strider/kernels/emu/runtime.hpp>

namespace strider::emu::detail {

// Sets this thread's last error (and its explanation) and returns `code`.
cudaError_t record_error(cudaError_t code, std::string detail);
// Also makes the synchronising calls (cudaDeviceSynchronize, cudaMemcpy, ...) on this thread
// report `code` until cudaGetLastError clears it, as an asynchronous kernel fault would.
cudaError_t record_execution_error(cudaError_t code, std::string detail);

// The runtime's bookkeeping. Reached through a leaked pointer: host threads may still call the
// API while static destructors run.
struct Registry {
  std::mutex mutex;
  std::map<std::uintptr_t, std::size_t> device_allocations;  // base -> bytes
  std::set<void*> host_allocations;
  std::set<CUstream_st*> streams;
  std::set<CUevent_st*> events;
  std::unordered_map<std::uintptr_t, std::size_t> max_dynamic_shared;
};
Registry& registry();

bool is_valid_stream(cudaStream_t stream);
// cudaSuccess, or records and returns cudaErrorInvalidResourceHandle naming `api`.
cudaError_t check_stream(const char* api, cudaStream_t stream);
// What a synchronising call returns: the pending fault of an earlier kernel, if any.
cudaError_t sync_status();
std::size_t total_memory();  // the host's physical memory: the emulated device's
std::string pointer_text(const void* p);
std::size_t dynamic_shared_limit(std::uintptr_t kernel);  // 48 KiB, or what cudaFuncSetAttribute allowed

inline constexpr unsigned kMaxThreadsPerBlock = 1024;
inline constexpr unsigned kMaxBlockDim[3] = {1024, 1024, 64};
inline constexpr unsigned kMaxGridDim[3] = {2147483647u, 65535u, 65535u};
inline constexpr std::size_t kSharedPerBlock = 48 * 1024;
inline constexpr std::size_t kSharedPerBlockOptin = 227 * 1024;
inline constexpr int kWarpSize = 32;

// What every block of one launch needs.
struct KernelJob {
  const LaunchRequest* request;
  unsigned threads_per_block;
  ScheduleSetting schedule;
};

}  // namespace strider::emu::detail
