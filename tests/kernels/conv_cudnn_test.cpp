// cuDNN cross-checks (kernels/cudnn/conv2d_cudnn.cpp): every pass against the float64 reference,
// and against our own CUDA kernels, on the shared problem list. Real CUDA builds only; skipped,
// saying why, without a GPU.
//
// Tolerance: cuDNN may pick Winograd or FFT algorithms, whose rounding differs from a direct sum;
// the float rule of conv_test_util.hpp is widened 20x for them (still far below one wrong term).
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <strider/kernels/conv2d.hpp>

#include "conv_device.hpp"
#include "conv_fixtures.hpp"
#include "conv_problems.hpp"

namespace strider::test {
namespace {

constexpr double kCudnnToleranceScale = 20.0;

DevicePasses cudnn_passes() {
  namespace k = kernels::cudnn;
  DevicePasses d;
  d.name = "cudnn";
  d.forward = [](const Conv2dProblem& p, const float* x, const float* w, const float* b, float* y, cudaStream_t s) {
    if (p.transposed) {
      k::conv_transpose2d_forward(p, x, w, b, y, s);
    } else {
      k::conv2d_forward(p, x, w, b, y, s);
    }
  };
  d.backward_data = [](const Conv2dProblem& p, const float* gy, const float* w, float* gx, cudaStream_t s) {
    if (p.transposed) {
      k::conv_transpose2d_backward_data(p, gy, w, gx, s);
    } else {
      k::conv2d_backward_data(p, gy, w, gx, s);
    }
  };
  d.backward_weight = [](const Conv2dProblem& p, const float* x, const float* gy, float* gw, float* gb,
                         cudaStream_t s) {
    if (p.transposed) {
      k::conv_transpose2d_backward_weight(p, x, gy, gw, gb, s);
    } else {
      k::conv2d_backward_weight(p, x, gy, gw, gb, s);
    }
  };
  return d;
}

// cuDNN cannot express output_padding >= stride (see conv2d_cudnn.cpp).
bool cudnn_can_run(const Conv2dProblem& p) {
  return !p.transposed || (p.out_pad_h < p.stride_h && p.out_pad_w < p.stride_w);
}

std::string param_name(const ::testing::TestParamInfo<NamedProblem>& info) { return info.param.name; }

class ConvCudnn : public ::testing::TestWithParam<NamedProblem> {};

TEST_P(ConvCudnn, MatchesReference) {
  STRIDER_SKIP_WITHOUT_CUDA_DEVICE();
  const Conv2dProblem& p = GetParam().p;
  if (!cudnn_can_run(p)) GTEST_SKIP() << "cuDNN cannot express output_padding >= stride: " << p;
  const ConvCase c(p, 71);
  DeviceBackend be(cudnn_passes());
  check_backend(be, c, {.exact = false, .scale = kCudnnToleranceScale});
}

// Same inputs through cuDNN and our implicit GEMM kernels: both against the reference above, and
// here directly against each other (tolerance of the two float errors combined).
TEST_P(ConvCudnn, AgreesWithOurKernels) {
  STRIDER_SKIP_WITHOUT_CUDA_DEVICE();
  const Conv2dProblem& p = GetParam().p;
  if (!cudnn_can_run(p)) GTEST_SKIP() << "cuDNN cannot express output_padding >= stride: " << p;
  const ConvCase c(p, 72);
  ConvCase ours = c;
  // Our kernels' results become the "reference" that cuDNN is checked against.
  DeviceBackend our_backend(cuda_passes(kernels::cuda::Conv2dAlgo::kImplicitGemm));
  const auto x = cast<float>(c.x), w = cast<float>(c.w), b = cast<float>(c.b), dy = cast<float>(c.dy);
  Guarded<float> y(p.output_size()), dx(p.input_size()), dw(p.weight_size()), db(p.bias_size());
  our_backend.forward(p, x.data(), w.data(), p.has_bias ? b.data() : nullptr, y);
  our_backend.backward_data(p, dy.data(), w.data(), dx);
  our_backend.backward_weight(p, x.data(), dy.data(), dw, p.has_bias ? &db : nullptr);
  ours.y = cast<double>(y.values());
  ours.dx = cast<double>(dx.values());
  ours.dw = cast<double>(dw.values());
  if (p.has_bias) ours.db = cast<double>(db.values());
  DeviceBackend be(cudnn_passes());
  check_backend(be, ours, {.exact = false, .scale = 2 * kCudnnToleranceScale});
}

INSTANTIATE_TEST_SUITE_P(Problems, ConvCudnn, ::testing::ValuesIn(all_problems()), param_name);

class ConvCudnnFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(ConvCudnnFixture, MatchesPyTorch) {
  STRIDER_SKIP_WITHOUT_CUDA_DEVICE();
  const ConvCase f = fixture_case(load_conv_fixture(GetParam()));
  if (!cudnn_can_run(f.p)) GTEST_SKIP() << "cuDNN cannot express output_padding >= stride: " << f.p;
  DeviceBackend be(cudnn_passes());
  check_backend(be, f, {.exact = false, .scale = kCudnnToleranceScale});
}

std::string fixture_name(const ::testing::TestParamInfo<std::string>& p) { return p.param; }

INSTANTIATE_TEST_SUITE_P(PyTorch, ConvCudnnFixture, ::testing::ValuesIn(conv_fixture_names()), fixture_name);

// The one problem cuDNN cannot run says so (ValueError), before touching the device.
TEST(ConvCudnnLimits, OutputPaddingBelowDilationIsRejected) {
  STRIDER_SKIP_WITHOUT_CUDA_DEVICE();
  const Conv2dProblem p = conv_t(1, 2, 5, 4, 3).kernel(3).dil(2).out_pad(1);
  TestStream stream;
  DeviceBuffer x(p.input_size()), w(p.weight_size()), y(p.output_size());
  try {
    kernels::cudnn::conv_transpose2d_forward(p, x.get(), w.get(), nullptr, y.get(), stream.get());
    FAIL() << "no throw";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("needs output_padding >= stride, which cuDNN cannot express"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace strider::test
