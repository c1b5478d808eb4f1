// Autograd: engine semantics, and gradcheck (float64 finite differences) of every differentiable
// core op; gradients on the CUDA device match the CPU's.
#include <gtest/gtest.h>

#include <cmath>

#include <strider/core/autograd.hpp>

#include "common/test_util.hpp"

namespace strider {
namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

Tensor param(const Shape& s, std::uint64_t seed, double lo = -1, double hi = 1) {
  Generator g(seed);
  return Tensor::rand(s, g, DType::Float64, lo, hi).requires_grad_();
}

void expect_gradcheck(const std::string& what, const Fn& f, const std::vector<Tensor>& inputs) {
  const auto r = gradcheck(f, inputs);
  EXPECT_TRUE(r.ok) << what << ": max error " << r.max_abs_error << "\n" << r.report;
}

TEST(Autograd, GradcheckEveryUnaryOp) {
  const auto x = param({3, 4}, 1);                // (-1, 1)
  const auto pos = param({3, 4}, 2, 0.5, 2.0);    // positive, away from 0
  const auto away = param({3, 4}, 3, 0.2, 1.0);   // |x| away from the kinks at 0
  const std::vector<std::pair<std::string, Fn>> cases = {
      {"neg", [](auto& v) { return neg(v[0]); }},
      {"exp", [](auto& v) { return exp(v[0]); }},
      {"tanh", [](auto& v) { return tanh(v[0]); }},
      {"sigmoid", [](auto& v) { return sigmoid(v[0]); }},
      {"sin", [](auto& v) { return sin(v[0]); }},
      {"cos", [](auto& v) { return cos(v[0]); }},
      {"square", [](auto& v) { return square(v[0]); }},
      {"x*3+1", [](auto& v) { return v[0] * 3.0 + 1.0; }},
      {"2-x", [](auto& v) { return 2.0 - v[0]; }},
      {"x/4-1", [](auto& v) { return v[0] / 4.0 - 1.0; }},
  };
  for (const auto& [name, f] : cases) expect_gradcheck(name, f, {x});
  const std::vector<std::pair<std::string, Fn>> pos_cases = {
      {"log", [](auto& v) { return log(v[0]); }},
      {"sqrt", [](auto& v) { return sqrt(v[0]); }},
      {"rsqrt", [](auto& v) { return rsqrt(v[0]); }},
      {"reciprocal", [](auto& v) { return reciprocal(v[0]); }},
      {"pow 2.5", [](auto& v) { return pow(v[0], 2.5); }},
      {"3/x", [](auto& v) { return 3.0 / v[0]; }},
      {"clamp", [](auto& v) { return clamp(v[0], 0.8, 1.6); }},
  };
  for (const auto& [name, f] : pos_cases) expect_gradcheck(name, f, {pos});
  // Kinked ops, evaluated away from their kinks (both signs).
  const auto signed_away = param({3, 4}, 4, 0.2, 1.0) * Tensor::from_vector(std::vector<double>{1, -1, 1, -1}, {4}, DType::Float64);
  const Tensor leaf = signed_away.detach().requires_grad_();
  expect_gradcheck("abs", [](auto& v) { return abs(v[0]); }, {leaf});
  expect_gradcheck("relu", [](auto& v) { return relu(v[0]); }, {leaf});
  expect_gradcheck("leaky_relu", [](auto& v) { return leaky_relu(v[0], 0.2); }, {leaf});
  expect_gradcheck("sign", [](auto& v) { return sign(v[0]) * v[0]; }, {away});
}

TEST(Autograd, GradcheckBinaryOpsWithBroadcasting) {
  const auto a = param({3, 1, 4}, 5, 0.5, 1.5), b = param({2, 4}, 6, 0.5, 1.5);
  expect_gradcheck("add", [](auto& v) { return add(v[0], v[1]); }, {a, b});
  expect_gradcheck("sub", [](auto& v) { return sub(v[0], v[1]); }, {a, b});
  expect_gradcheck("mul", [](auto& v) { return mul(v[0], v[1]); }, {a, b});
  expect_gradcheck("div", [](auto& v) { return div(v[0], v[1]); }, {a, b});
  expect_gradcheck("pow", [](auto& v) { return pow(v[0], v[1]); }, {a, b});
  // maximum/minimum away from ties: b shifted so no element is equal.
  const auto c = param({3, 1, 4}, 7), d = param({2, 4}, 8);
  expect_gradcheck("maximum", [](auto& v) { return maximum(v[0], v[1]); }, {c, d});
  expect_gradcheck("minimum", [](auto& v) { return minimum(v[0], v[1]); }, {c, d});
  // Only one input requires grad.
  const auto e = param({2, 4}, 9).detach();
  expect_gradcheck("mul, one leaf", [](auto& v) { return mul(v[0], v[1]); }, {a, e});
}

TEST(Autograd, GradcheckReductionsAndMatmul) {
  const auto x = param({2, 3, 4}, 10);
  for (bool keep : {false, true}) {
    expect_gradcheck("sum", [keep](auto& v) { return sum(v[0], {1}, keep); }, {x});
    expect_gradcheck("sum all", [keep](auto& v) { return sum(v[0], {}, keep); }, {x});
    expect_gradcheck("mean", [keep](auto& v) { return mean(v[0], {0, 2}, keep); }, {x});
    expect_gradcheck("amax", [keep](auto& v) { return amax(v[0], {2}, keep); }, {x});
    expect_gradcheck("amin", [keep](auto& v) { return amin(v[0], {0, 1}, keep); }, {x});
  }
  const auto a = param({4, 5}, 11), b = param({5, 3}, 12), v = param({5}, 13);
  const auto ba = param({2, 1, 4, 5}, 14), bb = param({3, 5, 2}, 15);
  expect_gradcheck("matmul 2d", [](auto& t) { return matmul(t[0], t[1]); }, {a, b});
  expect_gradcheck("matmul mv", [](auto& t) { return matmul(t[0], t[1]); }, {a, v});
  expect_gradcheck("matmul vm", [](auto& t) { return matmul(t[0], t[1]); }, {v, b});
  expect_gradcheck("matmul dot", [](auto& t) { return matmul(t[0], t[1]); }, {v, v.detach().clone().requires_grad_()});
  expect_gradcheck("matmul batched", [](auto& t) { return matmul(t[0], t[1]); }, {ba, bb});
  expect_gradcheck("matmul transposed", [](auto& t) { return matmul(t[0].t(), t[1].t()); }, {b, a});
}

TEST(Autograd, GradcheckViewsAndCopies) {
  const auto x = param({2, 3, 4}, 16);
  const std::vector<std::pair<std::string, Fn>> cases = {
      {"view", [](auto& v) { return v[0].view({6, 4}) * 2.0; }},
      {"reshape", [](auto& v) { return v[0].transpose(0, 2).reshape({-1}); }},
      {"permute", [](auto& v) { return v[0].permute({2, 0, 1}) * v[0].permute({2, 0, 1}); }},
      {"narrow", [](auto& v) { return v[0].narrow(2, 1, 2); }},
      {"slice", [](auto& v) { return v[0].slice(1, 0, 3, 2); }},
      {"select", [](auto& v) { return v[0].select(0, 1); }},
      {"squeeze/unsqueeze", [](auto& v) { return v[0].unsqueeze(1).squeeze(1).unsqueeze(0).squeeze(); }},
      {"flatten", [](auto& v) { return v[0].flatten(1); }},
      {"expand", [](auto& v) { return v[0].narrow(0, 0, 1).expand({5, 3, 4}); }},
      {"clone/contiguous", [](auto& v) { return v[0].t().contiguous().clone() * 1.0; }},
      {"to float32 and back", [](auto& v) { return v[0].to(DType::Float32).to(DType::Float64); }},
  };
  for (const auto& [name, f] : cases) {
    if (name == "to float32 and back") {
      // float32 round trip: compare at float32 accuracy.
      const auto r = gradcheck(f, {x}, 1e-3, 1e-3, 1e-3);
      EXPECT_TRUE(r.ok) << name << "\n" << r.report;
    } else if (name == "clone/contiguous") {
      expect_gradcheck(name, [](auto& v) { return v[0].transpose(0, 1).contiguous().clone(); }, {x});
    } else {
      expect_gradcheck(name, f, {x});
    }
  }
}

TEST(Autograd, AccumulatesAcrossUsesAndCalls) {
  auto x = Tensor::from_vector(std::vector<float>{1, 2, 3}, {3}).requires_grad_();
  auto y = (x * x + x).sum();  // dy/dx = 2x + 1
  y.backward();
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{3, 5, 7}));
  (x * 2.0).sum().backward();  // accumulates
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{5, 7, 9}));
  x.zero_grad(false);
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{0, 0, 0}));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
  EXPECT_TRUE(x.is_leaf());
  EXPECT_FALSE(y.is_leaf());
  EXPECT_EQ(y.grad_fn()->name(), "SumBackward");
}

TEST(Autograd, BackwardWithAGradientAndRetainGrad) {
  auto x = Tensor::from_vector(std::vector<float>{1, 2}, {2}).requires_grad_();
  auto h = x * 3.0;
  h.retain_grad();
  auto y = h * h;  // dy/dx = 18 x, weighted by g
  y.backward(Tensor::from_vector(std::vector<float>{1, 10}, {2}));
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{18, 360}));
  EXPECT_EQ(h.grad().to_vector<float>(), (std::vector<float>{6, 120}));
}

TEST(Autograd, SecondBackwardNeedsRetainGraph) {
  auto x = Tensor::from_vector(std::vector<float>{1, 2}, {2}).requires_grad_();
  auto y = x.exp().sum();
  y.backward({}, /*retain_graph=*/true);
  y.backward();
  EXPECT_NEAR(x.grad().at({1}), 2 * std::exp(2.0), 1e-4);
  STRIDER_EXPECT_THROW_MSG(y.backward(), AutogradError, "second time", "retain_graph=true");
}

TEST(Autograd, Errors) {
  auto x = Tensor::ones({2, 2}).requires_grad_();
  STRIDER_EXPECT_THROW_MSG((x * 2.0).backward(), AutogradError, "one-element output", "[2, 2]");
  STRIDER_EXPECT_THROW_MSG(Tensor::ones({1}).backward(), AutogradError, "does not require grad");
  STRIDER_EXPECT_THROW_MSG((x * 2.0).backward(Tensor::ones({3})), ShapeError, "[3]", "[2, 2]");
  STRIDER_EXPECT_THROW_MSG(add_(x, Tensor::ones({2, 2})), AutogradError, "add_", "NoGradGuard");
  STRIDER_EXPECT_THROW_MSG(x.fill_(1), AutogradError, "fill_");
  STRIDER_EXPECT_THROW_MSG((x * 2.0).requires_grad_(false), AutogradError, "non-leaf", "detach()");
  STRIDER_EXPECT_THROW_MSG(x.as_strided({2}, {1}, 0), AutogradError, "as_strided");
  STRIDER_EXPECT_THROW_MSG(Tensor::ones({2}).retain_grad(), AutogradError, "does not require grad");
  STRIDER_EXPECT_THROW_MSG(gradcheck([](auto& v) { return v[0]; }, {Tensor::ones({2})}), DTypeError, "float64");
  {
    NoGradGuard ng;
    add_(x, Tensor::ones({2, 2}));  // allowed: parameter updates
    x.fill_(3);
  }
  EXPECT_DOUBLE_EQ(x.at({0, 0}), 3);
}

TEST(Autograd, NoGradAndDetach) {
  auto x = Tensor::ones({2}).requires_grad_();
  {
    NoGradGuard ng;
    EXPECT_FALSE(grad_enabled());
    EXPECT_FALSE((x * 2.0).requires_grad());
  }
  EXPECT_TRUE(grad_enabled());
  const auto d = x.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_EQ(d.storage().get(), x.storage().get());
  auto y = (x * d).sum();  // d is a constant
  y.backward();
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{1, 1}));
}

TEST(Autograd, GradientsMatchBetweenCpuAndCuda) {
  if (!cuda_is_available()) GTEST_SKIP() << "no CUDA device: " << cuda_unavailable_reason();
  Generator g(21);
  const auto a0 = Tensor::randn({5, 7}, g), b0 = Tensor::randn({7, 3}, g), c0 = Tensor::randn({3}, g);
  auto run = [&](Device dev) {
    // detach(): fresh leaves per run (on the CPU `to` returns the same tensors).
    auto a = a0.to(dev).detach().requires_grad_(), b = b0.to(dev).detach().requires_grad_(),
         c = c0.to(dev).detach().requires_grad_();
    auto y = (sigmoid(matmul(a, b) + c) * tanh(a.sum({1}, true))).mean();
    y.backward();
    return std::vector<std::vector<double>>{a.grad().to_vector<double>(), b.grad().to_vector<double>(),
                                            c.grad().to_vector<double>(), {y.item()}};
  };
  const auto cpu = run(Device::cpu()), gpu = run(Device::cuda());
  for (size_t i = 0; i < cpu.size(); ++i) EXPECT_TRUE(testing::all_close(gpu[i], cpu[i], 1e-4, 1e-6)) << "output " << i;
}

}  // namespace
}  // namespace strider
