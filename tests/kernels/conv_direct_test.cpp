// The CPU's direct convolution forward (kernels/cpu/conv2d_direct.hpp): problems built to take it
// (each test first asserts that they do, so the list cannot silently stop covering the path),
// checked through the public entry points (kAuto picks the direct path for the lowered forward,
// conv2d forward and conv_transpose2d backward-data, for the lowered backward-data, conv2d
// backward-data and conv_transpose2d forward, and for both ops' backward-weight) against the float64 reference with random data
// on 1 and 3 threads, and with small integers exactly; the entry point itself gives the same bits
// on any thread count and refuses the shapes it does not handle. Skipped without AVX-512.
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <strider/core/error.hpp>
#include <strider/kernels/cpu/conv2d_direct.hpp>
#include <strider/kernels/cpu/gemm.hpp>

#include "conv_backends.hpp"
#include "conv_problems.hpp"

namespace strider::test {
namespace {

using kernels::cpu::Conv2dParallel;
namespace cpu = kernels::cpu;

// Padding cut off at one end or both ends of a tile row, all rows of a window in the padding, 4- and
// 8-wide tiles, an odd image count with 4-wide tiles (two images per tile, one left over), stride
// 1 and 2 across, stride 3 down, dilation, groups, channel counts that leave a partial block of 8,
// bias, batch 1, non-square maps.
std::vector<NamedProblem> direct_problems() {
  return {
      {"direct_k4s2p1_8x8_bias", conv(3, 20, 16, 16, 64).kernel(4).stride(2).pad(1).bias(), false},
      {"direct_k4s2p1_4x4_odd_batch", conv(3, 16, 8, 8, 32).kernel(4).stride(2).pad(1), false},
      {"direct_k3s1p1_5x16", conv(2, 16, 5, 16, 32).kernel(3).pad(1), false},
      {"direct_k3s1p1_4x4", conv(2, 17, 4, 4, 32).kernel(3).pad(1).bias(), false},
      {"direct_dil2", conv(2, 16, 10, 18, 32).kernel(3).pad(1).dil(2), false},
      {"direct_groups2", conv(2, 32, 8, 8, 64).kernel(3).pad(1).groups(2).bias(), false},
      {"direct_stride3x2_k4x3", conv(2, 16, 14, 16, 32).kernel(4, 3).stride(3, 2).pad(1, 1), false},
      {"direct_batch1_tall_pad", conv(1, 16, 3, 8, 32).kernel(3).pad(2, 1), false},
      {"direct_rows_all_padding", conv(2, 16, 1, 8, 32).kernel(3).pad(3, 1).bias(), false},
      // Stride 2 down a 1-row input: kernel rows 0 and 2 read only padding (above, below).
      {"direct_kernel_rows_never_inside", conv(2, 16, 1, 16, 32).kernel(3).stride(2, 1).pad(1), false},
      // A kernel column whose window lies wholly in the padding for a whole tile (dilation 8).
      {"direct_tile_column_all_padding", conv(2, 16, 5, 16, 32).kernel(1, 3).pad(0, 8).dil(1, 8), false},
      // The largest output plane taken (16 x 16 = 256 positions), at batch 1.
      {"direct_plane_256_batch1", conv(1, 16, 16, 16, 32).kernel(3).pad(1).bias(), false},
      // A 2-wide input padded to 4 outputs: one kernel column loses both ends of the tile row.
      {"direct_both_ends_cut", conv(3, 16, 2, 2, 32).kernel(2, 1).pad(1, 1), false},
      // Its backward-data is a direct forward (20 -> 64 channels, 16x16 -> 8x8).
      {"direct_t_k4s2p1", conv_t(3, 64, 8, 8, 20).kernel(4).stride(2).pad(1), false},
  };
}

// Backward-data by stride phases (output channels of a phase = the lowered input channels, a
// multiple of 32): stride 2 with a 4x4 and a 3x3 kernel (phases with one and with two taps per
// direction, an odd input height so the phases differ in size), stride 1, groups, an odd batch
// with 4-wide phase rows, and a conv_transpose2d forward with bias (its lowered backward-data).
std::vector<NamedProblem> direct_backward_data_problems() {
  return {
      {"direct_bwd_k4s2p1_16_to_8", conv(3, 32, 16, 16, 16).kernel(4).stride(2).pad(1), false},
      {"direct_bwd_k4s2p1_groups_odd_batch", conv(3, 64, 8, 8, 32).kernel(4).stride(2).pad(1).groups(2), false},
      {"direct_bwd_k3s1p1", conv(2, 32, 8, 8, 16).kernel(3).pad(1), false},
      {"direct_bwd_k3s2p1_15x16", conv(2, 32, 15, 16, 16).kernel(3).stride(2).pad(1), false},
      {"direct_bwd_t_bias", conv_t(3, 16, 4, 4, 32).kernel(4).stride(2).pad(1).bias(), false},
      // Padding above the kernel: the stride-1 phase's own padding is negative (gy rows past gx's).
      {"direct_bwd_k3p3_negative_phase_pad", conv(2, 32, 8, 8, 16).kernel(3).pad(3), false},
      // Strides 1 down, 2 across (two phases), at batch 1.
      {"direct_bwd_stride1x2_batch1", conv(1, 32, 6, 16, 16).kernel(3, 4).stride(1, 2).pad(1), false},
      // A conv_transpose2d with output_padding: its forward's last gx row and column get fewer taps.
      {"direct_bwd_t_out_pad", conv_t(2, 16, 4, 4, 32).kernel(3).stride(2).pad(1).out_pad(1), false},
  };
}

// Backward-weight (32 output x 8 input channels per tile, summed over the positions whose window is
// inside the input): the direct problems with 8k input channels, and a conv_transpose2d's.
std::vector<NamedProblem> direct_backward_weight_problems() {
  std::vector<NamedProblem> out;
  for (const NamedProblem& np : direct_problems())
    if (np.p.C % 8 == 0 && !np.p.transposed) out.push_back(np);
  out.push_back({"direct_bwdw_t_k4s2p1", conv_t(3, 32, 8, 8, 16).kernel(4).stride(2).pad(1).bias(), false});
  return out;
}

std::string param_name(const ::testing::TestParamInfo<NamedProblem>& info) { return info.param.name; }

// One fixture per direct pass: skipped without AVX-512, and a problem that does not take the pass
// it is listed for fails (the lists cannot silently stop covering the path).
template <bool (*Supported)(const kernels::Conv2dLowered&)>
class DirectPass : public ::testing::TestWithParam<NamedProblem> {
 protected:
  void SetUp() override {
    if (!cpu::gemm_isa_available(cpu::GemmIsa::Avx512)) GTEST_SKIP() << "this CPU has no AVX-512";
    ASSERT_TRUE(Supported(kernels::lower(GetParam().p)))
        << GetParam().p << ": listed for this direct pass, but it does not take it";
  }
};
using ConvDirect = DirectPass<&cpu::conv2d_direct_supported>;
using ConvDirectBackwardData = DirectPass<&cpu::conv2d_direct_backward_data_supported>;
using ConvDirectBackwardWeight = DirectPass<&cpu::conv2d_direct_backward_weight_supported>;

void random_matches_reference(const Conv2dProblem& p) {
  const ConvCase c(p, 31);
  for (int threads : {1, 3}) {
    OmpThreads tc(threads);
    CpuBackend be(Conv2dParallel::kAuto);
    check_backend(be, c);
  }
}

void integers_exact(const Conv2dProblem& p) {
  OmpThreads tc(3);
  const ConvCase c(p, 32, /*integers=*/true);
  CpuBackend be(Conv2dParallel::kAuto);
  check_backend(be, c, {.exact = true});
}

// Every output is summed in one order, whatever the split: 1, 2 and 3 threads give the same bits.
void same_weight_grad_bits_on_any_thread_count(const Conv2dProblem& p) {
  const kernels::Conv2dLowered l = kernels::lower(p);
  const Idx xs = Idx{l.N} * l.Ci * l.Hi * l.Wi, ys = Idx{l.N} * l.Co * l.Ho * l.Wo;
  const Idx ws = Idx{l.Co} * l.ci_per_group() * l.R * l.S;
  const auto x = random_values<float>(xs, 36), gy = random_values<float>(ys, 37);
  std::vector<float> gw1(static_cast<std::size_t>(ws), NAN), gw(static_cast<std::size_t>(ws), NAN);
  cpu::conv2d_direct_backward_weight(l, x.data(), gy.data(), gw1.data(), 1);
  for (float v : gw1) ASSERT_FALSE(std::isnan(v)) << "a weight-gradient element was not written";
  for (int threads : {2, 3}) {
    std::fill(gw.begin(), gw.end(), NAN);  // an element this run misses must not keep the last run's value
    cpu::conv2d_direct_backward_weight(l, x.data(), gy.data(), gw.data(), threads);
    EXPECT_EQ(gw, gw1) << threads << " threads";
  }
}

void same_bits_on_any_thread_count(const Conv2dProblem& p, bool backward_data) {
  const kernels::Conv2dLowered l = kernels::lower(p);
  const Idx xs = Idx{l.N} * l.Ci * l.Hi * l.Wi, ys = Idx{l.N} * l.Co * l.Ho * l.Wo;
  const Idx in = backward_data ? ys : xs, out = backward_data ? xs : ys;
  const auto x = random_values<float>(in, 33), w = random_values<float>(Idx{l.Co} * l.ci_per_group() * l.R * l.S, 34);
  const auto b = random_values<float>(backward_data ? l.Ci : l.Co, 35);
  const auto run = [&](std::vector<float>& y, int threads) {
    if (backward_data) {
      cpu::conv2d_direct_backward_data(l, x.data(), w.data(), b.data(), y.data(), threads);
    } else {
      cpu::conv2d_direct_forward(l, x.data(), w.data(), b.data(), y.data(), threads);
    }
  };
  std::vector<float> y1(static_cast<std::size_t>(out), NAN), y(static_cast<std::size_t>(out), NAN);
  run(y1, 1);
  for (float v : y1) ASSERT_FALSE(std::isnan(v)) << "an output element was not written";
  for (int threads : {2, 3}) {
    std::fill(y.begin(), y.end(), NAN);  // an element this run misses must not keep the last run's value
    run(y, threads);
    EXPECT_EQ(y, y1) << threads << " threads";
  }
}

TEST_P(ConvDirect, RandomMatchesReference) { random_matches_reference(GetParam().p); }
TEST_P(ConvDirect, IntegersExact) { integers_exact(GetParam().p); }
TEST_P(ConvDirect, SameBitsOnAnyThreadCount) { same_bits_on_any_thread_count(GetParam().p, false); }

TEST_P(ConvDirectBackwardData, RandomMatchesReference) { random_matches_reference(GetParam().p); }
TEST_P(ConvDirectBackwardData, IntegersExact) { integers_exact(GetParam().p); }
TEST_P(ConvDirectBackwardData, SameBitsOnAnyThreadCount) { same_bits_on_any_thread_count(GetParam().p, true); }

TEST_P(ConvDirectBackwardWeight, RandomMatchesReference) { random_matches_reference(GetParam().p); }
TEST_P(ConvDirectBackwardWeight, IntegersExact) { integers_exact(GetParam().p); }
TEST_P(ConvDirectBackwardWeight, SameBitsOnAnyThreadCount) {
  same_weight_grad_bits_on_any_thread_count(GetParam().p);
}

INSTANTIATE_TEST_SUITE_P(Problems, ConvDirect, ::testing::ValuesIn(direct_problems()), param_name);
INSTANTIATE_TEST_SUITE_P(Problems, ConvDirectBackwardWeight, ::testing::ValuesIn(direct_backward_weight_problems()),
                         param_name);
TEST(ConvDirectShapes, BackwardWeightCoversMostDirectProblems) {
  EXPECT_GE(direct_backward_weight_problems().size(), 8u);  // the filter above must not empty the list
}
INSTANTIATE_TEST_SUITE_P(Problems, ConvDirectBackwardData, ::testing::ValuesIn(direct_backward_data_problems()),
                         param_name);

// What the path is for: DCGAN's k4 s2 p1 layers at 16x16, 8x8 and 4x4 outputs (and the generator's
// transposed layers with the same lowered shapes) take all three direct passes.
TEST(ConvDirectShapes, TakesTheDcganLayers) {
  if (!cpu::gemm_isa_available(cpu::GemmIsa::Avx512)) GTEST_SKIP() << "this CPU has no AVX-512";
  const std::vector<NamedProblem> layers = {
      {"d2_64", conv(128, 64, 32, 32, 128).kernel(4).stride(2).pad(1), false},
      {"d3_64", conv(128, 128, 16, 16, 256).kernel(4).stride(2).pad(1), false},
      {"d4_64", conv(128, 256, 8, 8, 512).kernel(4).stride(2).pad(1), false},
      {"d2_32", conv(64, 64, 16, 16, 128).kernel(4).stride(2).pad(1), false},
      {"d3_32", conv(64, 128, 8, 8, 256).kernel(4).stride(2).pad(1), false},
      {"g2_64", conv_t(128, 512, 4, 4, 256).kernel(4).stride(2).pad(1), false},
      {"g3_64", conv_t(128, 256, 8, 8, 128).kernel(4).stride(2).pad(1), false},
      {"g4_64", conv_t(128, 128, 16, 16, 64).kernel(4).stride(2).pad(1), false},
      {"g2_32", conv_t(64, 256, 4, 4, 128).kernel(4).stride(2).pad(1), false},
      {"g3_32", conv_t(64, 128, 8, 8, 64).kernel(4).stride(2).pad(1), false},
  };
  for (const NamedProblem& np : layers) {
    const kernels::Conv2dLowered l = kernels::lower(np.p);
    EXPECT_TRUE(cpu::conv2d_direct_supported(l)) << np.name << " forward";
    EXPECT_TRUE(cpu::conv2d_direct_backward_data_supported(l)) << np.name << " backward-data";
    EXPECT_TRUE(cpu::conv2d_direct_backward_weight_supported(l)) << np.name << " backward-weight";
  }
}

// Shapes outside the path go to the implicit GEMM; called anyway, the entry point says so.
TEST(ConvDirectShapes, RefusesWhatItDoesNotHandle) {
  const std::vector<NamedProblem> others = {
      {"co_not_multiple_of_32", conv(2, 16, 16, 16, 48).kernel(4).stride(2).pad(1), false},
      {"few_input_channels", conv(2, 3, 16, 16, 64).kernel(4).stride(2).pad(1), false},
      {"wo_6", conv(2, 16, 12, 12, 32).kernel(4).stride(2).pad(1), false},
      {"stride_w_3", conv(2, 16, 24, 24, 32).kernel(3).stride(3).pad(0), false},
      {"pad_2_cuts_two_columns", conv(2, 16, 8, 8, 32).kernel(5).pad(2), false},
      {"plane_over_256", conv(2, 16, 32, 32, 32).kernel(3).pad(1), false},
  };
  for (const NamedProblem& np : others) {
    const kernels::Conv2dLowered l = kernels::lower(np.p);
    EXPECT_FALSE(cpu::conv2d_direct_supported(l)) << np.name;
    std::vector<float> buf(1 << 16);
    EXPECT_THROW(cpu::conv2d_direct_forward(l, buf.data(), buf.data(), nullptr, buf.data(), 1), ValueError)
        << np.name;
  }
  const std::vector<NamedProblem> others_bwd = {
      {"ci_not_multiple_of_32", conv(2, 48, 16, 16, 16).kernel(4).stride(2).pad(1), false},
      {"dilated", conv(2, 32, 16, 16, 16).kernel(3).pad(2).dil(2), false},
      {"stride_above_kernel", conv(2, 32, 16, 16, 16).kernel(1).stride(2), false},
      {"few_output_channels", conv(2, 32, 16, 16, 8).kernel(4).stride(2).pad(1), false},
  };
  const std::vector<NamedProblem> others_bwdw = {
      {"inputs_not_multiple_of_8", conv(2, 20, 16, 16, 32).kernel(4).stride(2).pad(1), false},
      {"outputs_not_multiple_of_32", conv(2, 16, 16, 16, 48).kernel(4).stride(2).pad(1), false},
      {"plane_over_256", conv(2, 16, 34, 34, 32).kernel(3).pad(0), false},
  };
  for (const NamedProblem& np : others_bwdw) {
    const kernels::Conv2dLowered l = kernels::lower(np.p);
    EXPECT_FALSE(cpu::conv2d_direct_backward_weight_supported(l)) << np.name;
    std::vector<float> buf(1 << 16);
    EXPECT_THROW(cpu::conv2d_direct_backward_weight(l, buf.data(), buf.data(), buf.data(), 1), ValueError) << np.name;
  }
  for (const NamedProblem& np : others_bwd) {
    const kernels::Conv2dLowered l = kernels::lower(np.p);
    EXPECT_FALSE(cpu::conv2d_direct_backward_data_supported(l)) << np.name;
    std::vector<float> buf(1 << 16);
    EXPECT_THROW(cpu::conv2d_direct_backward_data(l, buf.data(), buf.data(), nullptr, buf.data(), 1), ValueError)
        << np.name;
  }
}

}  // namespace
}  // namespace strider::test
