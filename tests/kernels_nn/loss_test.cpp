// Losses (kernels/loss.hpp) on every backend: forward against float64 reference loops and closed
// forms (including the clamps and extreme logits), backward against closed forms and central
// finite differences in double, every reduction, and the validation errors.
#include <strider/kernels/loss.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "nn_test_util.hpp"

namespace strider::nn_test {
namespace {

using kernels::LossKind;
using kernels::LossReduction;

constexpr LossKind kKinds[] = {LossKind::BinaryCrossEntropy, LossKind::BinaryCrossEntropyWithLogits,
                               LossKind::MeanSquaredError};
constexpr LossReduction kReductions[] = {LossReduction::None, LossReduction::Mean, LossReduction::Sum};

// float64 references, written from the textbook definitions (not the kernels' expressions).
double ref_loss(LossKind k, double x, double t) {
  switch (k) {
    case LossKind::BinaryCrossEntropy:
      return -(t * std::max(std::log(x), -100.0) + (1 - t) * std::max(std::log(1 - x), -100.0));
    case LossKind::BinaryCrossEntropyWithLogits: {
      // -(t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))), with log sigmoid(x) = -log1p(exp(-x))
      // written stably for either sign.
      const double log_sig = x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x));
      const double log_one_minus_sig = log_sig - x;
      return -(t * log_sig + (1 - t) * log_one_minus_sig);
    }
    case LossKind::MeanSquaredError: return (x - t) * (x - t);
  }
  return 0;
}

double ref_grad(LossKind k, double x, double t) {
  switch (k) {
    case LossKind::BinaryCrossEntropy: return (x - t) / std::max(x * (1 - x), 1e-12);
    case LossKind::BinaryCrossEntropyWithLogits: return 1 / (1 + std::exp(-x)) - t;
    case LossKind::MeanSquaredError: return 2 * (x - t);
  }
  return 0;
}

struct LossData {
  std::vector<double> input, target;
};

// Inputs where each loss is smooth: probabilities in [0.05, 0.95] for BCE, logits in +-[0.05, 4],
// values in +-[0.05, 2] for MSE; targets in [0, 1] with some exact 0 / 1 labels.
LossData make_data(LossKind k, Idx n, std::uint64_t seed) {
  LossData d;
  switch (k) {
    case LossKind::BinaryCrossEntropy: d.input = uniform(n, 0.05, 0.95, seed); break;
    case LossKind::BinaryCrossEntropyWithLogits: d.input = signed_uniform(n, 0.05, 4.0, seed); break;
    case LossKind::MeanSquaredError: d.input = signed_uniform(n, 0.05, 2.0, seed); break;
  }
  d.target = uniform(n, 0.0, 1.0, seed + 1);
  for (Idx i = 0; i < n; i += 3) d.target[static_cast<std::size_t>(i)] = static_cast<double>((i / 3) % 2);
  return d;
}

std::string label(LossKind k, LossReduction r, Idx n, const char* type) {
  return cat(kernels::loss_name(k), " reduction ", kernels::loss_reduction_name(r), " n ", n, " ", type);
}

class Loss : public BackendTest {};

// Above the CPU's OpenMP threshold (32768) on the CPU; on CUDA several grid-stride rounds and
// several rounds of the one-block sum, without making the emulator slow.
Idx big_size(Backend b) { return b == Backend::Cpu ? 40000 : 3001; }

template <class T>
void check_forward(Backend b, LossKind k, LossReduction r, Idx n, std::uint64_t seed) {
  SCOPED_TRACE(label(k, r, n, sizeof(T) == 4 ? "float" : "double"));
  LossData d = make_data(k, n, seed);
  d.input = as<T>(d.input);
  d.target = as<T>(d.target);
  Buf<T> input(b, d.input), target(b, d.target), out(b, r == LossReduction::None ? n : 1);
  NN_RUN(b, loss_forward<T>, k, r, n, input.ptr(), target.ptr(), out.ptr());
  std::vector<double> ref;
  double sum = 0;
  for (Idx i = 0; i < n; ++i) {
    const double l = ref_loss(k, d.input[static_cast<std::size_t>(i)], d.target[static_cast<std::size_t>(i)]);
    ref.push_back(l);
    sum += l;
  }
  if (r == LossReduction::Mean) ref = {sum / static_cast<double>(n)};
  if (r == LossReduction::Sum) ref = {sum};
  // Per element the kernel works in T (a few ulps); the sum accumulates in double.
  const double tol = sizeof(T) == 4 ? 1e-6 : 1e-13;
  EXPECT_TRUE(close("out", out.get(), ref, tol, tol));
}

TEST_P(Loss, ForwardMatchesReference) {
  std::uint64_t seed = 10;
  for (LossKind k : kKinds)
    for (LossReduction r : kReductions)
      for (Idx n : {Idx{1}, Idx{7}, Idx{513}, big_size(backend())}) {
        check_forward<float>(backend(), k, r, n, ++seed);
        check_forward<double>(backend(), k, r, n, ++seed);
      }
}

template <class T>
void check_backward(Backend b, LossKind k, LossReduction r, Idx n, std::uint64_t seed) {
  SCOPED_TRACE(label(k, r, n, sizeof(T) == 4 ? "float" : "double"));
  LossData d = make_data(k, n, seed);
  d.input = as<T>(d.input);
  d.target = as<T>(d.target);
  const auto g = as<T>(signed_uniform(r == LossReduction::None ? n : 1, 0.5, 2.0, seed + 7));
  Buf<T> input(b, d.input), target(b, d.target), grad_out(b, g), grad_input(b, n);
  NN_RUN(b, loss_backward<T>, k, r, n, input.ptr(), target.ptr(), grad_out.ptr(), grad_input.ptr());
  std::vector<double> ref;
  for (Idx i = 0; i < n; ++i) {
    const auto u = static_cast<std::size_t>(i);
    const double gi = r == LossReduction::None ? g[u] : (r == LossReduction::Mean ? g[0] / static_cast<double>(n) : g[0]);
    ref.push_back(gi * ref_grad(k, d.input[u], d.target[u]));
  }
  // Relative a few ulps, except where dl/dx cancels (sigmoid(x) - t, x - t): there the error is a few
  // ulps of the terms (<= 1 .. 4) times |g| <= 2, so an absolute floor of 4e-7 (float) / 1e-15.
  const bool f = sizeof(T) == 4;
  EXPECT_TRUE(close("grad_input", grad_input.get(), ref, f ? 2e-6 : 1e-13, f ? 4e-7 : 1e-15));
}

TEST_P(Loss, BackwardMatchesClosedForm) {
  std::uint64_t seed = 1000;
  for (LossKind k : kKinds)
    for (LossReduction r : kReductions)
      for (Idx n : {Idx{1}, Idx{7}, big_size(backend())}) {
        check_backward<float>(backend(), k, r, n, ++seed);
        check_backward<double>(backend(), k, r, n, ++seed);
      }
}

// dS/dinput from the kernel against central differences of the kernel's own forward pass, where
// S = sum_i g_i out_i (None) or g out (Mean, Sum), in double.
TEST_P(Loss, BackwardMatchesFiniteDifferences) {
  const Backend b = backend();
  const Idx n = 6;
  std::uint64_t seed = 2000;
  for (LossKind k : kKinds)
    for (LossReduction r : kReductions) {
      SCOPED_TRACE(label(k, r, n, "double"));
      LossData d = make_data(k, n, ++seed);
      const auto g = signed_uniform(r == LossReduction::None ? n : 1, 0.5, 2.0, ++seed);
      auto objective = [&](const std::vector<double>& x) {
        Buf<double> input(b, x), target(b, d.target), out(b, r == LossReduction::None ? n : 1);
        NN_RUN(b, loss_forward<double>, k, r, n, input.ptr(), target.ptr(), out.ptr());
        const auto o = out.get();
        double s = 0;
        for (std::size_t i = 0; i < o.size(); ++i) s += g[i] * o[i];
        return s;
      };
      Buf<double> input(b, d.input), target(b, d.target), grad_out(b, g), grad_input(b, n);
      NN_RUN(b, loss_backward<double>, k, r, n, input.ptr(), target.ptr(), grad_out.ptr(), grad_input.ptr());
      std::vector<double> numeric;
      const double h = 1e-6;
      for (Idx i = 0; i < n; ++i) {
        auto x = d.input;
        x[static_cast<std::size_t>(i)] += h;
        const double up = objective(x);
        x[static_cast<std::size_t>(i)] -= 2 * h;
        const double down = objective(x);
        numeric.push_back((up - down) / (2 * h));
      }
      // Truncation h^2 |l'''| (BCE's third derivative reaches ~2/0.05^3 = 1.6e4 at x = 0.05) and
      // cancellation 1e-16 |S| / h: ~1e-8 .. 1e-7.
      EXPECT_TRUE(close("grad_input", grad_input.get(), numeric, 1e-6, 1e-6));
    }
}

// The clamps and the stable logits formula at the edges, in float and double, with exact or
// closed-form values.
template <class T>
void check_edges(Backend b) {
  SCOPED_TRACE(sizeof(T) == 4 ? "float" : "double");
  struct Case {
    LossKind k;
    double x, t, loss, grad;
  };
  const double sig100 = 1 / (1 + std::exp(-100.0));
  const std::vector<Case> cases = {
      // BCE: log clamped at -100, so a confident wrong prediction costs exactly 100.
      {LossKind::BinaryCrossEntropy, 0.0, 0.0, 0.0, 0.0},
      {LossKind::BinaryCrossEntropy, 0.0, 1.0, 100.0, -1e12},
      {LossKind::BinaryCrossEntropy, 1.0, 0.0, 100.0, 1e12},
      {LossKind::BinaryCrossEntropy, 1.0, 1.0, 0.0, 0.0},
      {LossKind::BinaryCrossEntropy, 0.0, 0.5, 50.0, -0.5e12},
      {LossKind::BinaryCrossEntropy, 0.5, 1.0, std::log(2.0), -2.0},
      // BCE with logits: max(x, 0) - x t + log1p(exp(-|x|)); finite at +-1e4.
      {LossKind::BinaryCrossEntropyWithLogits, 1e4, 0.0, 1e4, 1.0},
      {LossKind::BinaryCrossEntropyWithLogits, 1e4, 1.0, 0.0, 0.0},
      {LossKind::BinaryCrossEntropyWithLogits, -1e4, 0.0, 0.0, 0.0},
      {LossKind::BinaryCrossEntropyWithLogits, -1e4, 1.0, 1e4, -1.0},
      {LossKind::BinaryCrossEntropyWithLogits, 100.0, 0.25, 75.0 + std::log1p(std::exp(-100.0)), sig100 - 0.25},
      {LossKind::BinaryCrossEntropyWithLogits, -100.0, 0.25, 25.0 + std::log1p(std::exp(-100.0)), (1 - sig100) - 0.25},
      {LossKind::BinaryCrossEntropyWithLogits, 0.0, 0.3, std::log(2.0), 0.2},
      // MSE
      {LossKind::MeanSquaredError, 3.0, 0.5, 6.25, 5.0},
      {LossKind::MeanSquaredError, -1e4, 1.0, 100020001.0, -20002.0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(cat(kernels::loss_name(c.k), " x ", c.x, " t ", c.t));
    Buf<T> x(b, {c.x}), t(b, {c.t}), out(b, 1), g(b, {1.0}), dx(b, 1);
    NN_RUN(b, loss_forward<T>, c.k, LossReduction::None, 1, x.ptr(), t.ptr(), out.ptr());
    NN_RUN(b, loss_backward<T>, c.k, LossReduction::None, 1, x.ptr(), t.ptr(), g.ptr(), dx.ptr());
    const double tol = sizeof(T) == 4 ? 1e-6 : 1e-14;
    const double l = out.get()[0], d = dx.get()[0];
    EXPECT_TRUE(std::isfinite(l));
    EXPECT_TRUE(std::isfinite(d));
    EXPECT_NEAR(l, c.loss, tol * (1 + std::abs(c.loss)));
    EXPECT_NEAR(d, c.grad, tol * (1 + std::abs(c.grad)));
  }
}

TEST_P(Loss, ClampsAndExtremeLogits) {
  check_edges<float>(backend());
  check_edges<double>(backend());
}

TEST_P(Loss, EmptyInput) {
  for (LossKind k : kKinds) {
    SCOPED_TRACE(kernels::loss_name(k));
    Buf<float> mean(backend(), 1), sum(backend(), 1), none(backend(), 0);
    NN_RUN(backend(), loss_forward<float>, k, LossReduction::Mean, 0, nullptr, nullptr, mean.ptr());
    NN_RUN(backend(), loss_forward<float>, k, LossReduction::Sum, 0, nullptr, nullptr, sum.ptr());
    NN_RUN(backend(), loss_forward<float>, k, LossReduction::None, 0, nullptr, nullptr, none.ptr());
    NN_RUN(backend(), loss_backward<float>, k, LossReduction::Mean, 0, nullptr, nullptr, nullptr, nullptr);
    EXPECT_TRUE(std::isnan(mean.get()[0])) << "the mean of no elements is NaN (as PyTorch)";
    EXPECT_EQ(sum.get()[0], 0.0);
  }
}

TEST_P(Loss, InvalidArgumentsAreNamed) {
  const std::string where = backend() == Backend::Cpu ? "(cpu, " : "(cuda, ";
  Buf<float> x(backend(), {0.5, 0.5}), t(backend(), {1.0, 0.0}), out(backend(), 1);
  STRIDER_EXPECT_THROW_MSG(NN_RUN(backend(), loss_forward<float>, LossKind::MeanSquaredError, LossReduction::Mean, -3,
                                  x.ptr(), t.ptr(), out.ptr()),
                           ShapeError, "n = -3 is negative");
  STRIDER_EXPECT_THROW_MSG(NN_RUN(backend(), loss_forward<float>, LossKind::MeanSquaredError, LossReduction::Mean, 2,
                                  x.ptr(), nullptr, out.ptr()),
                           ValueError, cat("loss_forward ", where, "mse_loss, reduction mean, n = 2): buffer target is null"));
  STRIDER_EXPECT_THROW_MSG(NN_RUN(backend(), loss_forward<float>, LossKind::BinaryCrossEntropy, LossReduction::Sum, 0,
                                  nullptr, nullptr, nullptr),
                           ValueError, "buffer out is null");
  STRIDER_EXPECT_THROW_MSG(NN_RUN(backend(), loss_backward<float>, LossKind::BinaryCrossEntropy, LossReduction::Sum, 2,
                                  x.ptr(), t.ptr(), nullptr, x.ptr()),
                           ValueError, cat("loss_backward ", where), "buffer grad_out is null");
  STRIDER_EXPECT_THROW_MSG(NN_RUN(backend(), loss_backward<float>, LossKind::MeanSquaredError, LossReduction::None, 2,
                                  x.ptr(), t.ptr(), t.ptr(), nullptr),
                           ValueError, "buffer grad_input is null");
  STRIDER_EXPECT_THROW_MSG(NN_RUN(backend(), loss_forward<float>, LossKind::BinaryCrossEntropyWithLogits,
                                  LossReduction::None, 2, nullptr, t.ptr(), out.ptr()),
                           ValueError, "binary_cross_entropy_with_logits, reduction none, n = 2): buffer input is null");
  STRIDER_EXPECT_THROW_MSG(NN_RUN(backend(), loss_forward<float>, static_cast<LossKind>(7), LossReduction::Sum, 2,
                                  x.ptr(), t.ptr(), out.ptr()),
                           ValueError, "unknown LossKind 7");
  STRIDER_EXPECT_THROW_MSG(NN_RUN(backend(), loss_forward<float>, LossKind::MeanSquaredError,
                                  static_cast<LossReduction>(9), 2, x.ptr(), t.ptr(), out.ptr()),
                           ValueError, "unknown LossReduction 9");
}

// BCE's range check: the CPU names the first bad index and value; CUDA does not check (no device
// sync) and gives NaN rather than a plausible number (kernels/loss.hpp).
TEST_P(Loss, BinaryCrossEntropyRejectsValuesOutsideUnitInterval) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Buf<float> x(backend(), {0.5, 0.2, 0.9, 1.5, -0.5}), t(backend(), {1.0, 0.0, 1.0, 1.0, 0.0});
  Buf<float> x_ok(backend(), {0.5, 0.2, 0.9}), t_bad(backend(), {1.0, -0.25, nan}), x_nan(backend(), {0.5, nan, 0.9});
  Buf<float> out(backend(), 1), out3(backend(), 3);
  auto run = [&](Buf<float>& in, Buf<float>& tg, Idx n, Buf<float>& o, LossReduction r) {
    NN_RUN(backend(), loss_forward<float>, LossKind::BinaryCrossEntropy, r, n, in.ptr(), tg.ptr(), o.ptr());
  };
  if (backend() == Backend::Cpu) {
    STRIDER_EXPECT_THROW_MSG(run(x, t, 5, out, LossReduction::Mean), ValueError, "input[3] = 1.5 is not in [0, 1]",
                             "apply sigmoid first", "binary_cross_entropy_with_logits");
    STRIDER_EXPECT_THROW_MSG(run(x_ok, t_bad, 3, out, LossReduction::Mean), ValueError,
                             "target[1] = -0.25 is not in [0, 1]");
    STRIDER_EXPECT_THROW_MSG(run(x_nan, t, 3, out, LossReduction::Sum), ValueError, "input[1] = nan");
    EXPECT_TRUE(std::isnan(out.get()[0])) << "nothing may be written before the check";
  } else {
    run(x, t, 5, out, LossReduction::Mean);
    EXPECT_TRUE(std::isnan(out.get()[0])) << "an input outside [0, 1] must poison the loss, not be clamped";
    run(x_nan, t, 3, out3, LossReduction::None);
    const auto v = out3.get();
    EXPECT_FALSE(std::isnan(v[0]));
    EXPECT_TRUE(std::isnan(v[1]));
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, Loss, ::testing::Values(Backend::Cpu, Backend::Cuda), backend_name);

}  // namespace
}  // namespace strider::nn_test
