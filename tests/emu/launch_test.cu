// Emulated launches: configurations a GPU refuses, dynamic shared memory limits, arguments,
// built-in variables, and failures inside kernels.
#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "emu_test_util.hpp"

namespace strider::emu::test {
namespace {

__global__ void noop_kernel() {}

// Each thread writes its global linear id (from all four built-ins) at that position.
__global__ void index_kernel(unsigned* out) {
  const unsigned block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned threads = blockDim.x * blockDim.y * blockDim.z;
  const unsigned thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  out[block * threads + thread] = block * threads + thread;
}

__global__ void scale_kernel(int n, float scale, const float* in, float* out) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) out[i] = in[i] * scale;
}

// Fills all of the dynamic shared memory, then each thread reads back another thread's words.
__global__ void dynamic_shared_kernel(unsigned words, unsigned* out) {
  STRIDER_DYNAMIC_SHARED(unsigned, smem);
  for (unsigned i = threadIdx.x; i < words; i += blockDim.x) smem[i] = i * 3u + blockIdx.x;
  __syncthreads();
  unsigned sum = 0;
  for (unsigned i = (threadIdx.x + 1) % blockDim.x; i < words; i += blockDim.x) sum += smem[i];
  out[blockIdx.x * blockDim.x + threadIdx.x] = sum;
}

__global__ void throwing_kernel(int bad_thread) {
  if (static_cast<int>(threadIdx.x) == bad_thread) throw std::runtime_error("kernel-side failure");
  __syncthreads();
}

__global__ void trap_kernel() {
  if (threadIdx.x == 3) __trap();
}

__global__ void nested_launch_kernel() {
  if (threadIdx.x == 0) STRIDER_LAUNCH(noop_kernel, 1, 1, 0, 0);
}

struct BadConfig {
  dim3 grid, block;
  const char* name;  // the test's name suffix
};
void PrintTo(const BadConfig& c, std::ostream* os) {
  *os << "grid (" << c.grid.x << ',' << c.grid.y << ',' << c.grid.z << ") block (" << c.block.x << ',' << c.block.y
      << ',' << c.block.z << ')';
}

class EmuLaunchConfig : public ::testing::TestWithParam<BadConfig> {};

TEST_P(EmuLaunchConfig, FailsWithInvalidConfiguration) {
  const BadConfig c = GetParam();
  EXPECT_EQ(launch("noop_kernel", noop_kernel, c.grid, c.block, 0, nullptr), cudaErrorInvalidConfiguration) << c.name;
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  const std::string msg = cuda_error_message([&] { STRIDER_LAUNCH(noop_kernel, c.grid, c.block, 0, 0); });
  EXPECT_NE(msg.find("launch of kernel `noop_kernel` failed: cudaErrorInvalidConfiguration"), std::string::npos) << msg;
  EXPECT_NE(msg.find("launch_test.cu:"), std::string::npos) << msg;
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

INSTANTIATE_TEST_SUITE_P(
    Limits, EmuLaunchConfig,
    ::testing::Values(BadConfig{dim3(1), dim3(1025), "Block1025Threads"},
                      BadConfig{dim3(1), dim3(32, 33), "Block32x33Is1056Threads"},
                      BadConfig{dim3(1), dim3(1, 1, 65), "BlockZ65"}, BadConfig{dim3(1), dim3(1, 1025), "BlockY1025"},
                      BadConfig{dim3(1), dim3(0), "BlockZero"}, BadConfig{dim3(0), dim3(32), "GridZero"},
                      BadConfig{dim3(1, 0), dim3(32), "GridYZero"}, BadConfig{dim3(1, 65536), dim3(1), "GridY65536"},
                      BadConfig{dim3(1, 1, 65536), dim3(1), "GridZ65536"},
                      BadConfig{dim3(2147483648u), dim3(1), "GridX2Pow31"}),
    [](const ::testing::TestParamInfo<BadConfig>& param_info) { return std::string(param_info.param.name); });

TEST(EmuLaunch, LargestLegalBlocksRun) {
  DeviceBuffer<unsigned> out(1024);
  EXPECT_NO_THROW(STRIDER_LAUNCH(index_kernel, 1, 1024, 0, 0, out.get()));
  EXPECT_NO_THROW(STRIDER_LAUNCH(index_kernel, 1, dim3(1, 16, 64), 0, 0, out.get()));
  const std::vector<unsigned> got = out.download();
  for (unsigned i = 0; i < 1024; ++i) ASSERT_EQ(got[i], i);
}

TEST(EmuLaunch, BuiltinVariablesCoverAThreeDimensionalGrid) {
  const dim3 grid(3, 2, 2), block(4, 3, 2);
  const unsigned total = 3 * 2 * 2 * 4 * 3 * 2;
  DeviceBuffer<unsigned> out(total);
  out.fill_bytes(0xff);
  STRIDER_LAUNCH(index_kernel, grid, block, 0, 0, out.get());
  const std::vector<unsigned> got = out.download();
  for (unsigned i = 0; i < total; ++i) ASSERT_EQ(got[i], i) << "element " << i;
}

TEST(EmuLaunch, ArgumentsAreConvertedToParameterTypes) {
  const std::vector<float> in = random_floats(300, 21);
  DeviceBuffer<float> d_in(in), d_out(300);
  const std::size_t n = 300;  // size_t -> int, double -> float, as CUDA converts at launch
  const double scale = 0.5;
  STRIDER_LAUNCH(scale_kernel, dim3(3), dim3(128), 0, nullptr, n, scale, d_in.get(), d_out.get());
  const std::vector<float> out = d_out.download();
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], in[i] * 0.5f) << i;
}

TEST(EmuLaunch, DynamicSharedMemoryLimitAndOptIn) {
  const unsigned threads = 128, blocks = 3;
  DeviceBuffer<unsigned> out(threads * blocks);
  auto* kernel = dynamic_shared_kernel;
  const std::size_t over = 48 * 1024 + 4;
  EXPECT_EQ(launch("dynamic_shared_kernel", kernel, blocks, threads, over, nullptr, over / 4, out.get()),
            cudaErrorInvalidValue);
  EXPECT_NE(last_error_detail(cudaErrorInvalidValue).find("cudaFuncSetAttribute"), std::string::npos)
      << last_error_detail(cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);

  EXPECT_EQ(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 228 * 1024), cudaErrorInvalidValue);
  (void)cudaGetLastError();
  const std::size_t bytes = 100 * 1024;
  ASSERT_EQ(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)),
            cudaSuccess);
  STRIDER_LAUNCH(kernel, blocks, threads, bytes, 0, static_cast<unsigned>(bytes / 4), out.get());
  const std::vector<unsigned> got = out.download();
  for (unsigned b = 0; b < blocks; ++b) {
    for (unsigned t = 0; t < threads; ++t) {
      unsigned want = 0;
      for (unsigned i = (t + 1) % threads; i < bytes / 4; i += threads) want += i * 3u + b;
      ASSERT_EQ(got[b * threads + t], want) << "block " << b << " thread " << t;
    }
  }
  // Above the opted-in size: refused again.
  EXPECT_EQ(launch("dynamic_shared_kernel", kernel, blocks, threads, bytes + 4, nullptr, 1u, out.get()),
            cudaErrorInvalidValue);
  (void)cudaGetLastError();
}

TEST(EmuLaunch, DeadStreamIsAnInvalidHandle) {
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreate(&s), cudaSuccess);
  EXPECT_NO_THROW(STRIDER_LAUNCH(noop_kernel, 1, 32, 0, s));
  ASSERT_EQ(cudaStreamDestroy(s), cudaSuccess);
  const std::string msg = cuda_error_message([&] { STRIDER_LAUNCH(noop_kernel, 1, 32, 0, s); });
  EXPECT_NE(msg.find("cudaErrorInvalidResourceHandle"), std::string::npos) << msg;
}

TEST(EmuLaunch, ExceptionInAKernelFailsTheLaunchAndUnwindsTheBlock) {
  const std::string msg = cuda_error_message([] { STRIDER_LAUNCH(throwing_kernel, 2, 64, 0, 0, 17); });
  EXPECT_NE(msg.find("cudaErrorLaunchFailure"), std::string::npos) << msg;
  EXPECT_NE(msg.find("kernel `throwing_kernel`"), std::string::npos) << msg;
  EXPECT_NE(msg.find("thread 17 (17,0,0) threw an exception: kernel-side failure"), std::string::npos) << msg;
  // The emulator is usable afterwards, fibers included.
  EXPECT_NO_THROW(STRIDER_LAUNCH(throwing_kernel, 2, 64, 0, 0, -1));
}

TEST(EmuLaunch, TrapFailsTheLaunch) {
  const std::string msg = cuda_error_message([] { STRIDER_LAUNCH(trap_kernel, 1, 32, 0, 0); });
  EXPECT_NE(msg.find("cudaErrorLaunchFailure"), std::string::npos) << msg;
  EXPECT_NE(msg.find("thread 3 (3,0,0) called __trap()"), std::string::npos) << msg;
}

TEST(EmuLaunch, KernelFaultIsReportedBySynchronisingCallsUntilCleared) {
  EXPECT_EQ(launch("trap_kernel", trap_kernel, 1, 32, 0, nullptr), cudaErrorLaunchFailure);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaErrorLaunchFailure);
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

TEST(EmuLaunch, DeviceSideLaunchIsNotSupported) {
  const std::string msg = cuda_error_message([] { STRIDER_LAUNCH(nested_launch_kernel, 1, 32, 0, 0); });
  EXPECT_NE(msg.find("cudaErrorLaunchFailure"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cudaErrorNotSupported"), std::string::npos) << msg;
  EXPECT_NE(msg.find("launched from inside a kernel"), std::string::npos) << msg;
}

// No fiber can be made (an invalid stack size here): the launch fails with an error, no abort.
TEST(EmuLaunch, FiberCreationFailureFailsTheLaunchCleanly) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // a fresh process: no fibers exist yet
  EXPECT_EXIT(
      {
        setenv("STRIDER_EMU_STACK_KB", "3", 1);
        const std::string msg = cuda_error_message([] { STRIDER_LAUNCH(throwing_kernel, 1, 64, 0, 0, -1); });
        std::fprintf(stderr, "%s\n", msg.c_str());
        const bool ok = msg.find("cudaErrorLaunchOutOfResources") != std::string::npos &&
                        msg.find("STRIDER_EMU_STACK_KB='3'") != std::string::npos;
        std::exit(ok ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "could not create a fiber for thread [0-9]+");
}

TEST(EmuLaunch, IntrinsicsOutsideAKernelThrow) {
  EXPECT_THROW(__syncthreads(), strider::CudaError);
  EXPECT_THROW((void)__shfl_sync(0xffffffffu, 1, 0), strider::CudaError);
}

}  // namespace
}  // namespace strider::emu::test
