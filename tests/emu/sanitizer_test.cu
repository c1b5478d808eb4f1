// Under AddressSanitizer (-DSTRIDER_SANITIZE=ON) an out-of-bounds access in a kernel is reported,
// and the fiber switches (annotated for ASan) cause no false reports. Each case runs in a death-test
// child process; without ASan the tests skip.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/asan.hpp"
#include "emu_test_util.hpp"

namespace strider::emu::test {
namespace {

__global__ void read_past_end_kernel(const float* in, float* out, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  __syncthreads();
  out[i] = in[i + 1];  // the last thread reads in[n]
  (void)n;
}

__global__ void shared_overflow_kernel(int words) {
  STRIDER_DYNAMIC_SHARED(int, s);
  s[threadIdx.x] = 1;
  __syncthreads();
  if (threadIdx.x == 0) s[words] = 2;  // one past the dynamic shared memory
}

__global__ void use_after_free_kernel(const int* freed, int* out) { out[threadIdx.x] = freed[threadIdx.x]; }

__global__ void divergent_kernel(int* out) {
  if (threadIdx.x % 2 == 0) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1;
}

using EmuSanitizer = strider::test::AsanDeathTest;

void read_past_end() {
  const int n = 64;
  DeviceBuffer<float> in(n), out(n);
  in.fill_bytes(0);
  STRIDER_LAUNCH(read_past_end_kernel, 2, 32, 0, 0, in.get(), out.get(), n);
}

void shared_overflow() { STRIDER_LAUNCH(shared_overflow_kernel, 1, 32, 32 * sizeof(int), 0, 32); }

void use_after_free() {
  int* p = nullptr;
  STRIDER_CUDA_CHECK(cudaMalloc(&p, 32 * sizeof(int)));
  STRIDER_CUDA_CHECK(cudaFree(p));
  DeviceBuffer<int> out(32);
  STRIDER_LAUNCH(use_after_free_kernel, 1, 32, 0, 0, p, out.get());
}

TEST_F(EmuSanitizer, GlobalReadPastTheEndIsReported) {
  EXPECT_DEATH(read_past_end(), "heap-buffer-overflow");
}

TEST_F(EmuSanitizer, DynamicSharedWritePastTheEndIsReported) {
  EXPECT_DEATH(shared_overflow(), "heap-buffer-overflow");
}

TEST_F(EmuSanitizer, UseAfterCudaFreeIsReported) { EXPECT_DEATH(use_after_free(), "heap-use-after-free"); }

// Exceptions unwinding fiber stacks (a block abandoned after a broken rule), many fiber switches
// and the fibers' clean-up at exit: ASan (and LeakSanitizer) must stay silent, which ASan does only
// if every switch is annotated.
TEST_F(EmuSanitizer, FiberSwitchesAndUnwindingCauseNoFalseReports) {
  EXPECT_EXIT(
      {
        DeviceBuffer<int> out(256);
        for (int i = 0; i < 3; ++i) {
          const std::string msg = cuda_error_message([&] { STRIDER_LAUNCH(divergent_kernel, 4, 256, 0, 0, out.get()); });
          if (msg.find("different barriers") == std::string::npos) std::exit(2);
        }
        std::fputs("emulator-clean\n", stderr);
        std::exit(3);
      },
      ::testing::ExitedWithCode(3),
      ::testing::AllOf(::testing::HasSubstr("emulator-clean"), ::testing::Not(::testing::HasSubstr("ASan")),
                       ::testing::Not(::testing::HasSubstr("AddressSanitizer")),
                       ::testing::Not(::testing::HasSubstr("LeakSanitizer"))));
}

}  // namespace
}  // namespace strider::emu::test
