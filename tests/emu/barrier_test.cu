// Block barriers: semantics, shared memory per block, schedules exposing missing barriers, and
// the barrier misuse the emulator reports.
#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "emu_test_util.hpp"

namespace strider::emu::test {
namespace {

constexpr int kBlock = 256;

// Reverses each block's slice through static shared memory.
__global__ void reverse_kernel(const int* in, int* out) {
  __shared__ int tile[kBlock];
  const int t = static_cast<int>(threadIdx.x);
  const int base = static_cast<int>(blockIdx.x) * kBlock;
  tile[t] = in[base + t];
  __syncthreads();
  out[base + t] = tile[kBlock - 1 - t];
}

// out[i] = in[i - 1] within a block, through dynamic shared memory. Without the barrier, thread t
// reads slot t-1 before thread t-1 wrote it unless the threads happen to run in order.
template <bool kSync>
__global__ void shift_kernel(const int* in, int* out) {
  STRIDER_DYNAMIC_SHARED(int, s);
  const int t = static_cast<int>(threadIdx.x);
  const int base = static_cast<int>(blockIdx.x * blockDim.x);
  s[t] = in[base + t];
  if (kSync) __syncthreads();
  out[base + t] = t > 0 ? s[t - 1] : 0;
}

// Shared-memory tree sum. Without the barrier in the loop a thread reads partial sums its partner
// has not finished: wrong in order, hidden when the threads run last-first.
template <bool kSync>
__global__ void block_sum_kernel(const int* in, int* out) {
  __shared__ int partial[kBlock];
  const int t = static_cast<int>(threadIdx.x);
  partial[t] = in[blockIdx.x * kBlock + t];
  __syncthreads();
  for (int width = kBlock / 2; width > 0; width /= 2) {
    if (t < width) partial[t] += partial[t + width];
    if (kSync) __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = partial[0];
}

// 32x32 tile transpose with a (32, 8) block: each thread moves four elements.
__global__ void transpose_kernel(const float* in, float* out, int n) {
  __shared__ __align__(16) float tile[32][33];
  const int x = static_cast<int>(blockIdx.x * 32 + threadIdx.x);
  for (int j = 0; j < 32; j += 8) tile[threadIdx.y + j][threadIdx.x] = in[(blockIdx.y * 32 + threadIdx.y + j) * n + x];
  __syncthreads();
  const int tx = static_cast<int>(blockIdx.y * 32 + threadIdx.x);
  for (int j = 0; j < 32; j += 8) out[(blockIdx.x * 32 + threadIdx.y + j) * n + tx] = tile[threadIdx.x][threadIdx.y + j];
}

__global__ void vote_kernel(const int* pred, int* out) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  const int p = pred[i];
  const int count = __syncthreads_count(p);
  const int all = __syncthreads_and(p);
  const int any = __syncthreads_or(p);
  out[3 * i] = count;
  out[3 * i + 1] = all;
  out[3 * i + 2] = any;
}

// Many barriers per block while other blocks run on other OS threads: a block must only ever see
// its own __shared__ values. Block 0 holds its tile while it waits (up to 10 s) for two more
// blocks to start, which proves blocks overlap (other OS threads take them meanwhile).
__global__ void isolation_kernel(int rounds, int* mismatches, int* started, int* overlapped,
                                 unsigned long long* os_thread) {
  __shared__ int tile[kBlock];
  const int t = static_cast<int>(threadIdx.x);
  const int b = static_cast<int>(blockIdx.x);
  if (t == 0) atomicAdd(started, 1);
  for (int r = 0; r < rounds; ++r) {
    tile[t] = b * 100000 + r * 1000 + t;
    if (b == 0 && r == 0 && t == 0) {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (atomicAdd(started, 0) < 3 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
      *overlapped = atomicAdd(started, 0) >= 3;
    }
    __syncthreads();
    const int other = (t + 1 + r) % kBlock;
    if (tile[other] != b * 100000 + r * 1000 + other) atomicAdd(mismatches, 1);
    __syncthreads();
  }
  if (t == 0) os_thread[b] = std::hash<std::thread::id>{}(std::this_thread::get_id());
}

__global__ void divergent_barrier_kernel(int* out) {
  if (threadIdx.x < 16) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1;
}

__global__ void early_exit_kernel(int n, int* out) {
  if (static_cast<int>(threadIdx.x) >= n) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}

__global__ void uneven_loop_kernel() {
  for (unsigned i = 0; i <= threadIdx.x % 2; ++i) __syncthreads();
}

std::vector<int> run_ints(const std::function<void(const int*, int*)>& launch, const std::vector<int>& in,
                          std::size_t out_size) {
  DeviceBuffer<int> d_in(in), d_out(out_size);
  launch(d_in.get(), d_out.get());
  return d_out.download();
}

TEST(EmuBarrier, SharedMemoryExchangeIsCorrectUnderEverySchedule) {
  const int blocks = 8;
  const std::vector<int> in = random_ints(blocks * kBlock, -1000, 1000, 31);
  for_each_schedule([&](const NamedSchedule&) {
    const std::vector<int> out = run_ints(
        [&](const int* i, int* o) { STRIDER_LAUNCH(reverse_kernel, blocks, kBlock, 0, 0, i, o); }, in, in.size());
    for (int b = 0; b < blocks; ++b) {
      for (int t = 0; t < kBlock; ++t) ASSERT_EQ(out[b * kBlock + t], in[b * kBlock + kBlock - 1 - t]);
    }
  });
}

TEST(EmuBarrier, TwoDimensionalBlocksTransposeUnderEverySchedule) {
  const int n = 64;
  const std::vector<float> in = random_floats(n * n, 32);
  for_each_schedule([&](const NamedSchedule&) {
    DeviceBuffer<float> d_in(in), d_out(n * n);
    STRIDER_LAUNCH(transpose_kernel, dim3(2, 2), dim3(32, 8), 0, 0, d_in.get(), d_out.get(), n);
    const std::vector<float> out = d_out.download();
    for (int r = 0; r < n; ++r) {
      for (int c = 0; c < n; ++c) ASSERT_EQ(out[r * n + c], in[c * n + r]) << r << ',' << c;
    }
  });
}

TEST(EmuBarrier, MissingBarrierChangesResultsUnderSomeSchedule) {
  const int blocks = 4;
  const std::vector<int> in = random_ints(blocks * kBlock, -1000, 1000, 33);
  std::vector<int> shifted(in.size()), sums(blocks, 0);
  for (int b = 0; b < blocks; ++b) {
    for (int t = 0; t < kBlock; ++t) {
      shifted[b * kBlock + t] = t > 0 ? in[b * kBlock + t - 1] : 0;
      sums[b] += in[b * kBlock + t];
    }
  }
  const std::size_t smem = kBlock * sizeof(int);
  for_each_schedule([&](const NamedSchedule& s) {
    const auto shift = [&](bool sync) {
      return run_ints(
          [&](const int* i, int* o) {
            if (sync) {
              STRIDER_LAUNCH(shift_kernel<true>, blocks, kBlock, smem, 0, i, o);
            } else {
              STRIDER_LAUNCH(shift_kernel<false>, blocks, kBlock, smem, 0, i, o);
            }
          },
          in, in.size());
    };
    const auto sum = [&](bool sync) {
      return run_ints(
          [&](const int* i, int* o) {
            if (sync) {
              STRIDER_LAUNCH(block_sum_kernel<true>, blocks, kBlock, 0, 0, i, o);
            } else {
              STRIDER_LAUNCH(block_sum_kernel<false>, blocks, kBlock, 0, 0, i, o);
            }
          },
          in, blocks);
    };
    EXPECT_EQ(shift(true), shifted);
    EXPECT_EQ(sum(true), sums);
    const std::string name = s.name;
    // Each race is hidden by one order and exposed by the other two.
    if (name == "inorder") {
      EXPECT_EQ(shift(false), shifted) << "in order, thread t-1 always wrote first";
    } else {
      EXPECT_NE(shift(false), shifted) << "the missing barrier went unnoticed";
    }
    if (name == "reverse") {
      EXPECT_EQ(sum(false), sums) << "last-first, every partner finished first";
    } else {
      EXPECT_NE(sum(false), sums) << "the missing barrier went unnoticed";
    }
  });
}

TEST(EmuBarrier, SyncthreadsCountAndOr) {
  const int blocks = 5, threads = 96;
  std::vector<int> pred = random_ints(blocks * threads, 0, 1, 34);
  for (int t = 0; t < threads; ++t) {
    pred[3 * threads + t] = 1;  // block 3: all true
    pred[4 * threads + t] = 0;  // block 4: all false
  }
  pred[2 * threads + 5] = 7;  // any non-zero value counts as true
  for_each_schedule([&](const NamedSchedule&) {
    const std::vector<int> out = run_ints(
        [&](const int* i, int* o) { STRIDER_LAUNCH(vote_kernel, blocks, threads, 0, 0, i, o); }, pred, pred.size() * 3);
    for (int b = 0; b < blocks; ++b) {
      int count = 0;
      for (int t = 0; t < threads; ++t) count += pred[b * threads + t] != 0;
      for (int t = 0; t < threads; ++t) {
        const int i = b * threads + t;
        ASSERT_EQ(out[3 * i], count) << "block " << b;
        ASSERT_EQ(out[3 * i + 1], count == threads ? 1 : 0) << "block " << b;
        ASSERT_EQ(out[3 * i + 2], count > 0 ? 1 : 0) << "block " << b;
      }
    }
  });
}

TEST(EmuBarrier, SharedMemoryIsPrivateToBlocksRunningInParallel) {
  ScopedThreads threads(4);
  const int blocks = 48, rounds = 6;
  DeviceBuffer<int> counters(3);  // mismatches, started, overlapped
  DeviceBuffer<unsigned long long> os_thread(blocks);
  counters.fill_bytes(0);
  STRIDER_LAUNCH(isolation_kernel, blocks, kBlock, 0, 0, rounds, counters.get(), counters.get() + 1,
                 counters.get() + 2, os_thread.get());
  const std::vector<int> c = counters.download();
  EXPECT_EQ(c[0], 0) << "a block saw another block's shared memory";
  EXPECT_EQ(c[1], blocks);
  EXPECT_EQ(c[2], 1) << "no two blocks ran at the same time";
  const std::vector<unsigned long long> ids = os_thread.download();
  EXPECT_GE(std::set<unsigned long long>(ids.begin(), ids.end()).size(), 2u);
}

// The largest block: 1024 fibers, 32 warps, shuffles and barriers together.
__global__ void big_block_sum_kernel(const int* in, int* out) {
  __shared__ int warp_sums[32];
  const unsigned t = threadIdx.x;
  int v = in[blockIdx.x * blockDim.x + t];
  for (unsigned offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, static_cast<int>(offset));
  if (t % 32 == 0) warp_sums[t / 32] = v;
  __syncthreads();
  if (t < 32) {
    int w = warp_sums[t];
    for (unsigned offset = 16; offset > 0; offset /= 2) w += __shfl_down_sync(0xffffffffu, w, offset);
    if (t == 0) out[blockIdx.x] = w;
  }
}

TEST(EmuBarrier, LargestBlocksCombineShufflesAndBarriers) {
  const int blocks = 3;
  const std::vector<int> in = random_ints(blocks * 1024, -1000, 1000, 35);
  for_each_schedule([&](const NamedSchedule&) {
    const std::vector<int> out = run_ints(
        [&](const int* i, int* o) { STRIDER_LAUNCH(big_block_sum_kernel, blocks, 1024, 0, 0, i, o); }, in, blocks);
    for (int b = 0; b < blocks; ++b) {
      int want = 0;
      for (int t = 0; t < 1024; ++t) want += in[b * 1024 + t];
      ASSERT_EQ(out[b], want) << "block " << b;
    }
  });
}

TEST(EmuBarrier, DivergentBarriersAreReported) {
  DeviceBuffer<int> out(32);
  EXPECT_EQ(launch("divergent_barrier_kernel", divergent_barrier_kernel, 1, 32, 0, nullptr, out.get()),
            cudaErrorLaunchFailure);
  (void)cudaGetLastError();
  const std::string msg = cuda_error_message([&] { STRIDER_LAUNCH(divergent_barrier_kernel, 2, 32, 0, 0, out.get()); });
  EXPECT_NE(msg.find("cudaErrorLaunchFailure"), std::string::npos) << msg;
  EXPECT_NE(msg.find("kernel `divergent_barrier_kernel`"), std::string::npos) << msg;
  EXPECT_NE(msg.find("block (0,0,0)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("wait at different barriers"), std::string::npos) << msg;
  EXPECT_NE(msg.find("threads 0-15: wait at __syncthreads (" __FILE__ ":"), std::string::npos) << msg;
  EXPECT_NE(msg.find("threads 16-31: wait at __syncthreads (" __FILE__ ":"), std::string::npos) << msg;
}

TEST(EmuBarrier, ThreadsExitingWhileOthersWaitAreReported) {
  DeviceBuffer<int> out(32);
  for_each_schedule([&](const NamedSchedule&) {
    const std::string msg = cuda_error_message([&] { STRIDER_LAUNCH(early_exit_kernel, 1, 32, 0, 0, 20, out.get()); });
    EXPECT_NE(msg.find("exited while others wait"), std::string::npos) << msg;
    EXPECT_NE(msg.find("threads 0-19: wait at __syncthreads"), std::string::npos) << msg;
    EXPECT_NE(msg.find("threads 20-31: exited"), std::string::npos) << msg;
  });
  const std::string msg = cuda_error_message([] { STRIDER_LAUNCH(uneven_loop_kernel, 1, 4, 0, 0); });
  EXPECT_NE(msg.find("exited while others wait"), std::string::npos) << msg;
  EXPECT_NE(msg.find("thread 0: exited"), std::string::npos) << msg;
  EXPECT_NE(msg.find("thread 1: wait at __syncthreads"), std::string::npos) << msg;
  // All threads present: no error.
  EXPECT_NO_THROW(STRIDER_LAUNCH(early_exit_kernel, 1, 32, 0, 0, 32, out.get()));
}

}  // namespace
}  // namespace strider::emu::test
