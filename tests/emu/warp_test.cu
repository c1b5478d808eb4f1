// Warp collectives against CUDA's documented semantics: shuffles with every width, out-of-range
// and foreign lanes, masks, votes, match, reductions, __syncwarp, and the misuse reported.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "emu_test_util.hpp"

namespace strider::emu::test {
namespace {

constexpr unsigned kFull = 0xffffffffu;
enum ShflOp { kIdx, kUp, kDown, kXor };

// The CUDA Programming Guide's rules, written independently of the emulator's PTX-based code:
// a warp splits into segments of `width` lanes; idx reads lane (src mod width) of the segment;
// up/down read delta lanes below/above within the segment, else the caller's own value; xor may
// read earlier segments but reads its own value instead of a later one.
int reference_source(ShflOp op, int lane, int param, int width) {
  const int seg = lane / width * width;
  switch (op) {
    case kIdx: return seg + param % width;
    case kUp: return lane - seg >= param ? lane - param : lane;
    case kDown: return lane - seg + param < width ? lane + param : lane;
    case kXor: return (lane ^ param) < seg + width ? (lane ^ param) : lane;
  }
  return lane;
}

template <ShflOp kOp>
__global__ void shfl_kernel(const float* in, const int* param, int width, float* out) {
  const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  const float v = in[i];
  const int p = param[i];
  float r = 0.0f;
  if (kOp == kIdx) r = __shfl_sync(kFull, v, p, width);
  if (kOp == kUp) r = __shfl_up_sync(kFull, v, static_cast<unsigned>(p), width);
  if (kOp == kDown) r = __shfl_down_sync(kFull, v, static_cast<unsigned>(p), width);
  if (kOp == kXor) r = __shfl_xor_sync(kFull, v, p, width);
  out[i] = r;
}

__global__ void shfl64_kernel(const double* a, const long long* b, double* out_a, long long* out_b) {
  const unsigned i = threadIdx.x;
  out_a[i] = __shfl_xor_sync(kFull, a[i], 5);
  out_b[i] = __shfl_sync(kFull, b[i], 31 - static_cast<int>(i % 32));
}

__global__ void partial_warp_kernel(const float* in, float* out) {
  out[threadIdx.x] = __shfl_down_sync(kFull, in[threadIdx.x], 8);
}

// Lanes 0-15 and 16-31 run different collectives with disjoint masks.
__global__ void half_warp_kernel(const int* in, unsigned* out) {
  const unsigned lane = threadIdx.x % 32;
  const int v = in[threadIdx.x];
  if (lane < 16) {
    out[threadIdx.x] = static_cast<unsigned>(__shfl_xor_sync(0x0000ffffu, v, 1));
  } else {
    out[threadIdx.x] = __ballot_sync(0xffff0000u, v > 0);
  }
}

__global__ void outside_mask_kernel(const int* in, int* out) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  out[threadIdx.x] = lane < 16 ? __shfl_sync(0x0000ffffu, in[threadIdx.x], lane + 16) : in[threadIdx.x];
}

__global__ void vote_kernel(const int* pred, unsigned* out) {
  const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  const int p = pred[i];
  out[4 * i] = __ballot_sync(kFull, p);
  out[4 * i + 1] = static_cast<unsigned>(__any_sync(kFull, p));
  out[4 * i + 2] = static_cast<unsigned>(__all_sync(kFull, p));
  out[4 * i + 3] = threadIdx.x % 2 == 0 ? __ballot_sync(0x55555555u, p) : 0u;
}

__global__ void exited_lanes_kernel(const int* pred, unsigned* out) {
  if (threadIdx.x >= 16) return;
  out[threadIdx.x] = __ballot_sync(kFull, pred[threadIdx.x]);
}

__global__ void activemask_kernel(unsigned* out) {
  if (threadIdx.x % 32 >= 16) return;
  __syncwarp(0x0000ffffu);
  out[threadIdx.x] = __activemask();
}

// Each branch's lanes see each other only.
__global__ void divergent_activemask_kernel(unsigned* out) {
  if (threadIdx.x % 32 < 10) {
    out[threadIdx.x] = __activemask();
  } else {
    out[threadIdx.x] = __activemask();
  }
}

__global__ void match_kernel(const int* v, unsigned* out) {
  const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  int pred = -1;
  out[3 * i] = __match_any_sync(kFull, v[i]);
  out[3 * i + 1] = __match_all_sync(kFull, v[i], &pred);
  out[3 * i + 2] = static_cast<unsigned>(pred);
}

__global__ void reduce_kernel(const int* v, int* out) {
  const unsigned i = threadIdx.x;
  const unsigned u = static_cast<unsigned>(v[i]);
  out[6 * i] = __reduce_add_sync(kFull, v[i]);
  out[6 * i + 1] = __reduce_min_sync(kFull, v[i]);
  out[6 * i + 2] = __reduce_max_sync(kFull, v[i]);
  out[6 * i + 3] = static_cast<int>(__reduce_and_sync(kFull, u));
  out[6 * i + 4] = static_cast<int>(__reduce_or_sync(kFull, u));
  out[6 * i + 5] = static_cast<int>(__reduce_xor_sync(kFull, u));
}

__global__ void warp_sum_kernel(const int* in, int* out) {
  const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  int v = in[i];
  for (unsigned offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(kFull, v, offset);
  if (threadIdx.x % 32 == 0) out[i / 32] = v;
}

template <bool kSync>
__global__ void warp_shift_kernel(const int* in, int* out) {
  STRIDER_DYNAMIC_SHARED(int, s);
  const int lane = static_cast<int>(threadIdx.x);
  s[lane] = in[lane];
  if (kSync) __syncwarp();
  out[lane] = lane > 0 ? s[lane - 1] : 0;
}

__global__ void own_lane_missing_kernel(int* out) { out[threadIdx.x] = __shfl_sync(0x1u, 1, 0); }
__global__ void bad_width_kernel(int* out) { out[threadIdx.x] = __shfl_sync(kFull, 1, 0, 3); }
__global__ void deadlock_kernel(int* out) {
  if (threadIdx.x < 16) {
    out[threadIdx.x] = __shfl_sync(kFull, 1, 0);
  } else {
    __syncthreads();
  }
}

template <ShflOp kOp>
void check_shuffles(int max_param) {
  const unsigned threads = 64;  // two warps: a shuffle never crosses a warp
  const std::vector<float> in = random_floats(threads, 41);
  for (int width = 1; width <= 32; width *= 2) {
    SCOPED_TRACE("width " + std::to_string(width));
    const std::vector<int> param = random_ints(threads, 0, max_param < 0 ? width : max_param, 42 + width);
    DeviceBuffer<float> d_in(in), d_out(threads);
    DeviceBuffer<int> d_param(param);
    STRIDER_LAUNCH(shfl_kernel<kOp>, 1, threads, 0, 0, d_in.get(), d_param.get(), width, d_out.get());
    const std::vector<float> out = d_out.download();
    for (unsigned i = 0; i < threads; ++i) {
      const int lane = static_cast<int>(i % 32), warp = static_cast<int>(i / 32);
      const int src = reference_source(kOp, lane, param[i], width);
      ASSERT_EQ(out[i], in[warp * 32 + src]) << "lane " << lane << " param " << param[i];
    }
  }
}

TEST(EmuWarp, ShflIdxWrapsTheSourceLaneModuloWidth) {
  for_each_schedule([](const NamedSchedule&) { check_shuffles<kIdx>(63); });
}
TEST(EmuWarp, ShflUpKeepsOwnValueBelowDelta) {
  for_each_schedule([](const NamedSchedule&) { check_shuffles<kUp>(-1); });
}
TEST(EmuWarp, ShflDownKeepsOwnValueAboveTheSegment) {
  for_each_schedule([](const NamedSchedule&) { check_shuffles<kDown>(-1); });
}
TEST(EmuWarp, ShflXorReadsEarlierButNotLaterSegments) {
  for_each_schedule([](const NamedSchedule&) { check_shuffles<kXor>(31); });
}

TEST(EmuWarp, SixtyFourBitValuesShuffleWhole) {
  std::vector<double> a(32);
  std::vector<long long> b(32);
  for (int i = 0; i < 32; ++i) {
    a[i] = 1.0 / (i + 3) + 1e10 * i;
    b[i] = (static_cast<long long>(i) << 40) - 12345 * i;
  }
  DeviceBuffer<double> d_a(a), out_a(32);
  DeviceBuffer<long long> d_b(b), out_b(32);
  STRIDER_LAUNCH(shfl64_kernel, 1, 32, 0, 0, d_a.get(), d_b.get(), out_a.get(), out_b.get());
  const std::vector<double> ra = out_a.download();
  const std::vector<long long> rb = out_b.download();
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ(ra[i], a[i ^ 5]);
    EXPECT_EQ(rb[i], b[31 - i]);
  }
}

TEST(EmuWarp, ReadingAMissingLaneGivesPoison) {
  // 48 threads: the second warp has lanes 0-15 only; lanes 8-15 read lanes 16-23, which do not exist.
  const std::vector<float> in = random_floats(48, 43);
  DeviceBuffer<float> d_in(in), d_out(48);
  STRIDER_LAUNCH(partial_warp_kernel, 1, 48, 0, 0, d_in.get(), d_out.get());
  const std::vector<float> out = d_out.download();
  for (int i = 0; i < 48; ++i) {
    const int lane = i % 32;
    if (i < 32) {
      EXPECT_EQ(out[i], lane + 8 < 32 ? in[i + 8] : in[i]) << i;
    } else if (lane < 8) {
      EXPECT_EQ(out[i], in[i + 8]) << i;
    } else {
      EXPECT_TRUE(std::isnan(out[i])) << "lane " << lane << " read a lane past the block: undefined on a GPU";
    }
  }
  // A source lane outside the caller's mask is not taking part either.
  const std::vector<int> ints = random_ints(32, 1, 100, 44);
  DeviceBuffer<int> d_ints(ints), d_res(32);
  STRIDER_LAUNCH(outside_mask_kernel, 1, 32, 0, 0, d_ints.get(), d_res.get());
  const std::vector<int> res = d_res.download();
  for (int i = 0; i < 32; ++i) EXPECT_EQ(res[i], i < 16 ? 0x7fa0dead : ints[i]) << i;
}

TEST(EmuWarp, DisjointMasksRunIndependentCollectives) {
  const std::vector<int> in = random_ints(64, -5, 5, 45);
  for_each_schedule([&](const NamedSchedule&) {
    DeviceBuffer<int> d_in(in);
    DeviceBuffer<unsigned> d_out(64);
    STRIDER_LAUNCH(half_warp_kernel, 1, 64, 0, 0, d_in.get(), d_out.get());
    const std::vector<unsigned> out = d_out.download();
    for (int w = 0; w < 2; ++w) {
      unsigned ballot = 0;
      for (int l = 16; l < 32; ++l) ballot |= (in[w * 32 + l] > 0 ? 1u : 0u) << l;
      for (int l = 0; l < 32; ++l) {
        const int i = w * 32 + l;
        ASSERT_EQ(out[i], l < 16 ? static_cast<unsigned>(in[w * 32 + (l ^ 1)]) : ballot) << i;
      }
    }
  });
}

TEST(EmuWarp, VotesBallotAnyAll) {
  const unsigned threads = 128;
  std::vector<int> pred = random_ints(threads, 0, 1, 46);
  for (int l = 0; l < 32; ++l) {
    pred[64 + l] = 1;  // warp 2: all true
    pred[96 + l] = 0;  // warp 3: all false
  }
  for_each_schedule([&](const NamedSchedule&) {
    DeviceBuffer<int> d_pred(pred);
    DeviceBuffer<unsigned> d_out(4 * threads);
    STRIDER_LAUNCH(vote_kernel, 2, 64, 0, 0, d_pred.get(), d_out.get());
    const std::vector<unsigned> out = d_out.download();
    for (unsigned w = 0; w < threads / 32; ++w) {
      unsigned ballot = 0;
      for (unsigned l = 0; l < 32; ++l) ballot |= (pred[w * 32 + l] != 0 ? 1u : 0u) << l;
      for (unsigned l = 0; l < 32; ++l) {
        const unsigned i = w * 32 + l;
        ASSERT_EQ(out[4 * i], ballot);
        ASSERT_EQ(out[4 * i + 1], ballot != 0 ? 1u : 0u);
        ASSERT_EQ(out[4 * i + 2], ballot == kFull ? 1u : 0u);
        ASSERT_EQ(out[4 * i + 3], l % 2 == 0 ? (ballot & 0x55555555u) : 0u);
      }
    }
  });
  // Lanes that exited do not take part, even when the mask names them.
  DeviceBuffer<int> d_pred(pred);
  DeviceBuffer<unsigned> d_out(16);
  STRIDER_LAUNCH(exited_lanes_kernel, 1, 32, 0, 0, d_pred.get(), d_out.get());
  unsigned want = 0;
  for (unsigned l = 0; l < 16; ++l) want |= (pred[l] != 0 ? 1u : 0u) << l;
  for (unsigned v : d_out.download()) EXPECT_EQ(v, want);
  DeviceBuffer<unsigned> d_mask(16);
  STRIDER_LAUNCH(activemask_kernel, 1, 32, 0, 0, d_mask.get());
  for (unsigned v : d_mask.download()) EXPECT_EQ(v, 0x0000ffffu);
  for_each_schedule([&](const NamedSchedule&) {
    DeviceBuffer<unsigned> d_branch(64);
    STRIDER_LAUNCH(divergent_activemask_kernel, 1, 64, 0, 0, d_branch.get());
    const std::vector<unsigned> got = d_branch.download();
    for (int i = 0; i < 64; ++i) EXPECT_EQ(got[i], i % 32 < 10 ? 0x3ffu : 0xfffffc00u) << i;
  });
}

TEST(EmuWarp, MatchAnyAndAll) {
  std::vector<int> v = random_ints(64, 0, 3, 47);
  for (int l = 0; l < 32; ++l) v[32 + l] = 9;  // warp 1: all equal
  DeviceBuffer<int> d_v(v);
  DeviceBuffer<unsigned> d_out(3 * 64);
  STRIDER_LAUNCH(match_kernel, 1, 64, 0, 0, d_v.get(), d_out.get());
  const std::vector<unsigned> out = d_out.download();
  for (int w = 0; w < 2; ++w) {
    bool all_equal = true;
    for (int l = 0; l < 32; ++l) all_equal = all_equal && v[w * 32 + l] == v[w * 32];
    for (int l = 0; l < 32; ++l) {
      const int i = w * 32 + l;
      unsigned same = 0;
      for (int m = 0; m < 32; ++m) same |= (v[w * 32 + m] == v[i] ? 1u : 0u) << m;
      EXPECT_EQ(out[3 * i], same) << i;
      EXPECT_EQ(out[3 * i + 1], all_equal ? kFull : 0u) << i;
      EXPECT_EQ(out[3 * i + 2], all_equal ? 1u : 0u) << i;
    }
  }
}

TEST(EmuWarp, ReduceSyncSignedAndUnsigned) {
  const std::vector<int> v = random_ints(32, -1000000, 1000000, 48);
  DeviceBuffer<int> d_v(v), d_out(6 * 32);
  STRIDER_LAUNCH(reduce_kernel, 1, 32, 0, 0, d_v.get(), d_out.get());
  const std::vector<int> out = d_out.download();
  int sum = 0, lo = v[0], hi = v[0];
  unsigned a = ~0u, o = 0, x = 0;
  for (int e : v) {
    sum += e;
    lo = std::min(lo, e);
    hi = std::max(hi, e);
    a &= static_cast<unsigned>(e);
    o |= static_cast<unsigned>(e);
    x ^= static_cast<unsigned>(e);
  }
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ(out[6 * i], sum);
    EXPECT_EQ(out[6 * i + 1], lo);
    EXPECT_EQ(out[6 * i + 2], hi);
    EXPECT_EQ(static_cast<unsigned>(out[6 * i + 3]), a);
    EXPECT_EQ(static_cast<unsigned>(out[6 * i + 4]), o);
    EXPECT_EQ(static_cast<unsigned>(out[6 * i + 5]), x);
  }
}

TEST(EmuWarp, ShuffleReductionIsExactUnderEverySchedule) {
  const std::vector<int> in = random_ints(8 * 256, -1000, 1000, 49);
  for_each_schedule([&](const NamedSchedule&) {
    DeviceBuffer<int> d_in(in), d_out(in.size() / 32);
    STRIDER_LAUNCH(warp_sum_kernel, 8, 256, 0, 0, d_in.get(), d_out.get());
    const std::vector<int> out = d_out.download();
    for (std::size_t w = 0; w < out.size(); ++w) {
      int want = 0;
      for (int l = 0; l < 32; ++l) want += in[w * 32 + l];
      ASSERT_EQ(out[w], want) << "warp " << w;
    }
  });
}

TEST(EmuWarp, MissingSyncwarpChangesResultsUnderReverseAndShuffle) {
  const std::vector<int> in = random_ints(32, 1, 1000, 50);
  std::vector<int> want(32, 0);
  for (int l = 1; l < 32; ++l) want[l] = in[l - 1];
  for_each_schedule([&](const NamedSchedule& s) {
    DeviceBuffer<int> d_in(in), d_out(32);
    STRIDER_LAUNCH(warp_shift_kernel<true>, 1, 32, 32 * sizeof(int), 0, d_in.get(), d_out.get());
    EXPECT_EQ(d_out.download(), want);
    STRIDER_LAUNCH(warp_shift_kernel<false>, 1, 32, 32 * sizeof(int), 0, d_in.get(), d_out.get());
    if (std::string(s.name) == "inorder") {
      EXPECT_EQ(d_out.download(), want);
    } else {
      EXPECT_NE(d_out.download(), want) << "the missing __syncwarp went unnoticed";
    }
  });
}

TEST(EmuWarp, MisuseIsReported) {
  DeviceBuffer<int> out(32);
  std::string msg = cuda_error_message([&] { STRIDER_LAUNCH(own_lane_missing_kernel, 1, 32, 0, 0, out.get()); });
  EXPECT_NE(msg.find("cudaErrorLaunchFailure"), std::string::npos) << msg;
  EXPECT_NE(msg.find("calls __shfl_sync at"), std::string::npos) << msg;
  EXPECT_NE(msg.find("with mask 0x1, which does not name its own lane"), std::string::npos) << msg;

  msg = cuda_error_message([&] { STRIDER_LAUNCH(bad_width_kernel, 1, 32, 0, 0, out.get()); });
  EXPECT_NE(msg.find("with width 3; width must be a power of 2"), std::string::npos) << msg;

  msg = cuda_error_message([&] { STRIDER_LAUNCH(deadlock_kernel, 1, 32, 0, 0, out.get()); });
  EXPECT_NE(msg.find("deadlock"), std::string::npos) << msg;
  EXPECT_NE(msg.find("threads 0-15: wait at __shfl_sync with mask 0xffffffff"), std::string::npos) << msg;
  EXPECT_NE(msg.find("threads 16-31: wait at __syncthreads"), std::string::npos) << msg;
}

}  // namespace
}  // namespace strider::emu::test
