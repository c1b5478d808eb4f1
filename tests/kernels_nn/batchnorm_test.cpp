// Batch norm (kernels/batchnorm.hpp) on every backend against float64 reference loops: training
// forward with running-stat updates, eval forward, affine off, track_running_stats off, backward
// (with and without each output), finite differences, and every validation error.
#include <strider/kernels/batchnorm.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "nn_test_util.hpp"

namespace strider::nn_test {
namespace {

using kernels::BatchNormProblem;

// ------------------------------------------------------------------------------------------
// float64 references (PyTorch's definitions, written independently of the kernels' grouping).
// ------------------------------------------------------------------------------------------
struct RefForward {
  std::vector<double> y, mean, invstd, running_mean, running_var;
};

RefForward ref_forward_training(const BatchNormProblem& p, const std::vector<double>& x, const std::vector<double>* gamma,
                                const std::vector<double>* beta, std::vector<double> running_mean,
                                std::vector<double> running_var) {
  RefForward r;
  r.y.resize(x.size());
  const double M = static_cast<double>(p.N * p.HW);
  for (Idx c = 0; c < p.C; ++c) {
    double sum = 0;
    for (Idx n = 0; n < p.N; ++n)
      for (Idx i = 0; i < p.HW; ++i) sum += x[static_cast<std::size_t>((n * p.C + c) * p.HW + i)];
    const double mean = sum / M;
    double ssd = 0;
    for (Idx n = 0; n < p.N; ++n)
      for (Idx i = 0; i < p.HW; ++i) {
        const double d = x[static_cast<std::size_t>((n * p.C + c) * p.HW + i)] - mean;
        ssd += d * d;
      }
    const double invstd = 1.0 / std::sqrt(ssd / M + p.eps);
    r.mean.push_back(mean);
    r.invstd.push_back(invstd);
    if (!running_mean.empty()) {
      running_mean[static_cast<std::size_t>(c)] = (1 - p.momentum) * running_mean[static_cast<std::size_t>(c)] + p.momentum * mean;
      running_var[static_cast<std::size_t>(c)] =
          (1 - p.momentum) * running_var[static_cast<std::size_t>(c)] + p.momentum * ssd / (M - 1);
    }
    const double g = gamma ? (*gamma)[static_cast<std::size_t>(c)] : 1.0, b = beta ? (*beta)[static_cast<std::size_t>(c)] : 0.0;
    for (Idx n = 0; n < p.N; ++n)
      for (Idx i = 0; i < p.HW; ++i) {
        const auto o = static_cast<std::size_t>((n * p.C + c) * p.HW + i);
        r.y[o] = (x[o] - mean) * invstd * g + b;
      }
  }
  r.running_mean = std::move(running_mean);
  r.running_var = std::move(running_var);
  return r;
}

// grad_x = gamma invstd / M (M dy - sum(dy) - xhat sum(dy xhat))   (PyTorch's derivation)
struct RefBackward {
  std::vector<double> grad_x, grad_gamma, grad_beta;
};

RefBackward ref_backward(const BatchNormProblem& p, const std::vector<double>& dy, const std::vector<double>& x,
                         const std::vector<double>& mean, const std::vector<double>& invstd,
                         const std::vector<double>* gamma) {
  RefBackward r;
  r.grad_x.resize(x.size());
  const double M = static_cast<double>(p.N * p.HW);
  for (Idx c = 0; c < p.C; ++c) {
    const auto cc = static_cast<std::size_t>(c);
    double sdy = 0, sdy_xhat = 0;
    for (Idx n = 0; n < p.N; ++n)
      for (Idx i = 0; i < p.HW; ++i) {
        const auto o = static_cast<std::size_t>((n * p.C + c) * p.HW + i);
        sdy += dy[o];
        sdy_xhat += dy[o] * (x[o] - mean[cc]) * invstd[cc];
      }
    r.grad_beta.push_back(sdy);
    r.grad_gamma.push_back(sdy_xhat);
    const double g = gamma ? (*gamma)[cc] : 1.0;
    for (Idx n = 0; n < p.N; ++n)
      for (Idx i = 0; i < p.HW; ++i) {
        const auto o = static_cast<std::size_t>((n * p.C + c) * p.HW + i);
        const double xhat = (x[o] - mean[cc]) * invstd[cc];
        r.grad_x[o] = g * invstd[cc] / M * (M * dy[o] - sdy - xhat * sdy_xhat);
      }
  }
  return r;
}

// Awkward shapes: C = 1, 3, 5, 64; N = 1; HW = 1; N*HW = 2; a channel longer than one block's
// 512 threads with HW < 512 (the cursor wraps across images) and with HW > 512; one problem above
// the CPU's OpenMP threshold (32768 elements).
const std::vector<BatchNormProblem>& shapes() {
  static const std::vector<BatchNormProblem> s = {
      {2, 1, 5, 1e-5, 0.1},  {1, 3, 7, 1e-5, 0.1},  {3, 5, 1, 1e-3, 0.3}, {2, 3, 1, 1e-5, 0.1},
      {4, 64, 9, 1e-5, 0.1}, {37, 2, 17, 1e-5, 1.0}, {1, 3, 600, 0.0, 0.0}, {700, 2, 1, 1e-5, 0.5},
      {8, 4, 1100, 1e-5, 0.1},
  };
  return s;
}

// Tolerances. double: rounding of a few dozen operations (1e-12 relative, with atol for values
// near zero). float: the kernel rounds mean/invstd to float and computes each y in float with
// inputs up to |x| ~ 4 and std ~ 0.5: a few ulps of 4 / 0.5 ~ 1e-6; 2e-5 leaves margin and still
// catches any wrong term (O(0.1 .. 1)).
template <class T>
struct Tol {
  static constexpr bool kFloat = sizeof(T) == 4;
  static constexpr double rtol = kFloat ? 2e-5 : 1e-11;
  static constexpr double atol = kFloat ? 2e-5 : 1e-11;
};

struct Inputs {
  std::vector<double> x, gamma, beta, running_mean, running_var, dy;
};

Inputs make_inputs(const BatchNormProblem& p, std::uint64_t seed) {
  Inputs in;
  // A per-channel offset (|mean| up to 3) over a spread of ~1: a large-mean channel would lose
  // the variance to cancellation in a one-pass E[x^2] - E[x]^2 formula.
  in.x = signed_uniform(p.numel(), 0.05, 1.0, seed);
  const auto offset = uniform(p.C, -3.0, 3.0, seed + 1);
  for (Idx i = 0; i < p.numel(); ++i) in.x[static_cast<std::size_t>(i)] += offset[static_cast<std::size_t>((i / p.HW) % p.C)];
  in.gamma = signed_uniform(p.C, 0.5, 1.5, seed + 2);
  in.beta = signed_uniform(p.C, 0.1, 1.0, seed + 3);
  in.running_mean = signed_uniform(p.C, 0.1, 1.0, seed + 4);
  in.running_var = uniform(p.C, 0.5, 2.0, seed + 5);
  in.dy = signed_uniform(p.numel(), 0.05, 1.0, seed + 6);
  return in;
}

class BatchNorm : public BackendTest {};

template <class T>
void check_forward_training(Backend b, const BatchNormProblem& p, bool affine, bool track, std::uint64_t seed) {
  SCOPED_TRACE(cat(p.str(), affine ? " affine" : " no-affine", track ? " track" : " no-track",
                   sizeof(T) == 4 ? " float" : " double"));
  Inputs in = make_inputs(p, seed);
  in.x = as<T>(in.x);
  in.gamma = as<T>(in.gamma);
  in.beta = as<T>(in.beta);
  in.running_mean = as<T>(in.running_mean);
  in.running_var = as<T>(in.running_var);
  Buf<T> x(b, in.x), gamma(b, in.gamma), beta(b, in.beta), rm(b, in.running_mean), rv(b, in.running_var);
  Buf<T> y(b, p.numel()), mean(b, p.C), invstd(b, p.C);
  NN_RUN(b, batch_norm_forward_training<T>, p, x.ptr(), affine ? gamma.ptr() : nullptr, affine ? beta.ptr() : nullptr,
         y.ptr(), mean.ptr(), invstd.ptr(), track ? rm.ptr() : nullptr, track ? rv.ptr() : nullptr);
  const RefForward r = ref_forward_training(p, in.x, affine ? &in.gamma : nullptr, affine ? &in.beta : nullptr,
                                            track ? in.running_mean : std::vector<double>{},
                                            track ? in.running_var : std::vector<double>{});
  using Tl = Tol<T>;
  // Statistics: computed in double and rounded once to T.
  const double stat_rtol = Tl::kFloat ? 1e-6 : 1e-12;
  EXPECT_TRUE(close("y", y.get(), r.y, Tl::rtol, Tl::atol, nchw_index(p.C, p.HW)));
  EXPECT_TRUE(close("save_mean", mean.get(), r.mean, stat_rtol, stat_rtol));
  EXPECT_TRUE(close("save_invstd", invstd.get(), r.invstd, stat_rtol, stat_rtol));
  // Running stats: updated in place when tracked, untouched (bitwise) otherwise.
  if (track) {
    EXPECT_TRUE(close("running_mean", rm.get(), r.running_mean, stat_rtol, stat_rtol));
    EXPECT_TRUE(close("running_var", rv.get(), r.running_var, stat_rtol, stat_rtol));
  } else {
    EXPECT_EQ(rm.get(), in.running_mean);
    EXPECT_EQ(rv.get(), in.running_var);
  }
}

TEST_P(BatchNorm, ForwardTrainingMatchesReference) {
  std::uint64_t seed = 100;
  for (const auto& p : shapes()) {
    check_forward_training<float>(backend(), p, true, true, ++seed);
    check_forward_training<double>(backend(), p, true, true, ++seed);
  }
}

TEST_P(BatchNorm, ForwardTrainingWithoutAffineOrRunningStats) {
  const BatchNormProblem p{3, 5, 7, 1e-5, 0.1};
  check_forward_training<float>(backend(), p, false, true, 7);
  check_forward_training<float>(backend(), p, true, false, 8);
  check_forward_training<double>(backend(), p, false, false, 9);
}

// With the 2-sample channel of N = 2, HW = 1 the statistics are known in closed form:
// mean = (a + b) / 2, biased var = ((a - b) / 2)^2, unbiased var = (a - b)^2 / 2.
TEST_P(BatchNorm, RunningStatsUseUnbiasedVarianceClosedForm) {
  const BatchNormProblem p{2, 1, 1, 0.0, 0.25};
  Buf<double> x(backend(), {1.0, 4.0}), rm(backend(), {2.0}), rv(backend(), {3.0});
  Buf<double> y(backend(), 2), mean(backend(), 1), invstd(backend(), 1);
  NN_RUN(backend(), batch_norm_forward_training<double>, p, x.ptr(), nullptr, nullptr, y.ptr(), mean.ptr(),
         invstd.ptr(), rm.ptr(), rv.ptr());
  EXPECT_DOUBLE_EQ(mean.get()[0], 2.5);
  EXPECT_DOUBLE_EQ(invstd.get()[0], 1.0 / 1.5);
  EXPECT_DOUBLE_EQ(rm.get()[0], 0.75 * 2.0 + 0.25 * 2.5);
  EXPECT_DOUBLE_EQ(rv.get()[0], 0.75 * 3.0 + 0.25 * 4.5);
  const auto yv = y.get();
  EXPECT_DOUBLE_EQ(yv[0], -1.0);
  EXPECT_DOUBLE_EQ(yv[1], 1.0);
}

template <class T>
void check_forward_eval(Backend b, const BatchNormProblem& p, bool affine, std::uint64_t seed) {
  SCOPED_TRACE(cat(p.str(), affine ? " affine" : " no-affine", sizeof(T) == 4 ? " float" : " double"));
  Inputs in = make_inputs(p, seed);
  in.x = as<T>(in.x);
  in.gamma = as<T>(in.gamma);
  in.beta = as<T>(in.beta);
  in.running_mean = as<T>(in.running_mean);
  in.running_var = as<T>(in.running_var);
  Buf<T> x(b, in.x), gamma(b, in.gamma), beta(b, in.beta), rm(b, in.running_mean), rv(b, in.running_var);
  Buf<T> y(b, p.numel());
  NN_RUN(b, batch_norm_forward_eval<T>, p, x.ptr(), affine ? gamma.ptr() : nullptr, affine ? beta.ptr() : nullptr,
         rm.ptr(), rv.ptr(), y.ptr());
  std::vector<double> ref(in.x.size());
  for (Idx i = 0; i < p.numel(); ++i) {
    const auto c = static_cast<std::size_t>((i / p.HW) % p.C);
    const double g = affine ? in.gamma[c] : 1.0, bt = affine ? in.beta[c] : 0.0;
    ref[static_cast<std::size_t>(i)] =
        (in.x[static_cast<std::size_t>(i)] - in.running_mean[c]) / std::sqrt(in.running_var[c] + p.eps) * g + bt;
  }
  EXPECT_TRUE(close("y", y.get(), ref, Tol<T>::rtol, Tol<T>::atol, nchw_index(p.C, p.HW)));
  // Eval mode never writes the running statistics.
  EXPECT_EQ(rm.get(), in.running_mean);
  EXPECT_EQ(rv.get(), in.running_var);
}

TEST_P(BatchNorm, ForwardEvalMatchesReference) {
  std::uint64_t seed = 200;
  for (const auto& p : shapes()) {
    check_forward_eval<float>(backend(), p, true, ++seed);
    check_forward_eval<double>(backend(), p, true, ++seed);
  }
  check_forward_eval<float>(backend(), {3, 5, 7, 1e-5, 0.1}, false, 11);
  // A single value per channel is fine in eval mode (running statistics).
  check_forward_eval<double>(backend(), {1, 3, 1, 1e-5, 0.1}, true, 12);
}

TEST_P(BatchNorm, ForwardEvalEmptyBatchWritesNothing) {
  const BatchNormProblem p{0, 3, 4, 1e-5, 0.1};
  Buf<float> rm(backend(), {0.1, 0.2, 0.3}), rv(backend(), {1.0, 2.0, 3.0}), y(backend(), 0);
  NN_RUN(backend(), batch_norm_forward_eval<float>, p, nullptr, nullptr, nullptr, rm.ptr(), rv.ptr(), y.ptr());
  EXPECT_TRUE(y.get().empty());
  // With nothing to read or write, no buffer is required.
  NN_RUN(backend(), batch_norm_forward_eval<float>, p, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
}

template <class T>
void check_backward(Backend b, const BatchNormProblem& p, bool affine, bool want_x, bool want_params,
                    std::uint64_t seed) {
  SCOPED_TRACE(cat(p.str(), affine ? " affine" : " no-affine", want_x ? " grad_x" : "",
                   want_params ? " grad_gamma/beta" : "", sizeof(T) == 4 ? " float" : " double"));
  Inputs in = make_inputs(p, seed);
  in.x = as<T>(in.x);
  in.gamma = as<T>(in.gamma);
  in.dy = as<T>(in.dy);
  // Saved statistics as forward_training would leave them (rounded to T).
  const RefForward f = ref_forward_training(p, in.x, nullptr, nullptr, {}, {});
  const auto mean_v = as<T>(f.mean), invstd_v = as<T>(f.invstd);
  Buf<T> dy(b, in.dy), x(b, in.x), mean(b, mean_v), invstd(b, invstd_v), gamma(b, in.gamma);
  Buf<T> dx(b, p.numel()), dgamma(b, p.C), dbeta(b, p.C);
  NN_RUN(b, batch_norm_backward<T>, p, dy.ptr(), x.ptr(), mean.ptr(), invstd.ptr(), affine ? gamma.ptr() : nullptr,
         want_x ? dx.ptr() : nullptr, want_params ? dgamma.ptr() : nullptr, want_params ? dbeta.ptr() : nullptr);
  const RefBackward r = ref_backward(p, in.dy, in.x, mean_v, invstd_v, affine ? &in.gamma : nullptr);
  // grad_x cancels: dy - mean(dy) - xhat proj with terms ~1 and invstd up to ~3; float error a few
  // ulps of ~3. grad_gamma / grad_beta are sums of M terms in double rounded once (plus the float
  // rounding of the inputs, already in the reference).
  const double rt = Tol<T>::kFloat ? 1e-5 : 1e-11, at = Tol<T>::kFloat ? 1e-5 : 1e-11;
  const double sum_tol = Tol<T>::kFloat ? 1e-6 : 1e-12;
  if (want_x) {
    EXPECT_TRUE(close("grad_x", dx.get(), r.grad_x, rt, at, nchw_index(p.C, p.HW)));
  } else {
    for (double v : dx.get()) ASSERT_TRUE(std::isnan(v)) << "grad_x was written although null was passed";
  }
  if (want_params) {
    EXPECT_TRUE(close("grad_gamma", dgamma.get(), r.grad_gamma, sum_tol, sum_tol * p.per_channel()));
    EXPECT_TRUE(close("grad_beta", dbeta.get(), r.grad_beta, sum_tol, sum_tol * p.per_channel()));
  }
}

TEST_P(BatchNorm, BackwardMatchesReference) {
  std::uint64_t seed = 300;
  for (const auto& p : shapes()) {
    check_backward<float>(backend(), p, true, true, true, ++seed);
    check_backward<double>(backend(), p, true, true, true, ++seed);
  }
}

TEST_P(BatchNorm, BackwardOptionalOutputsAndNoAffine) {
  const BatchNormProblem p{3, 5, 7, 1e-5, 0.1};
  check_backward<float>(backend(), p, false, true, true, 31);
  check_backward<float>(backend(), p, true, true, false, 32);
  check_backward<double>(backend(), p, true, false, true, 33);
}

// grad_x, grad_gamma, grad_beta against central differences of the training forward pass itself
// (float64, on the backend): L = sum(w * y) for fixed random w, so dL/dy = w.
TEST_P(BatchNorm, BackwardMatchesFiniteDifferences) {
  const BatchNormProblem p{2, 3, 3, 1e-5, 0.1};
  Inputs in = make_inputs(p, 41);
  const Backend b = backend();
  auto loss = [&](const std::vector<double>& xv, const std::vector<double>& gv, const std::vector<double>& bv) {
    Buf<double> x(b, xv), gamma(b, gv), beta(b, bv), y(b, p.numel()), mean(b, p.C), invstd(b, p.C);
    NN_RUN(b, batch_norm_forward_training<double>, p, x.ptr(), gamma.ptr(), beta.ptr(), y.ptr(), mean.ptr(),
           invstd.ptr(), nullptr, nullptr);
    const auto yv = y.get();
    double s = 0;
    for (std::size_t i = 0; i < yv.size(); ++i) s += in.dy[i] * yv[i];
    return s;
  };
  Buf<double> x(b, in.x), gamma(b, in.gamma), beta(b, in.beta), y(b, p.numel()), mean(b, p.C), invstd(b, p.C);
  NN_RUN(b, batch_norm_forward_training<double>, p, x.ptr(), gamma.ptr(), beta.ptr(), y.ptr(), mean.ptr(), invstd.ptr(),
         nullptr, nullptr);
  Buf<double> dy(b, in.dy), dx(b, p.numel()), dgamma(b, p.C), dbeta(b, p.C);
  NN_RUN(b, batch_norm_backward<double>, p, dy.ptr(), x.ptr(), mean.ptr(), invstd.ptr(), gamma.ptr(), dx.ptr(),
         dgamma.ptr(), dbeta.ptr());
  const double h = 1e-6;
  auto numeric = [&](std::vector<double>& v, std::size_t i) {
    const double saved = v[i];
    v[i] = saved + h;
    const double up = loss(in.x, in.gamma, in.beta);
    v[i] = saved - h;
    const double down = loss(in.x, in.gamma, in.beta);
    v[i] = saved;
    return (up - down) / (2 * h);
  };
  std::vector<double> nx, ng, nb;
  for (std::size_t i = 0; i < in.x.size(); ++i) nx.push_back(numeric(in.x, i));
  for (std::size_t c = 0; c < in.gamma.size(); ++c) {
    ng.push_back(numeric(in.gamma, c));
    nb.push_back(numeric(in.beta, c));
  }
  // Central differences: truncation ~h^2 |f'''| and cancellation ~1e-16 |L| / h, both ~1e-9 here.
  EXPECT_TRUE(close("grad_x", dx.get(), nx, 1e-6, 1e-7, nchw_index(p.C, p.HW)));
  EXPECT_TRUE(close("grad_gamma", dgamma.get(), ng, 1e-6, 1e-7));
  EXPECT_TRUE(close("grad_beta", dbeta.get(), nb, 1e-6, 1e-7));
}

#if STRIDER_EMULATED_CUDA
// The block reductions have no race: every thread schedule the emulator offers gives bitwise the
// same statistics and gradients (a missing barrier would change them).
TEST_P(BatchNorm, EmulatedScheduleDoesNotChangeResults) {
  if (backend() != Backend::Cuda) GTEST_SKIP() << "emulator schedules apply to the cuda backend only";
  const BatchNormProblem p{5, 3, 130, 1e-5, 0.1};  // M = 650 > 512: two elements for some threads
  const Inputs in = make_inputs(p, 51);
  auto run = [&] {
    Buf<float> x(backend(), in.x), y(backend(), p.numel()), mean(backend(), p.C), invstd(backend(), p.C);
    Buf<float> dy(backend(), in.dy), dx(backend(), p.numel()), dg(backend(), p.C), db(backend(), p.C);
    NN_RUN(backend(), batch_norm_forward_training<float>, p, x.ptr(), nullptr, nullptr, y.ptr(), mean.ptr(),
           invstd.ptr(), nullptr, nullptr);
    NN_RUN(backend(), batch_norm_backward<float>, p, dy.ptr(), x.ptr(), mean.ptr(), invstd.ptr(), nullptr, dx.ptr(),
           dg.ptr(), db.ptr());
    std::vector<float> all = y.raw();
    for (auto* buf : {&mean, &invstd, &dx, &dg, &db}) {
      const auto v = buf->raw();
      all.insert(all.end(), v.begin(), v.end());
    }
    return all;
  };
  std::vector<float> expected;
  {
    emu::ScopedSchedule s(emu::Schedule::in_order);
    expected = run();
  }
  for (auto [kind, seed] : {std::pair{emu::Schedule::reverse, 0ULL}, std::pair{emu::Schedule::shuffle, 7ULL}}) {
    emu::ScopedSchedule s(kind, seed);
    const auto got = run();
    ASSERT_EQ(got.size(), expected.size());
    EXPECT_EQ(0, std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)))
        << "results depend on the thread schedule (schedule " << static_cast<int>(kind) << ")";
  }
}
#endif

// ------------------------------------------------------------------------------------------
// Validation: the same errors on every backend.
// ------------------------------------------------------------------------------------------
TEST_P(BatchNorm, TrainingNeedsMoreThanOneValuePerChannel) {
  const BatchNormProblem p{1, 3, 1, 1e-5, 0.1};
  Buf<float> x(backend(), {1.0, 2.0, 3.0}), y(backend(), 3), mean(backend(), 3), invstd(backend(), 3);
  auto forward = [&] {
    NN_RUN(backend(), batch_norm_forward_training<float>, p, x.ptr(), nullptr, nullptr, y.ptr(), mean.ptr(),
           invstd.ptr(), nullptr, nullptr);
  };
  STRIDER_EXPECT_THROW_MSG(forward(), ShapeError, "expected more than 1 value per channel when training",
                           "N * HW = 1", "N = 1", "HW = 1", "eval mode");
  Buf<float> dy(backend(), {1.0, 2.0, 3.0}), dx(backend(), 3);
  auto backward = [&] {
    NN_RUN(backend(), batch_norm_backward<float>, p, dy.ptr(), x.ptr(), mean.ptr(), invstd.ptr(), nullptr, dx.ptr(),
           nullptr, nullptr);
  };
  STRIDER_EXPECT_THROW_MSG(backward(), ShapeError, "expected more than 1 value per channel when training");
  for (double v : y.get()) EXPECT_TRUE(std::isnan(v)) << "nothing may be written before the check";
}

TEST_P(BatchNorm, InvalidProblemsNameTheValue) {
  auto train = [&](const BatchNormProblem& p) {
    NN_RUN(backend(), batch_norm_forward_training<float>, p, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
           nullptr, nullptr);
  };
  STRIDER_EXPECT_THROW_MSG(train({-1, 3, 4, 1e-5, 0.1}), ShapeError, "N = -1 is negative");
  STRIDER_EXPECT_THROW_MSG(train({2, 0, 4, 1e-5, 0.1}), ShapeError, "C = 0 channels", "num_features >= 1");
  STRIDER_EXPECT_THROW_MSG(train({2, 3, 0, 1e-5, 0.1}), ShapeError, "HW = 0", "H * W >= 1");
  STRIDER_EXPECT_THROW_MSG(train({2, 3, 4, -1.0, 0.1}), ValueError, "eps = -1", "finite and >= 0");
  STRIDER_EXPECT_THROW_MSG(train({2, 3, 4, std::nan(""), 0.1}), ValueError, "eps = nan");
  STRIDER_EXPECT_THROW_MSG(train({2, 3, 4, 1e-5, 1.5}), ValueError, "momentum = 1.5", "[0, 1]");
  STRIDER_EXPECT_THROW_MSG(train({2, 3, 4, 1e-5, -0.1}), ValueError, "momentum = -0.1");
  STRIDER_EXPECT_THROW_MSG(train({std::int64_t{1} << 40, 1 << 20, 1 << 10, 1e-5, 0.1}), ShapeError, "2^62");
  // Eval mode accepts one value per channel but not a negative batch.
  EXPECT_NO_THROW(BatchNormProblem({1, 3, 1, 1e-5, 0.1}).validate(false));
  STRIDER_EXPECT_THROW_MSG(BatchNormProblem({-2, 3, 1, 1e-5, 0.1}).validate(false), ShapeError, "N = -2");
}

TEST_P(BatchNorm, MissingBuffersAreNamed) {
  const BatchNormProblem p{2, 3, 4, 1e-5, 0.1};
  Buf<float> x(backend(), p.numel()), y(backend(), p.numel()), s(backend(), p.C), r(backend(), p.C);
  const std::string where = backend() == Backend::Cpu ? "(cpu)" : "(cuda)";
  STRIDER_EXPECT_THROW_MSG(NN_RUN(backend(), batch_norm_forward_training<float>, p, nullptr, nullptr, nullptr, y.ptr(),
                                  s.ptr(), s.ptr(), nullptr, nullptr),
                           ValueError, cat("batch_norm_forward_training ", where), "buffer x is null");
  STRIDER_EXPECT_THROW_MSG(NN_RUN(backend(), batch_norm_forward_training<float>, p, x.ptr(), nullptr, nullptr, y.ptr(),
                                  s.ptr(), s.ptr(), r.ptr(), nullptr),
                           ValueError, "running_mean is set but running_var is null", "pass both");
  STRIDER_EXPECT_THROW_MSG(
      NN_RUN(backend(), batch_norm_forward_eval<float>, p, x.ptr(), nullptr, nullptr, nullptr, nullptr, y.ptr()),
      ValueError, cat("batch_norm_forward_eval ", where), "buffer running_mean is null");
  STRIDER_EXPECT_THROW_MSG(NN_RUN(backend(), batch_norm_backward<float>, p, x.ptr(), x.ptr(), nullptr, s.ptr(),
                                  nullptr, y.ptr(), nullptr, nullptr),
                           ValueError, cat("batch_norm_backward ", where), "buffer save_mean is null");
}

INSTANTIATE_TEST_SUITE_P(Backends, BatchNorm, ::testing::Values(Backend::Cpu, Backend::Cuda), backend_name);

}  // namespace
}  // namespace strider::nn_test
