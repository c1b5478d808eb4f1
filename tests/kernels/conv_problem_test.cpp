// Conv2dProblem: output sizes, flops, lowering, and the one validity check: for each invalid
// problem, the exception type and the message content, identical on every backend this build has.
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <strider/config.hpp>
#include <strider/core/error.hpp>
#include <strider/kernels/conv2d.hpp>

#include "conv_problems.hpp"

namespace strider::test {
namespace {

using kernels::Conv2dLowered;

TEST(Conv2dProblem, OutputSizes) {
  // conv: floor((in + 2p - d(k-1) - 1) / s) + 1
  EXPECT_EQ(Conv2dProblem(conv(1, 3, 64, 64, 64).kernel(4).stride(2).pad(1)).P(), 32);
  EXPECT_EQ(Conv2dProblem(conv(1, 3, 7, 11, 5).kernel(3, 2).stride(2, 1).pad(1, 0)).P(), 4);
  EXPECT_EQ(Conv2dProblem(conv(1, 3, 7, 11, 5).kernel(3, 2).stride(2, 1).pad(1, 0)).Q(), 10);
  EXPECT_EQ(Conv2dProblem(conv(1, 2, 13, 9, 3).kernel(3).stride(3).dil(2).pad(2, 1)).P(), 5);
  EXPECT_EQ(Conv2dProblem(conv(1, 2, 13, 9, 3).kernel(3).stride(3).dil(2).pad(2, 1)).Q(), 3);
  // transposed: (in - 1) s - 2p + d(k-1) + output_padding + 1
  EXPECT_EQ(Conv2dProblem(conv_t(1, 100, 1, 1, 512).kernel(4)).P(), 4);
  EXPECT_EQ(Conv2dProblem(conv_t(1, 512, 4, 4, 256).kernel(4).stride(2).pad(1)).P(), 8);
  EXPECT_EQ(Conv2dProblem(conv_t(1, 4, 5, 6, 3).kernel(3).stride(2).pad(1).out_pad(1)).P(), 10);
  EXPECT_EQ(Conv2dProblem(conv_t(1, 4, 5, 6, 3).kernel(3).stride(2).pad(1).out_pad(1)).Q(), 12);
  EXPECT_EQ(Conv2dProblem(conv_t(1, 2, 5, 4, 3).kernel(3).dil(2).out_pad(1)).P(), 10);
}

TEST(Conv2dProblem, FlopsAndSizes) {
  const Conv2dProblem c = conv(2, 4, 9, 7, 6).kernel(3).stride(2).pad(1).groups(2);  // P 5, Q 4
  EXPECT_EQ(c.output_size(), 2 * 6 * 5 * 4);
  EXPECT_EQ(c.weight_size(), 6 * 2 * 3 * 3);
  EXPECT_EQ(c.flops(), 2LL * (2 * 6 * 5 * 4) * (2 * 3 * 3));
  // A transposed problem counts the multiply-adds of its lowered convolution (no inserted zeros):
  // the matching transposed problem has the same count.
  Conv2dProblem t;
  ASSERT_TRUE(matching_transposed(c, &t));
  EXPECT_EQ(t.flops(), c.flops());
  EXPECT_EQ(t.weight_size(), c.weight_size());
  EXPECT_EQ(t.P(), 9);
  EXPECT_EQ(t.Q(), 7);
}

TEST(Conv2dProblem, LoweringSwapsRolesForTransposed) {
  const Conv2dProblem t = conv_t(2, 5, 3, 4, 6).kernel(3).stride(2).pad(1).out_pad(1);
  const Conv2dLowered l = kernels::lower(t);
  EXPECT_EQ(l.Ci, 6);
  EXPECT_EQ(l.Hi, t.P());
  EXPECT_EQ(l.Wi, t.Q());
  EXPECT_EQ(l.Co, 5);
  EXPECT_EQ(l.Ho, 3);
  EXPECT_EQ(l.Wo, 4);
  const Conv2dLowered c = kernels::lower(conv(2, 5, 3, 4, 6).kernel(3).pad(1));
  EXPECT_EQ(c.Ci, 5);
  EXPECT_EQ(c.Co, 6);
  EXPECT_EQ(c.Ho, 3);
}

TEST(Conv2dProblem, SetShapesFromTensors) {
  Conv2dProblem p = conv(1, 1, 1, 1, 1).kernel(1).groups(2);
  const std::int64_t in[4] = {8, 6, 32, 30}, w[4] = {10, 3, 4, 5};
  p.set_shapes(in, w);
  EXPECT_EQ(p.N, 8);
  EXPECT_EQ(p.C, 6);
  EXPECT_EQ(p.K, 10);
  EXPECT_EQ(p.R, 4);
  EXPECT_EQ(p.S, 5);
  Conv2dProblem t = conv_t(1, 1, 1, 1, 1).groups(2);
  const std::int64_t tin[4] = {2, 10, 4, 4}, tw[4] = {10, 3, 4, 4};
  t.set_shapes(tin, tw);
  EXPECT_EQ(t.C, 10);
  EXPECT_EQ(t.K, 6);
  EXPECT_NO_THROW(t.validate());
}

TEST(Conv2dProblem, StrIsReadable) {
  const std::string s = Conv2dProblem(conv_t(2, 4, 5, 6, 3).kernel(3).stride(2).pad(1).out_pad(1).bias()).str();
  EXPECT_EQ(s,
            "conv_transpose2d(N=2, C=4, H=5, W=6 -> K=3, P=10, Q=12; kernel 3x3, stride 2x2, padding 1x1, "
            "dilation 1x1, groups 1, output_padding 1x1, bias)");
  // Total on invalid problems too (messages and test output print them): no division by zero.
  const Conv2dProblem bad = conv(1, 2, 3, 3, 2).kernel(5).stride(0).groups(0);
  EXPECT_NE(bad.str().find("stride 0x0"), std::string::npos) << bad.str();
  EXPECT_EQ(bad.flops(), 0);
  EXPECT_EQ(bad.output_size(), 0);
}

// ---------------------------------------------------------------------------------------------
// Invalid problems.
// ---------------------------------------------------------------------------------------------

enum class Kind { kShape, kValue };

struct Invalid {
  std::string name;
  Conv2dProblem p;
  Kind kind;
  std::vector<std::string> says;  // substrings of the message
};

std::vector<Invalid> invalid_problems() {
  return {
      {"input_smaller_than_kernel", conv(1, 3, 1, 1, 4).kernel(4), Kind::kShape,
       {"conv2d: padded input 1x1 (input 1x1, padding 0x0) is smaller than the dilated 4x4 kernel (kernel 4x4, "
        "dilation 1x1)",
        "fixes: kernel <= 1x1, or padding >= 2x2, or input >= 4x4"}},
      {"input_too_short", conv(1, 3, 2, 8, 4).kernel(4), Kind::kShape,
       {"padded input 2x8", "fixes: kernel height <= 2, or padding height >= 1, or input height >= 4"}},
      {"dilated_kernel_too_big", conv(1, 1, 5, 5, 1).kernel(3).dil(3), Kind::kShape,
       {"dilated 7x7 kernel (kernel 3x3, dilation 3x3)", "or a smaller dilation"}},
      {"transposed_output_empty", conv_t(1, 2, 1, 1, 2).kernel(1).pad(1), Kind::kShape,
       {"conv_transpose2d: output -1x-1", "must be at least 1x1", "fixes: padding <= 0x0"}},
      {"output_padding_too_big", conv_t(1, 2, 3, 3, 2).kernel(3).stride(2).out_pad(2), Kind::kValue,
       {"conv_transpose2d: output_padding 2 (height) must be smaller than the stride 2 or the dilation 1",
        "fixes: output_padding <= 1"}},
      {"output_padding_on_conv", conv(1, 2, 5, 5, 2).kernel(3).out_pad(1, 0), Kind::kValue,
       {"conv2d: output_padding 1x0 is given, but only conv_transpose2d has an output_padding"}},
      {"in_channels_not_divisible", conv(1, 6, 5, 5, 8).kernel(3).groups(4), Kind::kShape,
       {"input channels 6 are not divisible by groups=4", "groups that divide both: 1, 2"}},
      {"out_channels_not_divisible", conv(1, 4, 5, 5, 6).kernel(3).groups(4), Kind::kShape,
       {"output channels 6 are not divisible by groups=4", "groups that divide both: 1, 2"}},
      {"transposed_channels_not_divisible", conv_t(1, 3, 5, 5, 4).kernel(3).groups(2), Kind::kShape,
       {"conv_transpose2d: input channels 3 are not divisible by groups=2"}},
      {"stride_zero", conv(1, 2, 5, 5, 2).kernel(3).stride(0, 1), Kind::kValue,
       {"stride 0x1 must be at least 1x1"}},
      {"dilation_zero", conv(1, 2, 5, 5, 2).kernel(3).dil(1, 0), Kind::kValue, {"dilation 1x0 must be at least 1x1"}},
      {"kernel_zero", conv(1, 2, 5, 5, 2).kernel(0, 3), Kind::kValue, {"kernel 0x3 must be at least 1x1"}},
      {"groups_zero", conv(1, 2, 5, 5, 2).kernel(3).groups(0), Kind::kValue, {"groups=0 must be at least 1"}},
      {"negative_padding", conv(1, 2, 5, 5, 2).kernel(3).pad(-1, 0), Kind::kValue,
       {"padding -1x0 must not be negative"}},
      {"negative_output_padding", conv_t(1, 2, 5, 5, 2).kernel(3).out_pad(0, -1), Kind::kValue,
       {"output_padding 0x-1 must not be negative"}},
      {"no_input_channels", conv(1, 0, 5, 5, 2).kernel(3), Kind::kShape, {"0 input and 2 output channels"}},
      {"no_output_channels", conv_t(1, 2, 5, 5, 0).kernel(3), Kind::kShape, {"2 input and 0 output channels"}},
      {"empty_image", conv(1, 2, 0, 5, 2).kernel(1), Kind::kShape, {"input 0x5 is empty"}},
      {"negative_batch", conv(-1, 2, 5, 5, 2).kernel(3), Kind::kShape, {"batch size N=-1 is negative"}},
      {"too_many_elements", conv(65536, 64, 32, 32, 64).kernel(3).pad(1), Kind::kShape,
       {"the input has 4294967296 elements, more than the 2147483647", "split it into several calls"}},
  };
}

std::string invalid_name(const ::testing::TestParamInfo<Invalid>& info) { return info.param.name; }

class Conv2dInvalid : public ::testing::TestWithParam<Invalid> {};

// Catches what `f` throws and checks type and message; returns the message.
std::string expect_throws(const Invalid& c, const std::function<void()>& f, const std::string& who) {
  try {
    f();
  } catch (const ShapeError& e) {
    EXPECT_EQ(c.kind, Kind::kShape) << who << " threw ShapeError, expected ValueError: " << e.what();
    return e.what();
  } catch (const ValueError& e) {
    EXPECT_EQ(c.kind, Kind::kValue) << who << " threw ValueError, expected ShapeError: " << e.what();
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << who << " threw an unexpected exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << who << " did not throw for " << c.p;
  return "";
}

TEST_P(Conv2dInvalid, ValidateThrowsWithMessage) {
  const Invalid& c = GetParam();
  const std::string msg = expect_throws(c, [&] { c.p.validate(); }, "validate()");
  for (const std::string& s : c.says) EXPECT_NE(msg.find(s), std::string::npos) << "message: " << msg << "\nlacks: " << s;
}

// Every pass of every backend rejects the problem with exactly validate()'s message, before it
// touches a buffer (the dummy pointers below are never dereferenced, the device never used).
TEST_P(Conv2dInvalid, EveryBackendSaysTheSame) {
  const Invalid& c = GetParam();
  const Conv2dProblem& p = c.p;
  const std::string expected = expect_throws(c, [&] { p.validate(); }, "validate()");
  float f[1] = {0};
  double d[1] = {0};
  std::vector<std::pair<std::string, std::function<void()>>> calls;
  namespace k = kernels;
  if (!p.transposed) {
    calls.push_back({"ref fwd", [&] { k::ref::conv2d_forward(p, d, d, d, d); }});
    calls.push_back({"ref bwd data", [&] { k::ref::conv2d_backward_data(p, d, d, d); }});
    calls.push_back({"ref bwd weight", [&] { k::ref::conv2d_backward_weight(p, d, d, d, d); }});
    calls.push_back({"cpu fwd", [&] { k::cpu::conv2d_forward(p, f, f, f, f); }});
    calls.push_back({"cpu bwd data", [&] { k::cpu::conv2d_backward_data(p, f, f, f); }});
    calls.push_back({"cpu bwd weight", [&] { k::cpu::conv2d_backward_weight(p, f, f, f, f); }});
  } else {
    calls.push_back({"ref fwd", [&] { k::ref::conv_transpose2d_forward(p, d, d, d, d); }});
    calls.push_back({"ref bwd data", [&] { k::ref::conv_transpose2d_backward_data(p, d, d, d); }});
    calls.push_back({"ref bwd weight", [&] { k::ref::conv_transpose2d_backward_weight(p, d, d, d, d); }});
    calls.push_back({"cpu fwd", [&] { k::cpu::conv_transpose2d_forward(p, f, f, f, f); }});
    calls.push_back({"cpu bwd data", [&] { k::cpu::conv_transpose2d_backward_data(p, f, f, f); }});
    calls.push_back({"cpu bwd weight", [&] { k::cpu::conv_transpose2d_backward_weight(p, f, f, f, f); }});
  }
#if STRIDER_HAS_CUDA
  cudaStream_t stream{};
  for (auto algo : {k::cuda::Conv2dAlgo::kDirect, k::cuda::Conv2dAlgo::kImplicitGemm}) {
    const std::string a = algo == k::cuda::Conv2dAlgo::kDirect ? "cuda direct " : "cuda implicit-gemm ";
    if (!p.transposed) {
      calls.push_back({a + "fwd", [&, algo] { k::cuda::conv2d_forward(p, f, f, f, f, stream, algo); }});
      calls.push_back({a + "bwd data", [&, algo] { k::cuda::conv2d_backward_data(p, f, f, f, stream, algo); }});
      calls.push_back({a + "bwd weight", [&, algo] { k::cuda::conv2d_backward_weight(p, f, f, f, f, stream, algo); }});
    } else {
      calls.push_back({a + "fwd", [&, algo] { k::cuda::conv_transpose2d_forward(p, f, f, f, f, stream, algo); }});
      calls.push_back(
          {a + "bwd data", [&, algo] { k::cuda::conv_transpose2d_backward_data(p, f, f, f, stream, algo); }});
      calls.push_back(
          {a + "bwd weight", [&, algo] { k::cuda::conv_transpose2d_backward_weight(p, f, f, f, f, stream, algo); }});
    }
  }
#endif
#if STRIDER_HAS_CUDNN
  if (!p.transposed) {
    calls.push_back({"cudnn fwd", [&] { k::cudnn::conv2d_forward(p, f, f, f, f, stream); }});
    calls.push_back({"cudnn bwd data", [&] { k::cudnn::conv2d_backward_data(p, f, f, f, stream); }});
    calls.push_back({"cudnn bwd weight", [&] { k::cudnn::conv2d_backward_weight(p, f, f, f, f, stream); }});
  } else {
    calls.push_back({"cudnn fwd", [&] { k::cudnn::conv_transpose2d_forward(p, f, f, f, f, stream); }});
    calls.push_back({"cudnn bwd data", [&] { k::cudnn::conv_transpose2d_backward_data(p, f, f, f, stream); }});
    calls.push_back({"cudnn bwd weight", [&] { k::cudnn::conv_transpose2d_backward_weight(p, f, f, f, f, stream); }});
  }
#endif
  for (const auto& [who, call] : calls) {
    EXPECT_EQ(expect_throws(c, call, who), expected) << who;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, Conv2dInvalid, ::testing::ValuesIn(invalid_problems()), invalid_name);

TEST(Conv2dProblem, SetShapesRejectsChannelMismatch) {
  Conv2dProblem p = conv(1, 1, 1, 1, 1);
  const std::int64_t in[4] = {2, 4, 8, 8}, w[4] = {16, 3, 3, 3};
  try {
    p.set_shapes(in, w);
    FAIL() << "no throw";
  } catch (const ShapeError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("conv2d: the input (2, 4, 8, 8) has 4 channels but the weight (16, 3, 3, 3) expects 3"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find("fixes: feed an input with 3 channels"), std::string::npos) << m;
  }
  Conv2dProblem t = conv_t(1, 1, 1, 1, 1);
  const std::int64_t tw[4] = {3, 16, 4, 4};
  try {
    t.set_shapes(in, tw);
    FAIL() << "no throw";
  } catch (const ShapeError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("conv_transpose2d: the input (2, 4, 8, 8) has 4 channels but the weight (3, 16, 4, 4) "
                     "expects 3 (weight dim 0 = in_channels)"),
              std::string::npos)
        << m;
  }
}

TEST(Conv2dProblem, WrongOpAndNullBuffers) {
  const Conv2dProblem t = conv_t(1, 2, 3, 3, 2).kernel(2).bias();
  float f[64] = {};
  try {
    kernels::cpu::conv2d_forward(t, f, f, f, f);
    FAIL() << "no throw";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("cpu::conv2d_forward: got a conv_transpose2d problem"), std::string::npos)
        << e.what();
  }
  try {
    kernels::cpu::conv_transpose2d_forward(t, f, nullptr, f, f);
    FAIL() << "no throw";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("cpu::conv_transpose2d_forward: buffer `weight` is null"), std::string::npos)
        << e.what();
  }
  try {
    kernels::ref::conv_transpose2d_backward_weight(t, nullptr, nullptr, nullptr, nullptr);
    FAIL() << "no throw";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("buffer `x` is null"), std::string::npos) << e.what();
  }
  double d[64] = {};
  try {
    kernels::ref::conv_transpose2d_forward(t, d, d, nullptr, d);
    FAIL() << "no throw";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("buffer `bias` is null but the problem has a bias"), std::string::npos)
        << e.what();
  }
  Conv2dProblem nb = t;
  nb.has_bias = false;
  EXPECT_NO_THROW(kernels::ref::conv_transpose2d_forward(nb, d, d, nullptr, d));
}

}  // namespace
}  // namespace strider::test
