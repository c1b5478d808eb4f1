// Elementwise, reductions and matmul against float64 loops written here, on every device present.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "common/test_util.hpp"

namespace strider {
namespace {

using testing::all_close;
using testing::device_name;
using testing::test_devices;

class OpsTest : public ::testing::TestWithParam<Device> {
 protected:
  Device dev() const { return GetParam(); }
  Tensor randn(const Shape& s, std::uint64_t seed, DType t = DType::Float32) const {
    Generator g(seed);
    return Tensor::randn(s, g, TensorOptions(t).device(dev()));
  }
  Tensor rand(const Shape& s, std::uint64_t seed, double lo, double hi) const {
    Generator g(seed);
    return Tensor::rand(s, g, dev(), lo, hi);
  }
};

std::vector<double> map(const std::vector<double>& v, const std::function<double(double)>& f) {
  std::vector<double> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = f(v[i]);
  return out;
}

TEST_P(OpsTest, UnaryMatchesStdMath) {
  const auto x = randn({7, 13}, 1);
  const auto pos = rand({7, 13}, 2, 0.1, 4.0);
  const auto xv = x.to_vector<double>(), pv = pos.to_vector<double>();
  const double rt = 1e-5, at = 1e-6;
  EXPECT_TRUE(all_close(neg(x).to_vector<double>(), map(xv, [](double v) { return -v; }), 0, 0));
  EXPECT_TRUE(all_close(exp(x).to_vector<double>(), map(xv, [](double v) { return std::exp(v); }), rt, at));
  EXPECT_TRUE(all_close(log(pos).to_vector<double>(), map(pv, [](double v) { return std::log(v); }), rt, at));
  EXPECT_TRUE(all_close(sqrt(pos).to_vector<double>(), map(pv, [](double v) { return std::sqrt(v); }), rt, at));
  EXPECT_TRUE(all_close(rsqrt(pos).to_vector<double>(), map(pv, [](double v) { return 1 / std::sqrt(v); }), rt, at));
  EXPECT_TRUE(all_close(abs(x).to_vector<double>(), map(xv, [](double v) { return std::fabs(v); }), 0, 0));
  EXPECT_TRUE(all_close(tanh(x).to_vector<double>(), map(xv, [](double v) { return std::tanh(v); }), rt, at));
  EXPECT_TRUE(all_close(sigmoid(x).to_vector<double>(), map(xv, [](double v) { return 1 / (1 + std::exp(-v)); }), rt, at));
  EXPECT_TRUE(all_close(relu(x).to_vector<double>(), map(xv, [](double v) { return v > 0 ? v : 0; }), 0, 0));
  EXPECT_TRUE(all_close(leaky_relu(x, 0.2).to_vector<double>(), map(xv, [](double v) { return v > 0 ? v : 0.2 * v; }), rt, at));
  EXPECT_TRUE(all_close(sin(x).to_vector<double>(), map(xv, [](double v) { return std::sin(v); }), rt, at));
  EXPECT_TRUE(all_close(cos(x).to_vector<double>(), map(xv, [](double v) { return std::cos(v); }), rt, at));
  EXPECT_TRUE(all_close(square(x).to_vector<double>(), map(xv, [](double v) { return v * v; }), rt, at));
  EXPECT_TRUE(all_close(reciprocal(pos).to_vector<double>(), map(pv, [](double v) { return 1 / v; }), rt, at));
  EXPECT_TRUE(all_close(sign(x).to_vector<double>(), map(xv, [](double v) { return (v > 0) - (v < 0); }), 0, 0));
  EXPECT_TRUE(all_close(pow(pos, 1.5).to_vector<double>(), map(pv, [](double v) { return std::pow(v, 1.5); }), rt, at));
  EXPECT_TRUE(all_close(clamp(x, -0.5, 0.25).to_vector<double>(), map(xv, [](double v) { return std::clamp(v, -0.5, 0.25); }), 0, 0));
  EXPECT_TRUE(all_close((x * 3.0 + 1.0).to_vector<double>(), map(xv, [](double v) { return v * 3 + 1; }), rt, at));
  EXPECT_TRUE(all_close((2.0 - x).to_vector<double>(), map(xv, [](double v) { return 2 - v; }), rt, at));
  EXPECT_TRUE(all_close((1.0 / pos).to_vector<double>(), map(pv, [](double v) { return 1 / v; }), rt, at));
  EXPECT_TRUE(all_close((x / 4.0 - 1.0).to_vector<double>(), map(xv, [](double v) { return v / 4 - 1; }), rt, at));
  // Non-contiguous input.
  EXPECT_TRUE(all_close(exp(x.t()).contiguous().to_vector<double>(), exp(x).t().contiguous().to_vector<double>(), 0, 0));
  // Sigmoid stays finite at the extremes.
  const auto ext = sigmoid(Tensor::from_vector(std::vector<float>{-1000, 1000}, {2}, dev())).to_vector<double>();
  EXPECT_EQ(ext, (std::vector<double>{0, 1}));
  STRIDER_EXPECT_THROW_MSG(clamp(x, 1, 0), ValueError, "lower bound 1");
}

TEST_P(OpsTest, BinaryBroadcastsLikeNumpy) {
  const auto a = randn({3, 1, 5}, 3, DType::Float64);
  const auto b = randn({4, 5}, 4, DType::Float64);
  const auto av = a.to_vector<double>(), bv = b.to_vector<double>();
  struct Case { Tensor (*op)(const Tensor&, const Tensor&); std::function<double(double, double)> ref; };
  const std::vector<Case> cases = {
      {add, [](double x, double y) { return x + y; }},
      {sub, [](double x, double y) { return x - y; }},
      {mul, [](double x, double y) { return x * y; }},
      {div, [](double x, double y) { return x / y; }},
      {maximum, [](double x, double y) { return std::max(x, y); }},
      {minimum, [](double x, double y) { return std::min(x, y); }},
  };
  for (const auto& c : cases) {
    const auto out = c.op(a, b);
    ASSERT_EQ(out.shape(), (Shape{3, 4, 5}));
    std::vector<double> ref;
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j)
        for (int k = 0; k < 5; ++k) ref.push_back(c.ref(av[static_cast<size_t>(i * 5 + k)], bv[static_cast<size_t>(j * 5 + k)]));
    EXPECT_TRUE(all_close(out.to_vector<double>(), ref, 1e-14, 0));
  }
  const auto p = pow(rand({6}, 5, 0.5, 2.0), rand({6}, 6, -1.0, 2.0));
  EXPECT_EQ(p.numel(), 6);
  // Operators and in-place add with broadcasting.
  auto acc = Tensor::zeros({2, 3}, dev());
  auto bias = Tensor::from_vector(std::vector<float>{1, 2, 3}, {3}, dev());
  add_(acc, bias);
  add_(acc, bias);
  EXPECT_EQ(acc.to_vector<float>(), (std::vector<float>{2, 4, 6, 2, 4, 6}));
  mul_(acc, 0.5);
  EXPECT_EQ((acc * acc - acc / acc + acc).to_vector<float>(), (std::vector<float>{1, 5, 11, 1, 5, 11}));
  // maximum propagates NaN.
  const auto nan = Tensor::from_vector(std::vector<float>{NAN, 1}, {2}, dev());
  EXPECT_TRUE(std::isnan(maximum(nan, Tensor::zeros({2}, dev())).at({0})));
}

// Big enough (>= 32768 elements) that the CPU loops split rows into pieces over threads: a
// contiguous tensor is one long row; a transposed view has few rows with a non-unit inner stride;
// a broadcast operand has stride 0. Odd lengths, so no piece ends on a vector boundary.
TEST_P(OpsTest, LongRowsSplitAcrossThreadsExactly) {
  const auto flat = randn({100003}, 11);
  const auto fv = flat.to_vector<double>();
  const auto leaky = [](double v) { return v > 0 ? v : 0.2 * v; };
  EXPECT_TRUE(all_close(leaky_relu(flat, 0.2).to_vector<double>(), map(fv, leaky), 1e-6, 0));
  EXPECT_TRUE(all_close(relu(flat).to_vector<double>(), map(fv, [](double v) { return v > 0 ? v : 0; }), 0, 0));
  EXPECT_TRUE(all_close(exp(flat).to_vector<double>(), map(fv, [](double v) { return std::exp(v); }), 1e-5, 1e-6));

  const auto tall = randn({40001, 3}, 12);  // .t(): 3 rows of 40001, inner stride 3
  const auto tv = tall.to_vector<double>();
  const auto lt = leaky_relu(tall.t(), 0.2);
  ASSERT_EQ(lt.shape(), (Shape{3, 40001}));
  std::vector<double> ref;
  for (size_t c = 0; c < 3; ++c)
    for (size_t r = 0; r < 40001; ++r) ref.push_back(leaky(tv[r * 3 + c]));
  EXPECT_TRUE(all_close(lt.to_vector<double>(), ref, 1e-6, 0));

  const auto a = randn({2, 50001}, 13), b = randn({50001}, 14);  // b broadcast over a's rows
  const auto av = a.to_vector<double>(), bv = b.to_vector<double>();
  ref.clear();
  for (size_t r = 0; r < 2; ++r)
    for (size_t k = 0; k < 50001; ++k) ref.push_back(av[r * 50001 + k] * bv[k]);
  EXPECT_TRUE(all_close(mul(a, b).to_vector<double>(), ref, 1e-6, 0));

  // Leaky ReLU's backward (a fused binary op): slope 1 or 0.2 at every element.
  const auto x = flat.detach().requires_grad_();
  leaky_relu(x, 0.2).sum().backward();
  EXPECT_TRUE(all_close(x.grad().to_vector<double>(), map(fv, [](double v) { return v > 0 ? 1.0 : 0.2; }), 1e-7, 0));

  // Special values survive the vectorised select: NaN stays NaN, infinities keep their sign.
  const auto special = leaky_relu(Tensor::from_vector(std::vector<float>{NAN, INFINITY, -INFINITY, -0.0f, 2}, {5}, dev()), 0.2)
                           .to_vector<float>();
  EXPECT_TRUE(std::isnan(special[0]));
  EXPECT_EQ(special[1], INFINITY);
  EXPECT_EQ(special[2], -INFINITY);
  EXPECT_EQ(special[3], 0.0f);
  EXPECT_EQ(special[4], 2.0f);
}

TEST_P(OpsTest, BinaryErrors) {
  const auto a = Tensor::zeros({2, 3}, dev());
  STRIDER_EXPECT_THROW_MSG(add(a, Tensor::zeros({4, 3}, dev())), ShapeError, "[2, 3]", "[4, 3]", "cannot be broadcast");
  STRIDER_EXPECT_THROW_MSG(add(a, Tensor::zeros({2, 3}, TensorOptions(DType::Float64).device(dev()))), DTypeError,
                           "float32 and float64");
  Tensor acc = Tensor::zeros({3}, dev());
  STRIDER_EXPECT_THROW_MSG(add_(acc, a), ShapeError, "in-place target");
  if (cuda_is_available()) {
    STRIDER_EXPECT_THROW_MSG(add(Tensor::zeros({2}), Tensor::zeros({2}, Device::cuda())), DeviceError,
                             "different devices", "cpu and cuda:0");
  }
}

// Float64 reference reduction over dims of a contiguous (2, 3, 4) tensor.
std::vector<double> ref_reduce(const std::vector<double>& v, const Shape& shape, const std::vector<int>& dims,
                               double init, const std::function<double(double, double)>& f) {
  Shape out_shape = shape;
  for (int d : dims) out_shape[static_cast<size_t>(d)] = 1;
  const auto out_strides = contiguous_strides(out_shape), in_strides = contiguous_strides(shape);
  std::vector<double> out(static_cast<size_t>(checked_numel(out_shape)), init);
  for (std::int64_t i = 0; i < checked_numel(shape); ++i) {
    std::int64_t rem = i, o = 0;
    for (size_t d = 0; d < shape.size(); ++d) {
      const std::int64_t idx = rem / in_strides[d];
      rem %= in_strides[d];
      if (out_shape[d] != 1) o += idx * out_strides[d];
    }
    out[static_cast<size_t>(o)] = f(out[static_cast<size_t>(o)], v[static_cast<size_t>(i)]);
  }
  return out;
}

TEST_P(OpsTest, ReductionsOverEveryDimSubset) {
  const Shape shape{2, 3, 4};
  const auto x = randn(shape, 7, DType::Float64);
  const auto xv = x.to_vector<double>();
  const std::vector<std::vector<int>> subsets = {{0}, {1}, {2}, {0, 1}, {0, 2}, {1, 2}, {0, 1, 2}};
  for (const auto& ds : subsets) {
    std::vector<std::int64_t> dims(ds.begin(), ds.end());
    double count = 1;
    for (int d : ds) count *= static_cast<double>(shape[static_cast<size_t>(d)]);
    const auto s = ref_reduce(xv, shape, ds, 0, [](double a, double b) { return a + b; });
    const auto mx = ref_reduce(xv, shape, ds, -INFINITY, [](double a, double b) { return std::max(a, b); });
    const auto mn = ref_reduce(xv, shape, ds, INFINITY, [](double a, double b) { return std::min(a, b); });
    EXPECT_TRUE(all_close(sum(x, dims).to_vector<double>(), s, 1e-12, 1e-12));
    EXPECT_TRUE(all_close(mean(x, dims).to_vector<double>(), map(s, [&](double v) { return v / count; }), 1e-12, 1e-12));
    EXPECT_TRUE(all_close(amax(x, dims).to_vector<double>(), mx, 0, 0));
    EXPECT_TRUE(all_close(amin(x, dims).to_vector<double>(), mn, 0, 0));
    const auto kept = sum(x, dims, true);
    EXPECT_EQ(kept.dim(), 3);
    for (int d : ds) EXPECT_EQ(kept.size(d), 1);
    EXPECT_EQ(sum(x, dims).dim(), 3 - static_cast<int>(ds.size()));
  }
  EXPECT_EQ(x.sum().dim(), 0);
  EXPECT_NEAR(x.sum().item(), sum(x, {0, 1, 2}).item(), 1e-12);
  EXPECT_NEAR(x.sum({-1}).at({1, 2}), sum(x, {2}).at({1, 2}), 0);
  // Non-contiguous input, float32 accumulation accuracy over many elements.
  const auto big = Tensor::full({1000, 1000}, 0.1, dev());
  EXPECT_NEAR(big.t().sum().item(), 100000.0, 0.5);
  EXPECT_NEAR(big.mean({0}).at({3}), 0.1, 1e-6);
}

TEST_P(OpsTest, ReductionEdgeCasesAndErrors) {
  const auto e = Tensor::zeros({0, 3}, dev());
  EXPECT_EQ(sum(e, {0}).to_vector<float>(), (std::vector<float>{0, 0, 0}));
  EXPECT_EQ(sum(e, {1}).numel(), 0);
  EXPECT_TRUE(std::isnan(mean(e).item()));
  STRIDER_EXPECT_THROW_MSG(amax(e, {0}), ShapeError, "empty dim");
  const auto x = Tensor::ones({2, 3}, dev());
  STRIDER_EXPECT_THROW_MSG(sum(x, {2}), IndexError, "dimension 2");
  STRIDER_EXPECT_THROW_MSG(sum(x, {1, -1}), ShapeError, "listed twice");
  EXPECT_DOUBLE_EQ(Tensor::scalar(4, dev()).sum().item(), 4);
}

std::vector<double> ref_matmul(const std::vector<double>& a, const std::vector<double>& b, int M, int K, int N) {
  std::vector<double> c(static_cast<size_t>(M * N), 0);
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j)
      for (int k = 0; k < K; ++k) c[static_cast<size_t>(i * N + j)] += a[static_cast<size_t>(i * K + k)] * b[static_cast<size_t>(k * N + j)];
  return c;
}

TEST_P(OpsTest, MatmulAllForms) {
  for (DType t : {DType::Float32, DType::Float64}) {
    const double tol = t == DType::Float32 ? 1e-5 : 1e-12;
    const auto a = randn({5, 7}, 8, t), b = randn({7, 3}, 9, t);
    const auto ref = ref_matmul(a.to_vector<double>(), b.to_vector<double>(), 5, 7, 3);
    EXPECT_TRUE(all_close(matmul(a, b).to_vector<double>(), ref, tol, tol));
    // Transposed operands (strided, no copy) and fully non-contiguous ones (copied).
    const auto at = a.t().contiguous().t(), bt = b.t().contiguous().t();
    EXPECT_TRUE(all_close(matmul(at, bt).to_vector<double>(), ref, tol, tol));
    const auto a_strided = randn({5, 14}, 8, t).slice(1, 0, 14, 2);
    const auto ref2 = ref_matmul(a_strided.contiguous().to_vector<double>(), b.to_vector<double>(), 5, 7, 3);
    EXPECT_TRUE(all_close(matmul(a_strided, b).to_vector<double>(), ref2, tol, tol));
    // Batched with broadcast batch dims: (2, 1, 5, 7) x (4, 7, 3) -> (2, 4, 5, 3).
    const auto ba = randn({2, 1, 5, 7}, 10, t), bb = randn({4, 7, 3}, 11, t);
    const auto out = matmul(ba, bb);
    ASSERT_EQ(out.shape(), (Shape{2, 4, 5, 3}));
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 4; ++j) {
        const auto r = ref_matmul(ba.select(0, i).select(0, 0).contiguous().to_vector<double>(),
                                  bb.select(0, j).contiguous().to_vector<double>(), 5, 7, 3);
        EXPECT_TRUE(all_close(out.select(0, i).select(0, j).contiguous().to_vector<double>(), r, tol, tol));
      }
    // Vectors.
    const auto v = randn({7}, 12, t);
    EXPECT_EQ(matmul(a, v).shape(), (Shape{5}));
    EXPECT_EQ(matmul(v, b).shape(), (Shape{3}));
    EXPECT_EQ(matmul(v, v).dim(), 0);
    double dot = 0;
    const auto vv = v.to_vector<double>();
    for (double x : vv) dot += x * x;
    EXPECT_NEAR(matmul(v, v).item(), dot, tol * 10);
    // K == 0 gives zeros; M == 0 gives an empty result.
    EXPECT_EQ(matmul(Tensor::ones({2, 0}, TensorOptions(t).device(dev())), Tensor::ones({0, 3}, TensorOptions(t).device(dev())))
                  .to_vector<double>(), std::vector<double>(6, 0.0));
    EXPECT_EQ(matmul(Tensor::ones({0, 2}, TensorOptions(t).device(dev())), Tensor::ones({2, 3}, TensorOptions(t).device(dev()))).numel(), 0);
  }
  // 1x1 and single-row edge cases.
  const auto r = matmul(Tensor::full({1, 1}, 2, dev()), Tensor::full({1, 4}, 3, dev()));
  EXPECT_EQ(r.to_vector<float>(), std::vector<float>(4, 6.f));
}

TEST_P(OpsTest, MatmulErrors) {
  const auto a = Tensor::zeros({2, 3}, dev());
  STRIDER_EXPECT_THROW_MSG(matmul(a, Tensor::zeros({4, 2}, dev())), ShapeError, "3 columns", "4 rows");
  STRIDER_EXPECT_THROW_MSG(matmul(Tensor::scalar(1, dev()), a), ShapeError, "at least 1 dim");
  STRIDER_EXPECT_THROW_MSG(matmul(Tensor::zeros({2, 2, 3}, dev()), Tensor::zeros({3, 3, 3}, dev())), ShapeError,
                           "cannot be broadcast");
}

TEST_P(OpsTest, Allclose) {
  const auto a = Tensor::from_vector(std::vector<float>{1, 2}, {2}, dev());
  EXPECT_TRUE(allclose(a, a + 1e-7));
  EXPECT_FALSE(allclose(a, a + 1e-3));
  EXPECT_FALSE(allclose(a / 0.0 * 0.0, a / 0.0 * 0.0));  // NaN is never close
  STRIDER_EXPECT_THROW_MSG(allclose(a, Tensor::zeros({3}, dev())), ShapeError, "differ");
}

INSTANTIATE_TEST_SUITE_P(Devices, OpsTest, ::testing::ValuesIn(test_devices()), device_name);

}  // namespace
}  // namespace strider
