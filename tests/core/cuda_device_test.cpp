// The CUDA device: caching allocator statistics, out-of-memory errors, device-to-device copies.
// Runs on the emulated device in CI and on a GPU when there is one; skips (saying why) otherwise.
#include <gtest/gtest.h>

#include <strider/core/cuda.hpp>

#include "common/test_util.hpp"

namespace strider {
namespace {

class CudaDevice : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_is_available()) GTEST_SKIP() << "no CUDA device: " << cuda_unavailable_reason();
  }
};

TEST_F(CudaDevice, SizeClasses) {
  EXPECT_EQ(cuda::allocation_size_class(1), 512u);
  EXPECT_EQ(cuda::allocation_size_class(512), 512u);
  EXPECT_EQ(cuda::allocation_size_class(513), 1024u);
  EXPECT_EQ(cuda::allocation_size_class((1u << 20) + 1), 2u << 20);
  EXPECT_EQ(cuda::allocation_size_class(5u << 20), 6u << 20);
}

TEST_F(CudaDevice, CachingAllocatorReusesBlocksInSteadyState) {
  cuda::empty_cache();
  const auto before = cuda::memory_stats();
  {
    auto a = Tensor::empty({1000}, Device::cuda());  // 4000 B -> 4096 B class
    const auto s = cuda::memory_stats();
    EXPECT_EQ(s.bytes_in_use - before.bytes_in_use, 4096u);
    EXPECT_GE(s.peak_bytes_in_use, s.bytes_in_use);
  }
  const auto freed = cuda::memory_stats();
  EXPECT_EQ(freed.bytes_in_use, before.bytes_in_use);
  EXPECT_EQ(freed.bytes_cached - before.bytes_cached, 4096u);
  // A "training loop": the same sizes again and again cost no cudaMalloc after the first round.
  std::uint64_t mallocs_after_first = 0;
  for (int step = 0; step < 5; ++step) {
    auto x = Tensor::ones({64, 33}, Device::cuda());
    auto y = (x * 2.0 + 1.0).sum({1});
    EXPECT_DOUBLE_EQ(y.at({3}), 99.0);
    if (step == 0) mallocs_after_first = cuda::memory_stats().device_mallocs;
  }
  const auto after = cuda::memory_stats();
  EXPECT_EQ(after.device_mallocs, mallocs_after_first);
  EXPECT_GT(after.cache_hits, before.cache_hits);
  cuda::empty_cache();
  const auto emptied = cuda::memory_stats();
  EXPECT_EQ(emptied.bytes_cached, 0u);
  EXPECT_EQ(emptied.bytes_reserved, emptied.bytes_in_use);
  cuda::reset_peak_memory_stats();
  EXPECT_EQ(cuda::memory_stats().peak_bytes_in_use, cuda::memory_stats().bytes_in_use);
}

TEST_F(CudaDevice, OutOfMemorySaysHowMuch) {
  // 2^40 floats = 4 TiB: more than any device (real or emulated) has.
  STRIDER_EXPECT_THROW_MSG(Tensor::empty({1LL << 40}, Device::cuda()), OutOfMemoryError, "CUDA out of memory on cuda:0",
                           "tried to allocate 4194304.00 MiB", "in use", "cached");
  // The device still works afterwards.
  EXPECT_DOUBLE_EQ(Tensor::ones({3}, Device::cuda()).sum().item(), 3.0);
}

TEST_F(CudaDevice, BadDeviceIndex) {
  STRIDER_EXPECT_THROW_MSG(cuda::memory_stats(cuda_device_count()), DeviceError, "does not exist");
  STRIDER_EXPECT_THROW_MSG(cuda::synchronize(-1), DeviceError, "cuda:-1");
}

TEST(CudaDeviceAbsent, ClearErrorsWithoutADevice) {
  if (cuda_is_available()) GTEST_SKIP() << "a CUDA device is present";
  STRIDER_EXPECT_THROW_MSG(cuda::memory_stats(), DeviceError, "cuda:0");
  EXPECT_NO_THROW(cuda::empty_cache());
}

}  // namespace
}  // namespace strider
