// Atomics while blocks run on several OS threads at once: exact counts and sums.
#include <algorithm>
#include <vector>

#include <gtest/gtest.h>

#include "emu_test_util.hpp"

namespace strider::emu::test {
namespace {

constexpr int kBlocks = 96, kThreads = 256, kN = kBlocks * kThreads;

struct Counters {
  int add_int;
  unsigned add_uint;
  unsigned long long add_ull;
  float add_float;
  double add_double;
  int sub_int;
  int max_int;
  int min_int;
  unsigned cas_count;
  unsigned inc_wrap;
  unsigned or_bits;
  unsigned and_bits;
  unsigned xor_bits;
  unsigned long long max_ull;
};

__global__ void atomics_kernel(const int* values, Counters* c) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  const int v = values[i];
  atomicAdd(&c->add_int, 1);
  atomicAdd(&c->add_uint, 2u);
  atomicAdd(&c->add_ull, 3ull);
  atomicAdd(&c->add_float, static_cast<float>(v % 8));  // small integers: the float sum is exact
  atomicAdd(&c->add_double, 0.5 * v);
  atomicSub(&c->sub_int, 1);
  atomicMax(&c->max_int, v);
  atomicMin(&c->min_int, v);
  unsigned old = c->cas_count;  // increment through a CAS loop
  for (;;) {
    const unsigned seen = atomicCAS(&c->cas_count, old, old + 1);
    if (seen == old) break;
    old = seen;
  }
  atomicInc(&c->inc_wrap, 9u);  // counts 0..9 then wraps
  atomicOr(&c->or_bits, 1u << (i % 32));
  atomicAnd(&c->and_bits, ~(1u << (i % 31)));
  atomicXor(&c->xor_bits, 1u << (i % 3));
  atomicMax(&c->max_ull, static_cast<unsigned long long>(v) << 20);
}

// Per-block histogram in shared memory, merged into a global one.
__global__ void histogram_kernel(const int* values, unsigned* global_hist) {
  __shared__ unsigned hist[16];
  if (threadIdx.x < 16) hist[threadIdx.x] = 0;
  __syncthreads();
  atomicAdd(&hist[values[blockIdx.x * blockDim.x + threadIdx.x] & 15], 1u);
  __syncthreads();
  if (threadIdx.x < 16) atomicAdd(&global_hist[threadIdx.x], hist[threadIdx.x]);
}

__global__ void exchange_kernel(int* slot, int* seen) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  seen[i] = atomicExch(slot, i);
}

TEST(EmuAtomic, CountsAndSumsAreExactAcrossParallelBlocks) {
  ScopedThreads threads(4);
  const std::vector<int> values = random_ints(kN, 0, 1 << 20, 61);
  DeviceBuffer<int> d_values(values);
  DeviceBuffer<Counters> d_c(1);
  const Counters init{0, 0, 0, 0.0f, 0.0, 0, -1, 1 << 30, 0, 0, 0, ~0u, 0, 0};
  d_c.upload({init});
  STRIDER_LAUNCH(atomics_kernel, kBlocks, kThreads, 0, 0, d_values.get(), d_c.get());
  const Counters c = d_c.download()[0];

  double want_double = 0.0;
  float want_float = 0.0f;
  unsigned xor_bits = 0;
  for (int i = 0; i < kN; ++i) {
    want_float += static_cast<float>(values[i] % 8);
    want_double += 0.5 * values[i];
    xor_bits ^= 1u << (i % 3);
  }
  EXPECT_EQ(c.add_int, kN);
  EXPECT_EQ(c.add_uint, 2u * kN);
  EXPECT_EQ(c.add_ull, 3ull * kN);
  EXPECT_EQ(c.add_float, want_float);
  EXPECT_EQ(c.add_double, want_double);
  EXPECT_EQ(c.sub_int, -kN);
  EXPECT_EQ(c.max_int, *std::max_element(values.begin(), values.end()));
  EXPECT_EQ(c.min_int, *std::min_element(values.begin(), values.end()));
  EXPECT_EQ(c.cas_count, static_cast<unsigned>(kN));
  EXPECT_EQ(c.inc_wrap, static_cast<unsigned>(kN % 10));
  EXPECT_EQ(c.or_bits, ~0u);
  EXPECT_EQ(c.and_bits, 0x80000000u);
  EXPECT_EQ(c.xor_bits, xor_bits);
  EXPECT_EQ(c.max_ull, static_cast<unsigned long long>(*std::max_element(values.begin(), values.end())) << 20);
}

TEST(EmuAtomic, SharedMemoryHistogram) {
  ScopedThreads threads(4);
  const std::vector<int> values = random_ints(kN, 0, 1000, 62);
  DeviceBuffer<int> d_values(values);
  DeviceBuffer<unsigned> d_hist(16);
  d_hist.fill_bytes(0);
  for_each_schedule([&](const NamedSchedule&) {
    d_hist.fill_bytes(0);
    STRIDER_LAUNCH(histogram_kernel, kBlocks, kThreads, 0, 0, d_values.get(), d_hist.get());
    std::vector<unsigned> want(16, 0);
    for (int v : values) ++want[v & 15];
    EXPECT_EQ(d_hist.download(), want);
  });
}

TEST(EmuAtomic, ExchangeHandsEveryValueOnExactlyOnce) {
  ScopedThreads threads(4);
  DeviceBuffer<int> slot(1), seen(kN);
  slot.upload({-1});
  STRIDER_LAUNCH(exchange_kernel, kBlocks, kThreads, 0, 0, slot.get(), seen.get());
  std::vector<int> all = seen.download();
  all.push_back(slot.download()[0]);
  std::sort(all.begin(), all.end());
  for (int i = 0; i <= kN; ++i) ASSERT_EQ(all[i], i - 1);  // -1, 0, 1, ..., kN-1: none lost, none twice
}

}  // namespace
}  // namespace strider::emu::test
