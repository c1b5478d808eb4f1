// Each layer's forward against a reference computed independently (float64 loops, the float64
// reference conv kernels, core ops), gradcheck through each layer, and the initialisers.
#include <gtest/gtest.h>

#include <cmath>
#include <strider/kernels/conv2d.hpp>

#include "layers/layers_test_util.hpp"

namespace strider {
namespace {

using testing::all_close;

Tensor rand64(const Shape& s, std::uint64_t seed, double lo = -1, double hi = 1) {
  Generator g(seed);
  return Tensor::rand(s, g, DType::Float64, lo, hi);
}

// ---- convolutions against the float64 reference kernels ------------------------------------------------

template <class Layer, class Options>
void expect_conv_matches_reference(const Options& o, const Shape& in, bool transposed) {
  Generator gen(1);
  Layer layer(o, gen);
  layer.to(DType::Float64);
  const Tensor x = rand64(in, 2);
  const Tensor y = layer.forward(x);
  kernels::Conv2dProblem p;
  p.N = static_cast<int>(in[0]);
  p.C = static_cast<int>(in[1]);
  p.H = static_cast<int>(in[2]);
  p.W = static_cast<int>(in[3]);
  p.K = static_cast<int>(o.out_channels());
  p.R = o.kernel_size()[0];
  p.S = o.kernel_size()[1];
  p.stride_h = o.stride()[0];
  p.stride_w = o.stride()[1];
  p.pad_h = o.padding()[0];
  p.pad_w = o.padding()[1];
  p.dil_h = o.dilation()[0];
  p.dil_w = o.dilation()[1];
  p.groups = o.groups();
  p.out_pad_h = o.output_padding()[0];
  p.out_pad_w = o.output_padding()[1];
  p.transposed = transposed;
  p.has_bias = o.bias();
  ASSERT_EQ(y.shape(), (Shape{p.N, p.K, p.P(), p.Q()}));
  const auto xv = x.to_vector<double>();
  const auto wv = layer.weight.template to_vector<double>();
  const auto bv = o.bias() ? layer.bias.template to_vector<double>() : std::vector<double>();
  std::vector<double> ref(static_cast<size_t>(p.output_size()));
  if (transposed) {
    kernels::ref::conv_transpose2d_forward(p, xv.data(), wv.data(), bv.empty() ? nullptr : bv.data(), ref.data());
  } else {
    kernels::ref::conv2d_forward(p, xv.data(), wv.data(), bv.empty() ? nullptr : bv.data(), ref.data());
  }
  EXPECT_TRUE(all_close(y.to_vector<double>(), ref, 1e-12, 1e-12)) << layer.str();
}

TEST(Layers, Conv2dForwardMatchesTheReference) {
  expect_conv_matches_reference<nn::Conv2d>(nn::Conv2dOptions(3, 4, 4).stride(2).padding(1), {2, 3, 8, 8}, false);
  expect_conv_matches_reference<nn::Conv2d>(
      nn::Conv2dOptions(4, 6, {3, 2}).stride({1, 2}).padding({2, 0}).dilation({2, 1}).groups(2).bias(false),
      {1, 4, 7, 6}, false);
}

TEST(Layers, ConvTranspose2dForwardMatchesTheReference) {
  expect_conv_matches_reference<nn::ConvTranspose2d>(nn::ConvTranspose2dOptions(4, 3, 4).stride(2).padding(1),
                                                     {2, 4, 3, 3}, true);
  expect_conv_matches_reference<nn::ConvTranspose2d>(
      nn::ConvTranspose2dOptions(4, 2, 3).stride(2).padding(1).output_padding(1).groups(2).bias(false), {1, 4, 3, 2},
      true);
}

// ---- Linear, BatchNorm2d, activations, Flatten ------------------------------------------------------------

TEST(Layers, LinearIsXWtPlusB) {
  Generator gen(3);
  nn::Linear fc(5, 3, gen);
  fc.to(DType::Float64);
  const Tensor x = rand64({4, 5}, 4);
  const auto y = fc.forward(x).to_vector<double>();
  const auto xv = x.to_vector<double>(), w = fc.weight.to_vector<double>(), b = fc.bias.to_vector<double>();
  std::vector<double> ref(12);
  for (int n = 0; n < 4; ++n)
    for (int o = 0; o < 3; ++o) {
      double s = b[static_cast<size_t>(o)];
      for (int i = 0; i < 5; ++i) s += xv[static_cast<size_t>(n * 5 + i)] * w[static_cast<size_t>(o * 5 + i)];
      ref[static_cast<size_t>(n * 3 + o)] = s;
    }
  EXPECT_TRUE(all_close(y, ref, 1e-12, 1e-12));
  // Any leading dims; no bias.
  nn::Linear nb(nn::LinearOptions(5, 3).bias(false), gen);
  EXPECT_EQ(nb.forward(Tensor::zeros({2, 7, 5})).shape(), (Shape{2, 7, 3}));
  EXPECT_EQ(nb.forward(Tensor::ones({5})).shape(), (Shape{3}));
}

// Per-channel mean and biased variance of an (N, C, H, W) float64 tensor.
void channel_stats(const Tensor& x, std::vector<double>& mean, std::vector<double>& var) {
  const auto v = x.to_vector<double>();
  const auto N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  mean.assign(static_cast<size_t>(C), 0);
  var.assign(static_cast<size_t>(C), 0);
  for (std::int64_t c = 0; c < C; ++c) {
    double s = 0, ss = 0;
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t i = 0; i < HW; ++i) s += v[static_cast<size_t>((n * C + c) * HW + i)];
    const double m = s / static_cast<double>(N * HW);
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t i = 0; i < HW; ++i) ss += std::pow(v[static_cast<size_t>((n * C + c) * HW + i)] - m, 2);
    mean[static_cast<size_t>(c)] = m;
    var[static_cast<size_t>(c)] = ss / static_cast<double>(N * HW);
  }
}

std::vector<double> normalise(const Tensor& x, const std::vector<double>& mean, const std::vector<double>& var,
                              const std::vector<double>& w, const std::vector<double>& b, double eps) {
  auto v = x.to_vector<double>();
  const auto C = x.size(1), HW = x.size(2) * x.size(3);
  for (size_t i = 0; i < v.size(); ++i) {
    const auto c = static_cast<size_t>((static_cast<std::int64_t>(i) / HW) % C);
    v[i] = (v[i] - mean[c]) / std::sqrt(var[c] + eps) * w[c] + b[c];
  }
  return v;
}

TEST(Layers, BatchNorm2dTrainAndEvalMatchTheFormulas) {
  nn::BatchNorm2d bn(nn::BatchNorm2dOptions(3).eps(1e-3).momentum(0.2));
  bn.to(DType::Float64);
  {
    NoGradGuard g;
    bn.weight.copy_(Tensor::from_vector(std::vector<double>{0.5, 1.5, -1}, {3}, DType::Float64));
    bn.bias.copy_(Tensor::from_vector(std::vector<double>{0.1, -0.2, 0.3}, {3}, DType::Float64));
  }
  const Tensor x = rand64({4, 3, 2, 3}, 5, -2, 3);
  std::vector<double> mean, var;
  channel_stats(x, mean, var);
  const std::vector<double> w{0.5, 1.5, -1}, b{0.1, -0.2, 0.3};
  EXPECT_TRUE(all_close(bn.forward(x).to_vector<double>(), normalise(x, mean, var, w, b, 1e-3), 1e-10, 1e-10));
  // Running statistics: (1 - momentum) old + momentum batch, the variance unbiased (M / (M - 1)).
  std::vector<double> rm(3), rv(3);
  for (size_t c = 0; c < 3; ++c) {
    rm[c] = 0.8 * 0 + 0.2 * mean[c];
    rv[c] = 0.8 * 1 + 0.2 * var[c] * 24.0 / 23.0;
  }
  EXPECT_TRUE(all_close(bn.running_mean.to_vector<double>(), rm, 1e-12, 1e-12));
  EXPECT_TRUE(all_close(bn.running_var.to_vector<double>(), rv, 1e-12, 1e-12));
  EXPECT_EQ(bn.num_batches_tracked.item(), 1.0);
  // Eval: the running statistics, no update.
  bn.eval();
  const Tensor x2 = rand64({2, 3, 2, 2}, 6);
  EXPECT_TRUE(all_close(bn.forward(x2).to_vector<double>(), normalise(x2, rm, rv, w, b, 1e-3), 1e-10, 1e-10));
  EXPECT_EQ(bn.num_batches_tracked.item(), 1.0);
  EXPECT_TRUE(all_close(bn.running_mean.to_vector<double>(), rm, 0, 0));
}

TEST(Layers, BatchNorm2dCumulativeAverageAndNoRunningStats) {
  nn::BatchNorm2d cum(nn::BatchNorm2dOptions(2).momentum(std::nullopt));
  cum.to(DType::Float64);
  const Tensor a = rand64({3, 2, 2, 2}, 7), b = rand64({3, 2, 2, 2}, 8, 0, 4);
  (void)cum.forward(a);
  (void)cum.forward(b);
  std::vector<double> ma, va, mb, vb;
  channel_stats(a, ma, va);
  channel_stats(b, mb, vb);
  // momentum 1/1 then 1/2: the plain average of the two batch means.
  EXPECT_TRUE(
      all_close(cum.running_mean.to_vector<double>(), {(ma[0] + mb[0]) / 2, (ma[1] + mb[1]) / 2}, 1e-12, 1e-12));
  EXPECT_EQ(cum.num_batches_tracked.item(), 2.0);
  // track_running_stats = false: batch statistics even in eval mode; affine = false: no scale/shift.
  nn::BatchNorm2d plain(nn::BatchNorm2dOptions(2).track_running_stats(false).affine(false));
  plain.to(DType::Float64);
  plain.eval();
  EXPECT_TRUE(
      all_close(plain.forward(a).to_vector<double>(), normalise(a, ma, va, {1, 1}, {0, 0}, 1e-5), 1e-10, 1e-10));
}

TEST(Layers, ActivationsAndFlatten) {
  const Tensor x = rand64({2, 3, 2, 2}, 9, -3, 3);
  const auto v = x.to_vector<double>();
  auto expect = [&](nn::Module& m, double (*f)(double, double), double a) {
    std::vector<double> ref;
    for (double e : v) ref.push_back(f(e, a));
    EXPECT_TRUE(all_close(m.forward(x).to_vector<double>(), ref, 1e-12, 1e-15)) << m.str();
  };
  nn::ReLU relu;
  nn::LeakyReLU lrelu(0.2);
  nn::Tanh th;
  nn::Sigmoid sg;
  expect(
      relu, [](double e, double) { return e > 0 ? e : 0.0; }, 0);
  expect(
      lrelu, [](double e, double a) { return e > 0 ? e : a * e; }, 0.2);
  expect(
      th, [](double e, double) { return std::tanh(e); }, 0);
  expect(
      sg, [](double e, double) { return 1 / (1 + std::exp(-e)); }, 0);
  EXPECT_EQ(nn::Flatten().forward(x).shape(), (Shape{2, 12}));
  EXPECT_EQ(nn::Flatten(0).forward(x).shape(), (Shape{24}));
  EXPECT_EQ(nn::Flatten(1, 2).forward(x).shape(), (Shape{2, 6, 2}));
  EXPECT_TRUE(all_close(nn::Flatten().forward(x).to_vector<double>(), v, 0, 0));
  STRIDER_EXPECT_THROW_MSG((void)nn::Flatten(3, 1).forward(x), ShapeError,
                           "Flatten(start_dim=3, end_dim=1) got input [2, 3, 2, 2]: start_dim 3 and end_dim 1");
}

// ---- gradcheck through each layer -------------------------------------------------------------------------------

// Checks d(layer(x))/dx and /d(every parameter) in float64: the layer's parameter members are pointed
// at gradcheck's copies for the duration of each call.
void gradcheck_layer(nn::Module& layer, std::vector<Tensor*> params, const Shape& in, std::uint64_t seed) {
  layer.to(DType::Float64);
  std::vector<Tensor> inputs{rand64(in, seed).requires_grad_()};
  for (Tensor* p : params) inputs.push_back(p->detach().clone().requires_grad_());
  const auto f = [&](const std::vector<Tensor>& v) {
    std::vector<Tensor> saved;
    for (size_t i = 0; i < params.size(); ++i) {
      saved.push_back(*params[i]);
      *params[i] = v[i + 1];
    }
    Tensor y = layer.forward(v[0]);
    for (size_t i = 0; i < params.size(); ++i) *params[i] = saved[i];
    return y;
  };
  const auto r = gradcheck(f, inputs);
  EXPECT_TRUE(r.ok) << layer.str() << ": max error " << r.max_abs_error << "\n" << r.report;
}

TEST(Layers, GradcheckThroughEachLayer) {
  Generator gen(10);
  nn::Conv2d conv(nn::Conv2dOptions(2, 3, 3).stride(2).padding(1), gen);
  gradcheck_layer(conv, {&conv.weight, &conv.bias}, {2, 2, 5, 5}, 11);
  nn::ConvTranspose2d convt(nn::ConvTranspose2dOptions(2, 3, 4).stride(2).padding(1), gen);
  gradcheck_layer(convt, {&convt.weight, &convt.bias}, {1, 2, 3, 3}, 12);
  nn::Linear fc(4, 3, gen);
  gradcheck_layer(fc, {&fc.weight, &fc.bias}, {5, 4}, 13);
  nn::BatchNorm2d bn(3);
  {
    NoGradGuard g;
    nn::init::uniform_(bn.weight, 0.5, 1.5, gen);
    nn::init::uniform_(bn.bias, -0.5, 0.5, gen);
  }
  gradcheck_layer(bn, {&bn.weight, &bn.bias}, {3, 3, 2, 2}, 14);
  nn::LeakyReLU lrelu(0.2);
  gradcheck_layer(lrelu, {}, {3, 4}, 15);
  nn::Tanh th;
  gradcheck_layer(th, {}, {3, 4}, 16);
  nn::Sigmoid sg;
  gradcheck_layer(sg, {}, {3, 4}, 17);
  nn::Flatten fl;
  gradcheck_layer(fl, {}, {2, 2, 3}, 18);
  // A small chain: gradients reach the first layer's parameters through the Sequential.
  auto conv1 = std::make_shared<nn::Conv2d>(nn::Conv2dOptions(1, 2, 3).padding(1), gen);
  nn::Sequential seq(conv1, std::make_shared<nn::Tanh>(), std::make_shared<nn::Flatten>(),
                     std::make_shared<nn::Linear>(2 * 3 * 3, 2, gen));
  gradcheck_layer(seq, {&conv1->weight, &conv1->bias}, {2, 1, 3, 3}, 19);
}

// ---- initialisers
// -----------------------------------------------------------------------------------------------------

using nn::init::calculate_fan_in_and_fan_out;

double tensor_std(const Tensor& t) {
  const auto v = t.to_vector<double>();
  double m = 0, s = 0;
  for (double e : v) m += e;
  m /= static_cast<double>(v.size());
  for (double e : v) s += (e - m) * (e - m);
  return std::sqrt(s / static_cast<double>(v.size()));
}

double tensor_absmax(const Tensor& t) { return t.abs().max().item(); }

TEST(Init, FansAndGainsAsTorch) {
  EXPECT_EQ(calculate_fan_in_and_fan_out(Tensor::empty({64, 3, 4, 4})),
            (std::pair<std::int64_t, std::int64_t>{48, 1024}));
  EXPECT_EQ(calculate_fan_in_and_fan_out(Tensor::empty({3, 10})), (std::pair<std::int64_t, std::int64_t>{10, 3}));
  // ConvTranspose2d weights are (in, out, kH, kW): torch computes the fans from that layout as is.
  EXPECT_EQ(calculate_fan_in_and_fan_out(Tensor::empty({100, 512, 4, 4})).first, 512 * 16);
  STRIDER_EXPECT_THROW_MSG((void)calculate_fan_in_and_fan_out(Tensor::empty({5})), ValueError, "fewer than 2 dims");
  using nn::init::Nonlinearity;
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain(Nonlinearity::kReLU), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain(Nonlinearity::kTanh), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain(Nonlinearity::kLeakyReLU, 0.2), std::sqrt(2.0 / 1.04));
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain(Nonlinearity::kSigmoid), 1.0);
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain(Nonlinearity::kSELU), 0.75);
}

TEST(Init, DefaultLayerInitsAsPyTorch) {
  Generator gen(20);
  nn::Conv2d conv(nn::Conv2dOptions(16, 32, 3), gen);  // fan_in 144: bounds 1/12
  EXPECT_LE(tensor_absmax(conv.weight), 1.0 / 12 + 1e-7);
  EXPECT_GT(tensor_absmax(conv.weight), 0.95 / 12);
  EXPECT_NEAR(tensor_std(conv.weight), 1.0 / 12 / std::sqrt(3.0), 0.005);  // uniform(-b, b): std b / sqrt(3)
  EXPECT_LE(tensor_absmax(conv.bias), 1.0 / 12 + 1e-7);
  nn::ConvTranspose2d convt(nn::ConvTranspose2dOptions(8, 4, 4), gen);  // weight (8, 4, 4, 4): fan_in 64
  EXPECT_LE(tensor_absmax(convt.weight), 1.0 / 8 + 1e-7);
  EXPECT_GT(tensor_absmax(convt.weight), 0.9 / 8);
  nn::Linear fc(400, 50, gen);
  EXPECT_LE(tensor_absmax(fc.weight), 1.0 / 20 + 1e-7);
  EXPECT_LE(tensor_absmax(fc.bias), 1.0 / 20 + 1e-7);
  nn::BatchNorm2d bn(5);
  EXPECT_EQ(bn.weight.to_vector<double>(), std::vector<double>(5, 1.0));
  EXPECT_EQ(bn.bias.to_vector<double>(), std::vector<double>(5, 0.0));
  EXPECT_EQ(bn.running_var.to_vector<double>(), std::vector<double>(5, 1.0));
  // The same generator state gives the same weights.
  Generator g1(21), g2(21);
  EXPECT_EQ(nn::Conv2d(nn::Conv2dOptions(2, 2, 3), g1).weight.to_vector<double>(),
            nn::Conv2d(nn::Conv2dOptions(2, 2, 3), g2).weight.to_vector<double>());
}

TEST(Init, InPlaceInitialisersOnParameters) {
  Generator gen(22);
  Tensor w = Tensor::empty({256, 128, 3, 3}).requires_grad_();  // fan_in 1152, fan_out 2304
  nn::init::kaiming_normal_(w, 0, nn::init::FanMode::kFanIn, nn::init::Nonlinearity::kReLU, gen);
  EXPECT_NEAR(tensor_std(w), std::sqrt(2.0 / 1152), 0.01 * std::sqrt(2.0 / 1152));
  nn::init::kaiming_uniform_(w, 0, nn::init::FanMode::kFanOut, nn::init::Nonlinearity::kReLU, gen);
  EXPECT_LE(tensor_absmax(w), std::sqrt(3.0) * std::sqrt(2.0 / 2304) + 1e-7);
  nn::init::xavier_uniform_(w, 2.0, gen);
  const double xb = 2.0 * std::sqrt(6.0 / (1152 + 2304));
  EXPECT_LE(tensor_absmax(w), xb + 1e-7);
  EXPECT_GT(tensor_absmax(w), 0.99 * xb);
  nn::init::xavier_normal_(w, 1.0, gen);
  EXPECT_NEAR(tensor_std(w), std::sqrt(2.0 / (1152 + 2304)), 0.01 * std::sqrt(2.0 / (1152 + 2304)));
  nn::init::normal_(w, 0.0, 0.02, gen);  // DCGAN's init
  EXPECT_NEAR(tensor_std(w), 0.02, 0.0005);
  EXPECT_NEAR(w.mean().item(), 0.0, 0.0005);
  nn::init::uniform_(w, 2, 3, gen);
  EXPECT_GE(w.min().item(), 2.0);
  EXPECT_LT(w.max().item(), 3.0);
  nn::init::constant_(w, 0.5);
  EXPECT_EQ(w.max().item(), 0.5);
  EXPECT_EQ(w.min().item(), 0.5);
  nn::init::zeros_(w);
  EXPECT_EQ(w.abs().max().item(), 0.0);
  nn::init::ones_(w);
  EXPECT_EQ(w.min().item(), 1.0);
  EXPECT_TRUE(w.requires_grad());
  EXPECT_TRUE(grad_enabled());  // the guard was scoped
}

}  // namespace
}  // namespace strider
