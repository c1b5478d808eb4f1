// The emulated CUDA runtime API: device, memory, streams, events, errors and STRIDER_CUDA_CHECK.
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "emu_test_util.hpp"

namespace strider::emu::test {
namespace {

// The codes keep CUDA's numeric values (code compares them, logs print them).
static_assert(cudaSuccess == 0 && cudaErrorInvalidValue == 1 && cudaErrorMemoryAllocation == 2);
static_assert(cudaErrorInvalidConfiguration == 9 && cudaErrorInvalidMemcpyDirection == 21);
static_assert(cudaErrorInvalidDevice == 101 && cudaErrorInvalidResourceHandle == 400);
static_assert(cudaErrorLaunchFailure == 719 && cudaErrorNotSupported == 801);
static_assert(sizeof(float4) == 16 && alignof(float4) == 16 && alignof(float2) == 8 && alignof(float3) == 4);
static_assert(alignof(double2) == 16 && alignof(int4) == 16 && alignof(uint2) == 8 && sizeof(char3) == 3);

TEST(EmuRuntime, OneEmulatedDeviceWithCudaLimits) {
  int count = 0;
  ASSERT_EQ(cudaGetDeviceCount(&count), cudaSuccess);
  EXPECT_EQ(count, 1);
  EXPECT_EQ(cudaSetDevice(0), cudaSuccess);
  int device = -1;
  EXPECT_EQ(cudaGetDevice(&device), cudaSuccess);
  EXPECT_EQ(device, 0);

  cudaDeviceProp p;
  ASSERT_EQ(cudaGetDeviceProperties(&p, 0), cudaSuccess);
  EXPECT_NE(std::string(p.name).find("emulated"), std::string::npos) << p.name;
  EXPECT_EQ(p.sharedMemPerBlock, 48u * 1024);
  EXPECT_EQ(p.sharedMemPerBlockOptin, 227u * 1024);
  EXPECT_EQ(p.maxThreadsPerBlock, 1024);
  EXPECT_EQ(p.maxThreadsDim[0], 1024);
  EXPECT_EQ(p.maxThreadsDim[2], 64);
  EXPECT_EQ(p.maxGridSize[0], 2147483647);
  EXPECT_EQ(p.maxGridSize[1], 65535);
  EXPECT_EQ(p.maxGridSize[2], 65535);
  EXPECT_EQ(p.warpSize, 32);
  EXPECT_GT(p.totalGlobalMem, std::size_t{1} << 28);
  int optin = 0;
  EXPECT_EQ(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0), cudaSuccess);
  EXPECT_EQ(optin, 227 * 1024);

  EXPECT_EQ(cudaSetDevice(1), cudaErrorInvalidDevice);
  EXPECT_EQ(cudaPeekAtLastError(), cudaErrorInvalidDevice);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidDevice);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // reset by the previous call
}

TEST(EmuRuntime, ErrorNamesAndStringsAreCudas) {
  EXPECT_STREQ(cudaGetErrorName(cudaErrorInvalidConfiguration), "cudaErrorInvalidConfiguration");
  EXPECT_STREQ(cudaGetErrorString(cudaErrorInvalidConfiguration), "invalid configuration argument");
  EXPECT_STREQ(cudaGetErrorString(cudaErrorMemoryAllocation), "out of memory");
  EXPECT_STREQ(cudaGetErrorString(cudaErrorLaunchFailure), "unspecified launch failure");
  EXPECT_STREQ(cudaGetErrorName(cudaSuccess), "cudaSuccess");
  EXPECT_STREQ(cudaGetErrorString(static_cast<cudaError_t>(12345)), "unrecognized error code");
}

TEST(EmuRuntime, MemcpyEveryKindRoundTrips) {
  const std::vector<float> host = random_floats(1000, 11);
  DeviceBuffer<float> a(host.size()), b(host.size());
  ASSERT_EQ(cudaMemcpy(a.get(), host.data(), 4000, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(b.get(), a.get(), 4000, cudaMemcpyDeviceToDevice), cudaSuccess);
  std::vector<float> back(host.size(), 0.0f);
  ASSERT_EQ(cudaMemcpy(back.data(), b.get(), 4000, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(back, host);

  std::vector<float> via_default(host.size(), 0.0f), via_host(host.size(), 0.0f);
  ASSERT_EQ(cudaMemcpy(b.get(), host.data(), 4000, cudaMemcpyDefault), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(via_default.data(), b.get(), 4000, cudaMemcpyDefault), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(via_host.data(), host.data(), 4000, cudaMemcpyHostToHost), cudaSuccess);
  EXPECT_EQ(via_default, host);
  EXPECT_EQ(via_host, host);
}

TEST(EmuRuntime, MemcpyRejectsOverrunsHostPointersAndBadKinds) {
  DeviceBuffer<float> a(100);
  std::vector<float> host(200, 1.0f);
  EXPECT_EQ(cudaMemcpy(a.get(), host.data(), 101 * sizeof(float), cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_NE(last_error_detail(cudaErrorInvalidValue).find("run past the end of the 400-byte allocation"),
            std::string::npos)
      << last_error_detail(cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(host.data(), a.get() + 50, 51 * sizeof(float), cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(host.data(), host.data() + 100, 16, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(a.get(), host.data(), 16, static_cast<cudaMemcpyKind>(7)), cudaErrorInvalidMemcpyDirection);
  EXPECT_EQ(cudaMemcpy(a.get(), host.data(), 0, cudaMemcpyHostToDevice), cudaSuccess);  // nothing to copy
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidMemcpyDirection);
}

TEST(EmuRuntime, MallocPoisonsAndMemsetWrites) {
  DeviceBuffer<unsigned char> a(64);
  std::vector<unsigned char> bytes = a.download();
  for (unsigned char b : bytes) ASSERT_EQ(b, 0xff);  // uninitialised device memory is garbage, not zero
  ASSERT_EQ(cudaMemset(a.get() + 8, 0x5a, 16), cudaSuccess);
  ASSERT_EQ(cudaMemsetAsync(a.get() + 32, 0x11, 4, nullptr), cudaSuccess);
  bytes = a.download();
  for (int i = 0; i < 64; ++i) {
    const unsigned char want = (i >= 8 && i < 24) ? 0x5a : (i >= 32 && i < 36) ? 0x11 : 0xff;
    EXPECT_EQ(bytes[i], want) << "byte " << i;
  }
  EXPECT_EQ(cudaMemset(a.get() + 60, 0, 5), cudaErrorInvalidValue);
  (void)cudaGetLastError();
}

TEST(EmuRuntime, FreeRejectsForeignAndDoubleFrees) {
  EXPECT_EQ(cudaFree(nullptr), cudaSuccess);
  void* p = nullptr;
  ASSERT_EQ(cudaMalloc(&p, 128), cudaSuccess);
  EXPECT_EQ(cudaFree(static_cast<char*>(p) + 4), cudaErrorInvalidValue);
  EXPECT_EQ(cudaFree(p), cudaSuccess);
  EXPECT_EQ(cudaFree(p), cudaErrorInvalidValue);
  int local = 0;
  EXPECT_EQ(cudaFree(&local), cudaErrorInvalidValue);
  void* zero = &local;
  EXPECT_EQ(cudaMalloc(&zero, 0), cudaSuccess);
  EXPECT_EQ(zero, nullptr);
  (void)cudaGetLastError();
}

TEST(EmuRuntime, OutOfMemoryThrowsOutOfMemoryError) {
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, std::size_t{1} << 60), cudaErrorMemoryAllocation);
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(cudaGetLastError(), cudaErrorMemoryAllocation);
  try {
    STRIDER_CUDA_CHECK(cudaMalloc(&p, std::size_t{1} << 60));
    ADD_FAILURE() << "no exception";
  } catch (const strider::OutOfMemoryError& e) {
    EXPECT_NE(std::string(e.what()).find("cudaErrorMemoryAllocation (out of memory)"), std::string::npos) << e.what();
  }
  std::size_t free = 0, total = 0;
  ASSERT_EQ(cudaMemGetInfo(&free, &total), cudaSuccess);
  EXPECT_GT(total, 0u);
  EXPECT_LE(free, total);
}

TEST(EmuRuntime, CheckMessageNamesExpressionErrorFileAndLine) {
  const int line = __LINE__ + 2;
  try {
    STRIDER_CUDA_CHECK(cudaSetDevice(3));
    ADD_FAILURE() << "no exception";
  } catch (const strider::CudaError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("cudaSetDevice(3)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cudaErrorInvalidDevice"), std::string::npos) << msg;
    EXPECT_NE(msg.find("invalid device ordinal"), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::string("runtime_test.cpp:") + std::to_string(line)), std::string::npos) << msg;
    EXPECT_NE(msg.find("the emulator has one device"), std::string::npos) << msg;  // the emulator's detail
  }
  // The check consumed the error: the next check of an unrelated call must not see it.
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_NO_THROW(STRIDER_CUDA_CHECK(cudaDeviceSynchronize()));
}

TEST(EmuRuntime, EventsMeasureElapsedHostTime) {
  cudaEvent_t start = nullptr, stop = nullptr, untimed = nullptr;
  ASSERT_EQ(cudaEventCreate(&start), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&stop), cudaSuccess);
  ASSERT_EQ(cudaEventCreateWithFlags(&untimed, cudaEventDisableTiming), cudaSuccess);
  float ms = -1.0f;
  EXPECT_EQ(cudaEventElapsedTime(&ms, start, stop), cudaErrorInvalidResourceHandle);  // not recorded yet
  ASSERT_EQ(cudaEventRecord(start), cudaSuccess);
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
  ASSERT_EQ(cudaEventRecord(stop, nullptr), cudaSuccess);
  ASSERT_EQ(cudaEventSynchronize(stop), cudaSuccess);
  ASSERT_EQ(cudaEventElapsedTime(&ms, start, stop), cudaSuccess);
  EXPECT_GE(ms, 2.5f);
  EXPECT_LT(ms, 2000.0f);
  ASSERT_EQ(cudaEventRecord(untimed), cudaSuccess);
  EXPECT_EQ(cudaEventElapsedTime(&ms, start, untimed), cudaErrorInvalidResourceHandle);
  EXPECT_EQ(cudaEventQuery(stop), cudaSuccess);
  EXPECT_EQ(cudaEventDestroy(start), cudaSuccess);
  EXPECT_EQ(cudaEventDestroy(stop), cudaSuccess);
  EXPECT_EQ(cudaEventDestroy(untimed), cudaSuccess);
  EXPECT_EQ(cudaEventDestroy(stop), cudaErrorInvalidResourceHandle);
  EXPECT_EQ(cudaEventRecord(stop), cudaErrorInvalidResourceHandle);
  (void)cudaGetLastError();
}

TEST(EmuRuntime, StreamsRunWorkInOrderAndRejectDeadHandles) {
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  const std::vector<float> host = random_floats(256, 12);
  DeviceBuffer<float> a(256);
  std::vector<float> back(256, 0.0f);
  ASSERT_EQ(cudaMemcpyAsync(a.get(), host.data(), 1024, cudaMemcpyHostToDevice, s), cudaSuccess);
  ASSERT_EQ(cudaMemcpyAsync(back.data(), a.get(), 1024, cudaMemcpyDeviceToHost, s), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  EXPECT_EQ(back, host);
  EXPECT_EQ(cudaStreamQuery(s), cudaSuccess);
  EXPECT_EQ(cudaStreamSynchronize(cudaStreamLegacy), cudaSuccess);
  EXPECT_EQ(cudaStreamSynchronize(cudaStreamPerThread), cudaSuccess);
  ASSERT_EQ(cudaStreamDestroy(s), cudaSuccess);
  EXPECT_EQ(cudaStreamSynchronize(s), cudaErrorInvalidResourceHandle);
  EXPECT_EQ(cudaMemcpyAsync(back.data(), a.get(), 4, cudaMemcpyDeviceToHost, s), cudaErrorInvalidResourceHandle);
  EXPECT_EQ(cudaStreamDestroy(s), cudaErrorInvalidResourceHandle);
  (void)cudaGetLastError();
}

__constant__ float kConstants[4];

TEST(EmuRuntime, MemcpyToAndFromSymbol) {
  const float values[4] = {1.5f, -2.0f, 3.25f, 8.0f};
  ASSERT_EQ(cudaMemcpyToSymbol(kConstants, values, sizeof values), cudaSuccess);
  float back[2] = {0.0f, 0.0f};
  ASSERT_EQ(cudaMemcpyFromSymbol(back, kConstants, sizeof back, 2 * sizeof(float)), cudaSuccess);
  EXPECT_EQ(back[0], 3.25f);
  EXPECT_EQ(back[1], 8.0f);
  EXPECT_EQ(cudaMemcpyToSymbol(kConstants, values, sizeof values, 4), cudaErrorInvalidValue);
  (void)cudaGetLastError();
}

TEST(EmuRuntime, ScheduleAndThreadSettings) {
  {
    ScopedSchedule scoped(Schedule::reverse);
    EXPECT_EQ(schedule().kind, Schedule::reverse);
    set_schedule("shuffle:42");
    EXPECT_EQ(schedule().kind, Schedule::shuffle);
    EXPECT_EQ(schedule().seed, 42u);
    set_schedule("inorder");
    EXPECT_EQ(schedule().kind, Schedule::in_order);
  }
  EXPECT_THROW(set_schedule("sideways"), strider::ValueError);
  EXPECT_THROW(set_schedule("reverse:3"), strider::ValueError);
  EXPECT_THROW(set_schedule("shuffle:x"), strider::ValueError);
  EXPECT_THROW(set_num_threads(0), strider::ValueError);
  EXPECT_GE(num_threads(), 1);
}

}  // namespace
}  // namespace strider::emu::test
