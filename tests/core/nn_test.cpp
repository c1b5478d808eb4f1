// core/nn.hpp: the differentiable NN ops. Gradcheck in float64 (CPU reference kernels), error
// messages, and the float32 paths of every device against the float64 results.
#include <gtest/gtest.h>

#include <cmath>

#include <strider/core/autograd.hpp>
#include <strider/core/nn.hpp>

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

TEST(Nn, GradcheckConv2dAllHyperParameters) {
  struct Case { const char* name; Shape x, w; Conv2dOptions opt; bool bias; };
  const std::vector<Case> cases = {
      {"plain 3x3", {2, 3, 5, 6}, {4, 3, 3, 3}, {}, true},
      {"stride 2 pad 1", {1, 2, 7, 5}, {3, 2, 3, 2}, {{2, 1}, {1, 0}, {1, 1}, {0, 0}, 1}, false},
      {"dilation 2", {1, 2, 7, 7}, {2, 2, 3, 3}, {{1, 1}, {2, 1}, {2, 2}, {0, 0}, 1}, true},
      {"groups 2", {2, 4, 4, 5}, {6, 2, 2, 3}, {{1, 2}, {1, 1}, {1, 1}, {0, 0}, 2}, true},
      {"1x1 input, kernel = padded input", {2, 3, 1, 1}, {2, 3, 3, 3}, {{1, 1}, {1, 1}, {1, 1}, {0, 0}, 1}, true},
  };
  for (const auto& c : cases) {
    const auto x = param(c.x, 1), w = param(c.w, 2), b = param({c.w[0]}, 3);
    const auto opt = c.opt;
    if (c.bias) expect_gradcheck(c.name, [opt](auto& v) { return conv2d(v[0], v[1], v[2], opt); }, {x, w, b});
    else expect_gradcheck(c.name, [opt](auto& v) { return conv2d(v[0], v[1], Tensor(), opt); }, {x, w});
  }
}

TEST(Nn, GradcheckConvTranspose2d) {
  struct Case { const char* name; Shape x, w; Conv2dOptions opt; };
  const std::vector<Case> cases = {
      {"DCGAN first layer 1x1 -> 4x4", {2, 3, 1, 1}, {3, 4, 4, 4}, {}},
      {"k4 s2 p1", {1, 3, 3, 4}, {3, 2, 4, 4}, {{2, 2}, {1, 1}, {1, 1}, {0, 0}, 1}},
      {"output_padding, dilation, groups", {1, 4, 3, 3}, {4, 1, 3, 2}, {{2, 3}, {1, 0}, {2, 1}, {1, 2}, 2}},
  };
  for (const auto& c : cases) {
    const std::int64_t k_out = c.w[1] * c.opt.groups;
    const auto x = param(c.x, 4), w = param(c.w, 5), b = param({k_out}, 6);
    const auto opt = c.opt;
    expect_gradcheck(c.name, [opt](auto& v) { return conv_transpose2d(v[0], v[1], v[2], opt); }, {x, w, b});
  }
}

TEST(Nn, ConvShapesAndErrors) {
  const auto x = Tensor::zeros({1, 3, 28, 28});
  EXPECT_EQ(conv2d(x, Tensor::zeros({8, 3, 4, 4}), Tensor(), {{2, 2}, {1, 1}}).shape(), (Shape{1, 8, 14, 14}));
  // The seed case: k4 s1 p0 on 1x1, then k4 s2 p1 -> 8x8, with no error.
  const auto z = Tensor::zeros({1, 100, 1, 1});
  const auto h = conv_transpose2d(z, Tensor::zeros({100, 256, 4, 4}));
  EXPECT_EQ(h.shape(), (Shape{1, 256, 4, 4}));
  EXPECT_EQ(conv_transpose2d(h, Tensor::zeros({256, 128, 4, 4}), Tensor(), {{2, 2}, {1, 1}}).shape(), (Shape{1, 128, 8, 8}));
  STRIDER_EXPECT_THROW_MSG(conv2d(Tensor::zeros({1, 512, 1, 1}), Tensor::zeros({1, 512, 4, 4})), ShapeError,
                           "padded input 1x1", "4x4");
  STRIDER_EXPECT_THROW_MSG(conv2d(Tensor::zeros({3, 28, 28}), Tensor::zeros({8, 3, 4, 4})), ShapeError, "4-D input",
                           "unsqueeze(0)");
  STRIDER_EXPECT_THROW_MSG(conv2d(x, Tensor::zeros({8, 3, 4})), ShapeError, "4-D weight");
  STRIDER_EXPECT_THROW_MSG(conv2d(x, Tensor::zeros({8, 3, 3, 3}), Tensor::zeros({7})), ShapeError, "bias", "[8]");
  STRIDER_EXPECT_THROW_MSG(conv2d(x, Tensor::zeros({8, 3, 3, 3}, DType::Float64)), DTypeError, "weight", "float64");
  STRIDER_EXPECT_THROW_MSG(parse_conv_backend("fast"), ValueError, "'fast'", "cudnn");
  if (!STRIDER_HAS_CUDNN) STRIDER_EXPECT_THROW_MSG(set_conv_backend(ConvBackend::Cudnn), DeviceError, "no cuDNN");
}

TEST(Nn, GradcheckBatchNorm) {
  const auto x = param({3, 2, 2, 3}, 7), w = param({2}, 8, 0.5, 1.5), b = param({2}, 9);
  for (bool training : {true, false}) {
    const auto rm = Tensor::from_vector(std::vector<double>{0.1, -0.2}, {2}, DType::Float64);
    const auto rv = Tensor::from_vector(std::vector<double>{0.8, 1.3}, {2}, DType::Float64);
    expect_gradcheck(training ? "batch_norm train" : "batch_norm eval",
                     [&, training](auto& v) { return batch_norm(v[0], v[1], v[2], rm.clone(), rv.clone(), training); },
                     {x, w, b});
  }
  expect_gradcheck("batch_norm no affine", [](auto& v) { return batch_norm(v[0], {}, {}, {}, {}, true); }, {x});
  expect_gradcheck("batch_norm 2-D", [](auto& v) { return batch_norm(v[0], {}, {}, {}, {}, true); }, {param({5, 3}, 10)});
}

TEST(Nn, BatchNormRunningStatsAndErrors) {
  Generator g(11);
  const auto x = Tensor::randn({4, 3, 5, 5}, g, DType::Float64) * 2.0 + 1.0;
  auto rm = Tensor::zeros({3}, DType::Float64), rv = Tensor::ones({3}, DType::Float64);
  const auto y = batch_norm(x, {}, {}, rm, rv, true, 0.1);
  const auto mean = x.mean({0, 2, 3});
  const auto var_unbiased = square(x - mean.reshape({1, 3, 1, 1})).sum({0, 2, 3}) / 99.0;
  EXPECT_TRUE(allclose(rm, mean * 0.1, 1e-12, 1e-12));
  EXPECT_TRUE(allclose(rv, var_unbiased * 0.1 + 0.9, 1e-12, 1e-12));
  EXPECT_TRUE(allclose(y.mean({0, 2, 3}), Tensor::zeros({3}, DType::Float64), 0, 1e-12));
  STRIDER_EXPECT_THROW_MSG(batch_norm(Tensor::zeros({1, 3, 1, 1}), {}, {}, {}, {}, true), ShapeError, "more than 1 value");
  STRIDER_EXPECT_THROW_MSG(batch_norm(Tensor::zeros({2, 3, 2, 2}), Tensor::ones({4}), Tensor::zeros({4}), {}, {}, true),
                           ShapeError, "weight", "[3]");
  STRIDER_EXPECT_THROW_MSG(batch_norm(Tensor::zeros({2, 3, 2, 2}), {}, {}, {}, {}, false), ValueError, "running");
  STRIDER_EXPECT_THROW_MSG(batch_norm(Tensor::zeros({2, 3, 2}), {}, {}, {}, {}, true), ShapeError, "(N, C, H, W)");
}

TEST(Nn, GradcheckLosses) {
  const auto p = param({3, 4}, 12, 0.05, 0.95), t = param({3, 4}, 13, 0, 1), logits = param({3, 4}, 14, -4, 4);
  for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
    expect_gradcheck("bce", [r](auto& v) { return binary_cross_entropy(v[0], v[1], r); }, {p, t});
    expect_gradcheck("bce logits", [r](auto& v) { return binary_cross_entropy_with_logits(v[0], v[1], r); }, {logits, t});
    expect_gradcheck("mse", [r](auto& v) { return mse_loss(v[0], v[1], r); }, {logits, t});
  }
}

TEST(Nn, LossValuesAndErrors) {
  const auto x = Tensor::from_vector(std::vector<double>{-100, 0, 3}, {3}, DType::Float64);
  const auto t = Tensor::from_vector(std::vector<double>{1, 0.5, 0}, {3}, DType::Float64);
  const double expected = (100 + std::log(2.0) + (3 + std::log1p(std::exp(-3.0)))) / 3;
  EXPECT_NEAR(binary_cross_entropy_with_logits(x, t).item(), expected, 1e-12);
  EXPECT_NEAR(mse_loss(x, t, Reduction::Sum).item(), 101 * 101 + 0.25 + 9, 1e-9);
  // BCE's log clamps at -100: a certain wrong answer costs 100, not inf.
  EXPECT_NEAR(binary_cross_entropy(Tensor::zeros({1}, DType::Float64), Tensor::ones({1}, DType::Float64)).item(), 100, 1e-12);
  STRIDER_EXPECT_THROW_MSG(binary_cross_entropy(x, t), ValueError, "probabilities in [0, 1]", "[-100, 3]",
                           "binary_cross_entropy_with_logits");
  STRIDER_EXPECT_THROW_MSG(binary_cross_entropy_with_logits(x, t * 3.0), ValueError, "target values", "[0, 3]");
  STRIDER_EXPECT_THROW_MSG(mse_loss(x, Tensor::zeros({4}, DType::Float64)), ShapeError, "[3]", "[4]", "same shape");
}

TEST(Nn, AdamAndSgdSteps) {
  auto p = Tensor::from_vector(std::vector<double>{1.0, -2.0}, {2}, DType::Float64);
  const auto g = Tensor::from_vector(std::vector<double>{0.5, -0.25}, {2}, DType::Float64);
  auto m = Tensor::zeros({2}, DType::Float64), v = Tensor::zeros({2}, DType::Float64);
  adam_step(p, g, m, v, AdamStep{0.1, 0.9, 0.999, 1e-8, 0, 1});
  // First Adam step moves each parameter by lr * sign(g) (up to eps).
  EXPECT_NEAR(p.at({0}), 0.9, 1e-7);
  EXPECT_NEAR(p.at({1}), -1.9, 1e-7);
  auto q = Tensor::from_vector(std::vector<double>{1.0}, {1}, DType::Float64);
  auto buf = Tensor::zeros({1}, DType::Float64);
  sgd_step(q, Tensor::full({1}, 2.0, DType::Float64), buf, SgdStep{0.1, 0.9, 0, 0, false, true});
  sgd_step(q, Tensor::full({1}, 2.0, DType::Float64), buf, SgdStep{0.1, 0.9, 0, 0, false, false});
  EXPECT_NEAR(q.at({0}), 1.0 - 0.2 - 0.1 * (0.9 * 2 + 2), 1e-12);
  STRIDER_EXPECT_THROW_MSG(adam_step(p, g, m, v, AdamStep{-1, 0.9, 0.999, 1e-8, 0, 2}), ValueError, "-1");
  STRIDER_EXPECT_THROW_MSG(adam_step(p, Tensor::zeros({3}, DType::Float64), m, v, AdamStep{}), ShapeError, "gradient");
  STRIDER_EXPECT_THROW_MSG(adam_step(p, g, m, v, AdamStep{0.1, 0.9, 0.999, 1e-8, 0, 0}), ValueError, "step 0");
}

// The float32 path of every device agrees with float64 on a small conv -> bn -> lrelu -> loss step.
class NnDevices : public ::testing::TestWithParam<Device> {};

TEST_P(NnDevices, TrainingStepMatchesFloat64) {
  const Device dev = GetParam();
  Generator g(15);
  const auto x0 = Tensor::randn({2, 3, 9, 9}, g, DType::Float64), w0 = Tensor::randn({4, 3, 4, 4}, g, DType::Float64) * 0.2;
  const auto wt0 = Tensor::randn({4, 2, 3, 3}, g, DType::Float64) * 0.2;
  const auto t0 = Tensor::rand({2, 2, 9, 9}, g, DType::Float64);
  auto run = [&](Device d, DType t) {
    // detach(): each run gets fresh leaves (the float64 run's `to` returns the same tensors).
    auto x = x0.to(d, t), w = w0.to(d, t).detach().requires_grad_(), wt = wt0.to(d, t).detach().requires_grad_();
    auto gamma = Tensor::ones({4}, TensorOptions(t).device(d)).requires_grad_();
    auto beta = Tensor::zeros({4}, TensorOptions(t).device(d)).requires_grad_();
    auto h = conv2d(x, w, Tensor(), {{2, 2}, {1, 1}});                    // (2, 4, 4, 4)
    h = leaky_relu(batch_norm(h, gamma, beta, {}, {}, true), 0.2);
    auto y = sigmoid(conv_transpose2d(h, wt, Tensor(), {{2, 2}, {0, 0}})); // (2, 2, 9, 9)
    auto loss = binary_cross_entropy(y, t0.to(d, t));
    loss.backward();
    return std::vector<std::vector<double>>{{loss.item()}, w.grad().to_vector<double>(), wt.grad().to_vector<double>(),
                                            gamma.grad().to_vector<double>()};
  };
  const auto ref = run(Device::cpu(), DType::Float64), got = run(dev, DType::Float32);
  for (size_t i = 0; i < ref.size(); ++i) EXPECT_TRUE(testing::all_close(got[i], ref[i], 1e-3, 1e-4)) << "output " << i;
}

INSTANTIATE_TEST_SUITE_P(Devices, NnDevices, ::testing::ValuesIn(testing::test_devices()), testing::device_name);

// ---- log_softmax / cross_entropy (composites of differentiable ops) -----------------------------

TEST(Nn, CrossEntropyMatchesFloat64FormulaOnEveryDevice) {
  Generator g(7);
  const Tensor logits64 = Tensor::randn({5, 7}, g, DType::Float64, 0, 3);
  const std::vector<std::int32_t> labels = {0, 6, 3, 3, 1};
  const auto v = logits64.to_vector<double>();
  std::vector<double> expect_rows;
  for (int i = 0; i < 5; ++i) {
    double m = -1e300, z = 0;
    for (int c = 0; c < 7; ++c) m = std::max(m, v[i * 7 + c]);
    for (int c = 0; c < 7; ++c) z += std::exp(v[i * 7 + c] - m);
    expect_rows.push_back(-(v[i * 7 + labels[i]] - m - std::log(z)));
  }
  double expect_mean = 0;
  for (double r : expect_rows) expect_mean += r / 5;
  for (const Device d : testing::test_devices()) {
    const Tensor x = logits64.to(d, DType::Float32);
    EXPECT_NEAR(cross_entropy(x, labels).item(), expect_mean, 1e-5) << d;
    EXPECT_NEAR(cross_entropy(x, labels, Reduction::Sum).item(), 5 * expect_mean, 5e-5) << d;
    const auto rows = cross_entropy(x, labels, Reduction::None).to(Device::cpu()).to_vector<float>();
    ASSERT_EQ(rows.size(), 5u);
    for (int i = 0; i < 5; ++i) EXPECT_NEAR(rows[i], expect_rows[i], 1e-5) << d << " row " << i;
    // Rows of log_softmax exponentiate to distributions, also for huge logits (stability).
    const auto ls = exp(log_softmax(x * 1000.0)).to(Device::cpu()).to_vector<float>();
    for (int i = 0; i < 5; ++i) {
      double s = 0;
      for (int c = 0; c < 7; ++c) s += ls[i * 7 + c];
      EXPECT_NEAR(s, 1.0, 1e-5) << d << " row " << i;
    }
  }
}

TEST(Nn, GradcheckLogSoftmaxAndCrossEntropy) {
  expect_gradcheck("log_softmax dim 1", [](const std::vector<Tensor>& in) { return log_softmax(in[0], 1); },
                   {param({3, 4}, 11, -2, 2)});
  expect_gradcheck("log_softmax dim 0", [](const std::vector<Tensor>& in) { return log_softmax(in[0], 0); },
                   {param({3, 4, 2}, 12, -2, 2)});
  for (const Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None})
    expect_gradcheck("cross_entropy", [r](const std::vector<Tensor>& in) { return cross_entropy(in[0], {2, 0, 1}, r); },
                     {param({3, 4}, 13, -2, 2)});
}

TEST(Nn, CrossEntropyErrorsNameTheProblem) {
  const Tensor x = Tensor::zeros({2, 3});
  STRIDER_EXPECT_THROW_MSG(cross_entropy(x, {0, 3}), IndexError, "label 3 of row 1", "[0, 3)");
  STRIDER_EXPECT_THROW_MSG(cross_entropy(x, {0, -1}), IndexError, "label -1");
  STRIDER_EXPECT_THROW_MSG(cross_entropy(x, {0}), ShapeError, "[2, 3]", "1 labels");
  STRIDER_EXPECT_THROW_MSG(cross_entropy(Tensor::zeros({2, 3, 1}), {0, 1}), ShapeError, "(N, C)");
  STRIDER_EXPECT_THROW_MSG(log_softmax(x, 2), IndexError, "dim 2", "-2 .. 1");
}

}  // namespace
}  // namespace strider
