// DType, Device, shapes, errors, the generator.
#include <gtest/gtest.h>

#include <strider/kernels/philox.hpp>

#include "common/test_util.hpp"

namespace strider {
namespace {

TEST(DType, NamesSizesAndParsing) {
  EXPECT_EQ(dtype_size(DType::Float32), 4u);
  EXPECT_EQ(dtype_size(DType::Float64), 8u);
  EXPECT_STREQ(dtype_name(DType::Float64), "float64");
  EXPECT_EQ(parse_dtype("double"), DType::Float64);
  EXPECT_EQ(parse_dtype("f32"), DType::Float32);
  STRIDER_EXPECT_THROW_MSG(parse_dtype("int8"), ValueError, "int8", "float32", "float64");
}

TEST(Device, ParsesAndPrints) {
  EXPECT_EQ(Device("cpu"), Device::cpu());
  EXPECT_EQ(Device("cuda"), Device::cuda(0));
  EXPECT_EQ(Device("cuda:3"), Device::cuda(3));
  EXPECT_EQ(Device::cuda(2).str(), "cuda:2");
  EXPECT_FALSE(Device::cpu() == Device::cuda(0));
  for (const char* bad : {"gpu", "cuda:", "cuda:x", "cuda0", "CPU", "cuda:-1"})
    STRIDER_EXPECT_THROW_MSG(Device{std::string(bad)}, ValueError, std::string("'") + bad + "'", "cuda:N");
}

TEST(Device, MissingCudaDeviceIsAClearError) {
  if (cuda_is_available()) {
    const int n = cuda_device_count();
    STRIDER_EXPECT_THROW_MSG(Tensor::zeros({2}, Device::cuda(n)), DeviceError, "cuda:" + std::to_string(n),
                             "does not exist");
  } else {
    EXPECT_FALSE(cuda_unavailable_reason().empty());
    STRIDER_EXPECT_THROW_MSG(Tensor::zeros({2}, Device::cuda(0)), DeviceError, "cuda:0", "use device \"cpu\"");
  }
}

TEST(Shape, NumelStridesAndErrors) {
  EXPECT_EQ(checked_numel({}), 1);
  EXPECT_EQ(checked_numel({2, 0, 3}), 0);
  EXPECT_EQ(checked_numel({2, 3, 4}), 24);
  EXPECT_EQ(contiguous_strides({2, 3, 4}), (Shape{12, 4, 1}));
  EXPECT_EQ(contiguous_strides({2, 0, 4}), (Shape{4, 4, 1}));
  STRIDER_EXPECT_THROW_MSG(checked_numel({2, -3}), ShapeError, "negative size -3", "dim 1");
  STRIDER_EXPECT_THROW_MSG(checked_numel({1LL << 32, 1LL << 32}), ShapeError, "overflow");
  STRIDER_EXPECT_THROW_MSG(checked_numel(Shape(9, 1)), ShapeError, "9 dims", "at most 8");
  EXPECT_EQ(shape_str({2, 3}), "[2, 3]");
}

TEST(Shape, WrapDim) {
  EXPECT_EQ(wrap_dim(-1, 3), 2);
  EXPECT_EQ(wrap_dim(0, 3), 0);
  EXPECT_EQ(wrap_dim(-1, 0), 0);
  STRIDER_EXPECT_THROW_MSG(wrap_dim(3, 3, "sum"), IndexError, "sum", "dimension 3", "[-3, 2]");
  STRIDER_EXPECT_THROW_MSG(wrap_dim(-4, 3), IndexError, "dimension -4");
}

TEST(Shape, Broadcasting) {
  EXPECT_EQ(broadcast_shapes({3, 1, 5}, {4, 5}), (Shape{3, 4, 5}));
  EXPECT_EQ(broadcast_shapes({}, {2, 2}), (Shape{2, 2}));
  EXPECT_EQ(broadcast_shapes({0}, {1}), (Shape{0}));
  STRIDER_EXPECT_THROW_MSG(broadcast_shapes({2, 3}, {4, 3}), ShapeError, "[2, 3]", "[4, 3]", "sizes 2 and 4");
}

TEST(Philox, MatchesRandom123KnownAnswers) {
  // Known-answer vectors of Philox4x32-10 from Random123's kat_vectors (counter, key) = 0.
  const auto r = kernels::philox4x32_10(0, 0);
  EXPECT_EQ(r.v[0], 0x6627e8d5u);
  EXPECT_EQ(r.v[1], 0xe169c58du);
  EXPECT_EQ(r.v[2], 0xbc57ac4cu);
  EXPECT_EQ(r.v[3], 0x9b00dbd8u);
}

TEST(Generator, SameSeedSameNumbersAndOffsetsAdvance) {
  Generator g1(42), g2(42), g3(43);
  const auto a = Tensor::randn({1000}, g1).to_vector<float>();
  const auto b = Tensor::randn({1000}, g2).to_vector<float>();
  const auto c = Tensor::randn({1000}, g3).to_vector<float>();
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(g1.offset(), 250u);
  const auto a2 = Tensor::randn({1000}, g1).to_vector<float>();
  EXPECT_NE(a, a2);  // the second draw continues the stream
  manual_seed(7);
  const auto d = Tensor::rand({10}).to_vector<float>();
  manual_seed(7);
  EXPECT_EQ(d, Tensor::rand({10}).to_vector<float>());
}

TEST(Generator, DistributionMoments) {
  Generator g(1);
  const auto u = Tensor::rand({200000}, g, {}, -1, 3).to_vector<double>();
  double mean = 0, mn = 1e9, mx = -1e9;
  for (double v : u) { mean += v; mn = std::min(mn, v); mx = std::max(mx, v); }
  mean /= static_cast<double>(u.size());
  EXPECT_NEAR(mean, 1.0, 0.02);
  EXPECT_GE(mn, -1.0);
  EXPECT_LT(mx, 3.0);
  const auto n = Tensor::randn({200000}, g, DType::Float64, 2.0, 0.5).to_vector<double>();
  double m = 0, var = 0;
  for (double v : n) m += v;
  m /= static_cast<double>(n.size());
  for (double v : n) var += (v - m) * (v - m);
  var /= static_cast<double>(n.size());
  EXPECT_NEAR(m, 2.0, 0.01);
  EXPECT_NEAR(std::sqrt(var), 0.5, 0.01);
  STRIDER_EXPECT_THROW_MSG(Tensor::randn({2}, g, {}, 0, -1), ValueError, "std -1");
  STRIDER_EXPECT_THROW_MSG(Tensor::rand({2}, g, {}, 2, 1), ValueError, "[2, 1)");
}

TEST(Errors, HierarchyAndMacros) {
  try {
    STRIDER_CHECK(1 + 1 == 3, ShapeError, "value " << 42);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "value 42");
    EXPECT_NE(dynamic_cast<const ShapeError*>(&e), nullptr);
  }
  EXPECT_THROW(STRIDER_THROW(OutOfMemoryError, "x"), DeviceError);
  EXPECT_THROW(STRIDER_THROW(CudaError, "x"), DeviceError);
  EXPECT_THROW(STRIDER_THROW(IoError, "x"), Error);
}

}  // namespace
}  // namespace strider
