// The hand-written CUDA kernels (kernels/cuda/conv2d*.cu), both versions (v1 direct, v2 implicit
// GEMM), against the float64 reference and the PyTorch fixtures, on the emulated device in CI and
// on a GPU when there is one. Skipped, saying why, in a real CUDA build without a device.
//
// Emulated CUDA runs every thread as a fiber (and under ASan in CI), so the CUDA suites use the
// problems marked `small` (all the awkward cases and the DCGAN layers up to 40 MFLOP and 300K
// elements per buffer at batch 1); the bigger DCGAN layers run in their reduced-channel form
// through the fixtures.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <strider/config.hpp>
#include <strider/kernels/conv2d.hpp>

#include "conv_device.hpp"
#include "conv_fixtures.hpp"
#include "conv_problems.hpp"

namespace strider::test {
namespace {

using kernels::cuda::Conv2dAlgo;

std::vector<NamedProblem> small_problems() {
  std::vector<NamedProblem> out;
  for (const NamedProblem& np : all_problems())
    if (np.small) out.push_back(np);
  return out;
}

std::string param_name(const ::testing::TestParamInfo<NamedProblem>& info) { return info.param.name; }

class ConvCuda : public ::testing::TestWithParam<NamedProblem> {};

TEST_P(ConvCuda, RandomMatchesReference) {
  STRIDER_SKIP_WITHOUT_CUDA_DEVICE();
  const ConvCase c(GetParam().p, 41);
  for (Conv2dAlgo algo : {Conv2dAlgo::kDirect, Conv2dAlgo::kImplicitGemm}) {
    DeviceBackend be(cuda_passes(algo));
    check_backend(be, c);
  }
}

// Small integers: every order of summation gives the same float, so both versions must equal the
// reference exactly (atomics in v2's backward-weight included).
TEST_P(ConvCuda, IntegersExact) {
  STRIDER_SKIP_WITHOUT_CUDA_DEVICE();
  const ConvCase c(GetParam().p, 42, /*integers=*/true);
  for (Conv2dAlgo algo : {Conv2dAlgo::kDirect, Conv2dAlgo::kImplicitGemm}) {
    DeviceBackend be(cuda_passes(algo));
    check_backend(be, c, {.exact = true});
  }
}

INSTANTIATE_TEST_SUITE_P(Problems, ConvCuda, ::testing::ValuesIn(small_problems()), param_name);

// conv_transpose2d forward == conv2d backward-data (and the two other pairings) on the device, bit
// for bit: the same lowered kernels run underneath.
class ConvCudaAdjoint : public ::testing::TestWithParam<NamedProblem> {};

TEST_P(ConvCudaAdjoint, TransposedEqualsAdjointPass) {
  STRIDER_SKIP_WITHOUT_CUDA_DEVICE();
  Conv2dProblem p = GetParam().p;
  p.has_bias = false;
  Conv2dProblem t;
  ASSERT_TRUE(matching_transposed(p, &t));
  namespace k = kernels::cuda;
  const auto x = random_values<float>(p.input_size(), 51), w = random_values<float>(p.weight_size(), 52);
  const auto u = random_values<float>(p.output_size(), 53);
  TestStream stream;
  DeviceBuffer dx(x), dw(w), du(u);
  for (Conv2dAlgo algo : {Conv2dAlgo::kDirect, Conv2dAlgo::kImplicitGemm}) {
    SCOPED_TRACE(algo == Conv2dAlgo::kDirect ? "direct" : "implicit-gemm");
    DeviceBuffer a(p.input_size()), b(p.input_size()), c(p.output_size()), d(p.output_size());
    DeviceBuffer e(p.weight_size()), f(p.weight_size());
    k::conv2d_backward_data(p, du.get(), dw.get(), a.get(), stream.get(), algo);
    k::conv_transpose2d_forward(t, du.get(), dw.get(), nullptr, b.get(), stream.get(), algo);
    k::conv2d_forward(p, dx.get(), dw.get(), nullptr, c.get(), stream.get(), algo);
    k::conv_transpose2d_backward_data(t, dx.get(), dw.get(), d.get(), stream.get(), algo);
    k::conv2d_backward_weight(p, dx.get(), du.get(), e.get(), nullptr, stream.get(), algo);
    k::conv_transpose2d_backward_weight(t, du.get(), dx.get(), f.get(), nullptr, stream.get(), algo);
    stream.sync();
    EXPECT_EQ(a.download(), b.download()) << "conv_transpose2d forward != conv2d backward-data";
    EXPECT_EQ(c.download(), d.download()) << "conv_transpose2d backward-data != conv2d forward";
    if (algo == Conv2dAlgo::kDirect) {  // v2 may split the reduction differently (atomics): not bitwise
      EXPECT_EQ(e.download(), f.download()) << "conv_transpose2d backward-weight != conv2d backward-weight";
    }
  }
}

std::vector<NamedProblem> awkward_conv_problems() {
  std::vector<NamedProblem> out;
  for (const NamedProblem& np : awkward_problems())
    if (!np.p.transposed && np.p.N > 0) out.push_back(np);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Problems, ConvCudaAdjoint, ::testing::ValuesIn(awkward_conv_problems()), param_name);

// PyTorch's results, on the device.
class ConvCudaFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(ConvCudaFixture, MatchesPyTorch) {
  STRIDER_SKIP_WITHOUT_CUDA_DEVICE();
  const ConvCase f = fixture_case(load_conv_fixture(GetParam()));
  for (Conv2dAlgo algo : {Conv2dAlgo::kDirect, Conv2dAlgo::kImplicitGemm}) {
    DeviceBackend be(cuda_passes(algo));
    check_backend(be, f);
  }
}

std::string fixture_name(const ::testing::TestParamInfo<std::string>& p) { return p.param; }

INSTANTIATE_TEST_SUITE_P(PyTorch, ConvCudaFixture, ::testing::ValuesIn(conv_fixture_names()), fixture_name);

#if STRIDER_EMULATED_CUDA
// A missing __syncthreads shows up as a schedule-dependent result: the tiled kernels must give the
// same exact results with the block's threads run in reverse and in shuffled order.
TEST(ConvCudaEmulated, ImplicitGemmIndependentOfThreadSchedule) {
  const std::vector<Conv2dProblem> problems = {
      conv(2, 5, 9, 7, 6).kernel(3).stride(2).pad(1).groups(1).bias(),
      conv_t(2, 4, 5, 5, 6).kernel(3).stride(2).pad(2).dil(2).groups(2).out_pad(1).bias(),
      conv(1, 67, 5, 4, 70).kernel(2).pad(1)};
  for (const Conv2dProblem& p : problems) {
    const ConvCase c(p, 61, /*integers=*/true);
    for (auto schedule : {emu::Schedule::reverse, emu::Schedule::shuffle}) {
      emu::ScopedSchedule scoped(schedule, 7);
      DeviceBackend be(cuda_passes(Conv2dAlgo::kImplicitGemm));
      check_backend(be, c, {.exact = true});
    }
  }
}
#endif

}  // namespace
}  // namespace strider::test
