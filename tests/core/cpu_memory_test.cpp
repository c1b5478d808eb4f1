// The CPU allocator: size classes, reuse of large blocks in steady state, the bound on what it
// caches (in use + cached never above 1.5x the most ever in use), empty_cache, out-of-memory errors,
// and, under AddressSanitizer, that freed and slack bytes are still reported when touched.
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include <strider/core/storage.hpp>
#include <strider/core/tensor.hpp>

#include "common/asan.hpp"
#include "common/test_util.hpp"

namespace strider {
namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;

// A fresh start: nothing cached, the peak reset to what is in use now (other tests' tensors may
// still be alive; every check below is relative).
cpu::MemoryStats fresh() {
  cpu::empty_cache();
  cpu::reset_peak_memory_stats();
  return cpu::memory_stats();
}

void expect_bounded(const char* when) {
  const auto s = cpu::memory_stats();
  EXPECT_LE(s.bytes_in_use + s.bytes_cached, s.peak_bytes_in_use + s.peak_bytes_in_use / 2) << when;
}

TEST(CpuMemory, SizeClasses) {
  EXPECT_EQ(cpu::allocation_size_class(1), 64u);
  EXPECT_EQ(cpu::allocation_size_class(64), 64u);
  EXPECT_EQ(cpu::allocation_size_class(65), 128u);
  EXPECT_EQ(cpu::allocation_size_class(kMiB - 1), kMiB);
  EXPECT_EQ(cpu::allocation_size_class(kMiB), kMiB);
  EXPECT_EQ(cpu::allocation_size_class(kMiB + 1), kMiB + 64 * 1024);
  EXPECT_EQ(cpu::allocation_size_class(5 * kMiB + 3), 5 * kMiB + 64 * 1024);
}

TEST(CpuMemory, LargeBlocksAreReusedInSteadyState) {
  const auto before = fresh();
  // A "training loop": the same large sizes every step map no new memory after the first step
  // (small blocks come from malloc every time: the same number each step).
  std::vector<std::uint64_t> allocs;  // system allocations per step
  for (int step = 0; step < 5; ++step) {
    const auto at_start = cpu::memory_stats().system_allocs;
    {
      auto x = Tensor::ones({512, 1024});  // 2 MiB
      auto y = (x * 2.0 + 1.0).sum({1});   // a 2 MiB temporary, then 2 KiB
      EXPECT_DOUBLE_EQ(y.at({7}), 3.0 * 1024);
      expect_bounded("in the loop");
    }
    allocs.push_back(cpu::memory_stats().system_allocs - at_start);
  }
  EXPECT_GE(allocs[0], allocs[1] + 2) << "the first step maps its two 2 MiB blocks";
  for (int step = 2; step < 5; ++step) EXPECT_EQ(allocs[static_cast<std::size_t>(step)], allocs[1]) << step;
  const auto after = cpu::memory_stats();
  EXPECT_GE(after.cache_hits - before.cache_hits, 8u);  // 2 large blocks in each of steps 2-5
  EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
  EXPECT_GE(after.bytes_cached, 2 * kMiB);
  cpu::empty_cache();
  EXPECT_EQ(cpu::memory_stats().bytes_cached, 0u);
}

TEST(CpuMemory, CacheStaysWithinHalfAgainThePeakInUse) {
  const auto before = fresh();
  ASSERT_LT(before.bytes_in_use, kMiB) << "tensors of earlier tests still alive";
  { auto a = Tensor::empty({kMiB}); }  // 4 MiB, freed into the cache
  auto s = cpu::memory_stats();
  EXPECT_EQ(s.bytes_cached, 4 * kMiB);
  {
    // 12 MiB: a miss; 12 in use + 4 cached is within 1.5 x the new peak of 12, so the 4 stays.
    auto b = Tensor::empty({3 * kMiB});
    s = cpu::memory_stats();
    EXPECT_EQ(s.bytes_cached, 4 * kMiB);
    EXPECT_EQ(s.system_frees, before.system_frees);
    expect_bounded("with 12 MiB in use");
  }
  EXPECT_EQ(cpu::memory_stats().bytes_cached, 16 * kMiB);
  {
    // 20 MiB: 20 + 16 cached is above 1.5 x 20: the cached blocks go, oldest first (the 4 MiB,
    // then the 12 MiB: 20 + 12 is still above 30).
    auto c = Tensor::empty({5 * kMiB});
    s = cpu::memory_stats();
    EXPECT_EQ(s.bytes_cached, 0u);
    EXPECT_EQ(s.system_frees - before.system_frees, 2u);
    expect_bounded("with 20 MiB in use");
  }
  {
    // 4 MiB twice: the first takes a new block (nothing of its class is cached) beside the 20 MiB
    // one, which fits (4 + 20 <= 30); the second too (8 + 20 <= 30).
    auto d = Tensor::empty({kMiB});
    auto e = Tensor::empty({kMiB});
    s = cpu::memory_stats();
    EXPECT_EQ(s.bytes_cached, 20 * kMiB);
    EXPECT_EQ(s.bytes_in_use - before.bytes_in_use, 8 * kMiB);
    expect_bounded("with two 4 MiB blocks in use");
  }
  expect_bounded("at the end");
  cpu::empty_cache();
  s = cpu::memory_stats();
  EXPECT_EQ(s.bytes_cached, 0u);
  EXPECT_EQ(s.bytes_in_use, before.bytes_in_use);
}

TEST(CpuMemory, SmallBlocksGoStraightBack) {
  const auto before = fresh();
  { auto t = Tensor::ones({1000}); }
  const auto after = cpu::memory_stats();
  EXPECT_EQ(after.bytes_cached, before.bytes_cached);
  EXPECT_EQ(after.system_frees - before.system_frees, after.system_allocs - before.system_allocs);
  EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
}

TEST(CpuMemory, OutOfMemorySaysHowMuch) {
  fresh();
  { auto cached = Tensor::empty({kMiB}); }
  ASSERT_EQ(cpu::memory_stats().bytes_cached, 4 * kMiB);
  // 2^46 floats = 256 TiB: more than the address space. The cache goes back first, then the retry
  // fails too.
  STRIDER_EXPECT_THROW_MSG(Tensor::empty({1LL << 46}), OutOfMemoryError, "out of CPU memory",
                           "could not allocate 281474976710656 bytes", "in use by tensors", "smaller batch");
  EXPECT_EQ(cpu::memory_stats().bytes_cached, 0u);
  EXPECT_DOUBLE_EQ(Tensor::ones({3}).sum().item(), 3.0);  // and the allocator still works
}

using CpuMemoryAsan = test::AsanDeathTest;

// A large block freed into the cache is poisoned: reading it through a stale pointer is reported.
void read_cached_block() {
  const float* stale = nullptr;
  {
    auto t = Tensor::ones({kMiB / 2});  // 2 MiB: cached when freed
    stale = t.data<float>();
  }
  volatile float v = stale[12345];
  (void)v;
}
// The slack between a tensor's end and its size class is poisoned too.
void write_past_end(std::int64_t numel) {
  auto t = Tensor::ones({numel});
  volatile float* p = t.data<float>();
  p[numel] = 1.0f;
}

TEST_F(CpuMemoryAsan, ReadingAFreedCachedBlockIsReported) { EXPECT_DEATH(read_cached_block(), "use-after-poison"); }
TEST_F(CpuMemoryAsan, WritingPastALargeTensorIsReported) {
  EXPECT_DEATH(write_past_end(static_cast<std::int64_t>(kMiB / 4 + 3)), "use-after-poison");
}
TEST_F(CpuMemoryAsan, WritingPastASmallTensorIsReported) { EXPECT_DEATH(write_past_end(5), "use-after-poison"); }

}  // namespace
}  // namespace strider
