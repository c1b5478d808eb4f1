// Optimizer steps (kernels/optim.hpp) on every backend: several Adam / SGD steps against a float64
// implementation of torch.optim's update rules, a hand-computed first Adam step, and every
// validation error.
#include <strider/kernels/optim.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "nn_test_util.hpp"

namespace strider::nn_test {
namespace {

using kernels::AdamOptions;
using kernels::SgdOptions;

// torch.optim.Adam's single-tensor path (non-amsgrad, non-maximize), in float64.
struct RefAdam {
  AdamOptions o;
  std::vector<double> param, m, v;
  std::int64_t step = 0;

  void update(const std::vector<double>& grad) {
    ++step;
    const double bc1 = 1 - std::pow(o.beta1, static_cast<double>(step));
    const double bc2 = 1 - std::pow(o.beta2, static_cast<double>(step));
    for (std::size_t i = 0; i < param.size(); ++i) {
      double g = grad[i];
      if (o.weight_decay != 0) g += o.weight_decay * param[i];
      m[i] += (g - m[i]) * (1 - o.beta1);  // exp_avg.lerp_(grad, 1 - beta1)
      v[i] = v[i] * o.beta2 + (1 - o.beta2) * g * g;
      const double denom = std::sqrt(v[i]) / std::sqrt(bc2) + o.eps;
      param[i] += -(o.lr / bc1) * m[i] / denom;
    }
  }
};

// torch.optim.SGD's single-tensor path, in float64.
struct RefSgd {
  SgdOptions o;
  std::vector<double> param, buf;
  bool has_buf = false;

  void update(const std::vector<double>& grad) {
    for (std::size_t i = 0; i < param.size(); ++i) {
      double d = grad[i];
      if (o.weight_decay != 0) d += o.weight_decay * param[i];
      if (o.momentum != 0) {
        buf[i] = has_buf ? buf[i] * o.momentum + (1 - o.dampening) * d : d;
        d = o.nesterov ? d + o.momentum * buf[i] : buf[i];
      }
      param[i] += -o.lr * d;
    }
    has_buf = true;
  }
};

class Optim : public BackendTest {};

// Above the CPU's OpenMP threshold (32768) on the CPU; smaller on CUDA, where the size changes
// nothing but the emulator's run time.
Idx big_size(Backend b) { return b == Backend::Cpu ? 40000 : 1000; }

// Tolerance after 6 steps: double agrees to rounding (1e-12 relative on param); float keeps
// param to a few ulps per step (param ~1, lr ~1e-2 .. 1e-1): 2e-6 absolute. The states get
// relative tolerances (exp_avg_sq ~ g^2 can be small).
template <class T>
void check_adam(Backend b, const AdamOptions& o, Idx n, std::uint64_t seed) {
  SCOPED_TRACE(cat(o.str(), " n ", n, sizeof(T) == 4 ? " float" : " double"));
  RefAdam ref{o, as<T>(signed_uniform(n, 0.1, 1.0, seed)), std::vector<double>(static_cast<std::size_t>(n), 0.0),
              std::vector<double>(static_cast<std::size_t>(n), 0.0)};
  Buf<T> param(b, ref.param), m(b, ref.m), v(b, ref.v);
  for (std::int64_t step = 1; step <= 6; ++step) {
    const auto g = as<T>(signed_uniform(n, 0.01, 2.0, seed * 31 + static_cast<std::uint64_t>(step)));
    Buf<T> grad(b, g);
    NN_RUN(b, adam_step<T>, o, step, n, param.ptr(), grad.ptr(), m.ptr(), v.ptr());
    ref.update(g);
  }
  const bool f = sizeof(T) == 4;
  EXPECT_TRUE(close("param", param.get(), ref.param, f ? 2e-6 : 1e-12, f ? 2e-6 : 1e-13));
  EXPECT_TRUE(close("exp_avg", m.get(), ref.m, f ? 1e-5 : 1e-12, f ? 1e-7 : 1e-15));
  EXPECT_TRUE(close("exp_avg_sq", v.get(), ref.v, f ? 1e-5 : 1e-12, f ? 1e-9 : 1e-16));
}

TEST_P(Optim, AdamStepsMatchReference) {
  AdamOptions dcgan;
  dcgan.lr = 2e-4;
  dcgan.beta1 = 0.5;
  AdamOptions decay;
  decay.lr = 0.05;
  decay.weight_decay = 0.01;
  AdamOptions odd;
  odd.lr = 0.1;
  odd.beta1 = 0.0;
  odd.beta2 = 0.5;
  odd.eps = 0.0;
  std::uint64_t seed = 1;
  for (const AdamOptions& o : {AdamOptions{}, dcgan, decay, odd})
    for (Idx n : {Idx{1}, Idx{5}, big_size(backend())}) {
      check_adam<float>(backend(), o, n, ++seed);
      check_adam<double>(backend(), o, n, ++seed);
    }
}

// First step by hand: m = (1 - b1) g, v = (1 - b2) g^2, so m / (1 - b1) = g, v / (1 - b2) = g^2 and
// param -= lr g / (|g| + eps). With weight decay g is grad + wd param.
TEST_P(Optim, AdamFirstStepByHand) {
  AdamOptions o;
  o.lr = 0.1;
  o.weight_decay = 0.5;
  // grad 0.5 + 0.5 * 1 = 1; grad -0.25 + 0.5 * -0.5 = -0.5; grad 2 + 0.5 * 4 = 4.
  Buf<double> param(backend(), {1.0, -0.5, 4.0}), grad(backend(), {0.5, -0.25, 2.0});
  Buf<double> m(backend(), {0.0, 0.0, 0.0}), v(backend(), {0.0, 0.0, 0.0});
  NN_RUN(backend(), adam_step<double>, o, 1, 3, param.ptr(), grad.ptr(), m.ptr(), v.ptr());
  const std::vector<double> g = {1.0, -0.5, 4.0};
  const auto p = param.get(), mv = m.get(), vv = v.get();
  const std::vector<double> p0 = {1.0, -0.5, 4.0};
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(mv[i], 0.1 * g[i], 1e-15);
    EXPECT_NEAR(vv[i], 0.001 * g[i] * g[i], 1e-15);
    EXPECT_NEAR(p[i], p0[i] - 0.1 * g[i] / (std::abs(g[i]) + 1e-8), 1e-14);
  }
  // In float the step is lr * sign(g) to float precision.
  Buf<float> pf(backend(), {1.0, -0.5, 4.0}), gf(backend(), {0.5, -0.25, 2.0});
  Buf<float> mf(backend(), {0.0, 0.0, 0.0}), vf(backend(), {0.0, 0.0, 0.0});
  NN_RUN(backend(), adam_step<float>, o, 1, 3, pf.ptr(), gf.ptr(), mf.ptr(), vf.ptr());
  EXPECT_TRUE(close("param (float)", pf.get(), {0.9, -0.4, 3.9}, 1e-6, 1e-6));
}

template <class T>
void check_sgd(Backend b, const SgdOptions& o, Idx n, std::uint64_t seed) {
  SCOPED_TRACE(cat(o.str(), " n ", n, sizeof(T) == 4 ? " float" : " double"));
  RefSgd ref{o, as<T>(signed_uniform(n, 0.1, 1.0, seed)), std::vector<double>(static_cast<std::size_t>(n), 0.0)};
  Buf<T> param(b, ref.param);
  // The buffer starts as garbage (NaN): the first step must not read it.
  Buf<T> buf(b, n);
  for (int step = 1; step <= 6; ++step) {
    const auto g = as<T>(signed_uniform(n, 0.01, 2.0, seed * 17 + static_cast<std::uint64_t>(step)));
    Buf<T> grad(b, g);
    NN_RUN(b, sgd_step<T>, o, step == 1, n, param.ptr(), grad.ptr(), o.momentum != 0 ? buf.ptr() : nullptr);
    ref.update(g);
  }
  const bool f = sizeof(T) == 4;
  EXPECT_TRUE(close("param", param.get(), ref.param, f ? 2e-6 : 1e-12, f ? 2e-6 : 1e-13));
  if (o.momentum != 0) {
    EXPECT_TRUE(close("momentum_buffer", buf.get(), ref.buf, f ? 2e-6 : 1e-12, f ? 2e-6 : 1e-13));
  } else {
    for (double x : buf.get()) ASSERT_TRUE(std::isnan(x)) << "no momentum: the buffer must not be touched";
  }
}

TEST_P(Optim, SgdStepsMatchReference) {
  std::vector<SgdOptions> configs(6);
  configs[0].lr = 0.1;  // plain
  configs[1].lr = 0.05;
  configs[1].momentum = 0.9;
  configs[2].lr = 0.05;
  configs[2].momentum = 0.9;
  configs[2].dampening = 0.1;
  configs[3].lr = 0.05;
  configs[3].momentum = 0.8;
  configs[3].nesterov = true;
  configs[4].lr = 0.05;
  configs[4].momentum = 0.5;
  configs[4].weight_decay = 0.1;
  configs[4].nesterov = true;
  configs[5].lr = 0.02;
  configs[5].weight_decay = 0.3;
  std::uint64_t seed = 77;
  for (const auto& o : configs)
    for (Idx n : {Idx{1}, Idx{5}, big_size(backend())}) {
      check_sgd<float>(backend(), o, n, ++seed);
      check_sgd<double>(backend(), o, n, ++seed);
    }
}

// momentum 0.9, dampening 0.5, lr 0.1 on one element, grads 1 then 2:
//   step 1: buf = 1,                 param = 1 - 0.1 = 0.9
//   step 2: buf = 0.9 + 0.5 * 2 = 1.9, param = 0.9 - 0.19 = 0.71
TEST_P(Optim, SgdFirstStepInitialisesBufferWithGrad) {
  SgdOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  o.dampening = 0.5;
  Buf<double> param(backend(), {1.0}), buf(backend(), 1), g1(backend(), {1.0}), g2(backend(), {2.0});
  NN_RUN(backend(), sgd_step<double>, o, true, 1, param.ptr(), g1.ptr(), buf.ptr());
  EXPECT_DOUBLE_EQ(buf.get()[0], 1.0);
  EXPECT_DOUBLE_EQ(param.get()[0], 0.9);
  NN_RUN(backend(), sgd_step<double>, o, false, 1, param.ptr(), g2.ptr(), buf.ptr());
  EXPECT_DOUBLE_EQ(buf.get()[0], 1.9);
  EXPECT_DOUBLE_EQ(param.get()[0], 0.71);
}

TEST_P(Optim, EmptyParameterIsANoOp) {
  AdamOptions a;
  SgdOptions s;
  s.momentum = 0.9;
  EXPECT_NO_THROW(NN_RUN(backend(), adam_step<float>, a, 1, 0, nullptr, nullptr, nullptr, nullptr));
  EXPECT_NO_THROW(NN_RUN(backend(), sgd_step<float>, s, true, 0, nullptr, nullptr, nullptr));
}

TEST_P(Optim, AdamOptionsValidation) {
  auto with = [](auto edit) {
    AdamOptions o;
    edit(o);
    return o;
  };
  STRIDER_EXPECT_THROW_MSG(with([](AdamOptions& o) { o.lr = -1; }).validate(), ValueError,
                           "invalid learning rate lr = -1", ">= 0");
  STRIDER_EXPECT_THROW_MSG(with([](AdamOptions& o) { o.lr = std::nan(""); }).validate(), ValueError, "lr = nan");
  STRIDER_EXPECT_THROW_MSG(with([](AdamOptions& o) { o.lr = INFINITY; }).validate(), ValueError, "lr = inf", "finite");
  STRIDER_EXPECT_THROW_MSG(with([](AdamOptions& o) { o.eps = -1e-8; }).validate(), ValueError, "eps = -1e-08");
  STRIDER_EXPECT_THROW_MSG(with([](AdamOptions& o) { o.beta1 = 1.0; }).validate(), ValueError, "beta1 = 1",
                           "[0, 1)");
  STRIDER_EXPECT_THROW_MSG(with([](AdamOptions& o) { o.beta1 = -0.5; }).validate(), ValueError, "beta1 = -0.5");
  STRIDER_EXPECT_THROW_MSG(with([](AdamOptions& o) { o.beta2 = 1.5; }).validate(), ValueError, "beta2 = 1.5",
                           "[0, 1)");
  STRIDER_EXPECT_THROW_MSG(with([](AdamOptions& o) { o.weight_decay = -0.1; }).validate(), ValueError,
                           "weight_decay = -0.1");
  EXPECT_NO_THROW(with([](AdamOptions& o) { o.lr = 0; o.eps = 0; o.beta1 = 0; o.beta2 = 0; }).validate());
  // The step functions validate too, on every backend, before touching anything.
  Buf<float> p(backend(), {1.0}), g(backend(), {1.0}), m(backend(), {0.0}), v(backend(), {0.0});
  const std::string where = backend() == Backend::Cpu ? "adam_step (cpu" : "adam_step (cuda";
  STRIDER_EXPECT_THROW_MSG(NN_RUN(backend(), adam_step<float>, with([](AdamOptions& o) { o.lr = -1; }), 1, 1,
                                  p.ptr(), g.ptr(), m.ptr(), v.ptr()),
                           ValueError, "invalid learning rate");
  STRIDER_EXPECT_THROW_MSG(NN_RUN(backend(), adam_step<float>, AdamOptions{}, 0, 1, p.ptr(), g.ptr(), m.ptr(), v.ptr()),
                           ValueError, where, "step = 0", "1 on the first step");
  STRIDER_EXPECT_THROW_MSG(NN_RUN(backend(), adam_step<float>, AdamOptions{}, 1, 1, p.ptr(), g.ptr(), nullptr, v.ptr()),
                           ValueError, where, "buffer exp_avg is null");
  STRIDER_EXPECT_THROW_MSG(NN_RUN(backend(), adam_step<float>, AdamOptions{}, 1, -1, p.ptr(), g.ptr(), m.ptr(), v.ptr()),
                           ShapeError, "n = -1 is negative");
  EXPECT_EQ(p.get()[0], 1.0);
}

TEST_P(Optim, SgdOptionsValidation) {
  auto with = [](auto edit) {
    SgdOptions o;
    edit(o);
    return o;
  };
  STRIDER_EXPECT_THROW_MSG(with([](SgdOptions& o) { o.lr = -0.1; }).validate(), ValueError,
                           "invalid learning rate lr = -0.1");
  STRIDER_EXPECT_THROW_MSG(with([](SgdOptions& o) { o.momentum = -0.9; }).validate(), ValueError,
                           "invalid momentum = -0.9");
  STRIDER_EXPECT_THROW_MSG(with([](SgdOptions& o) { o.weight_decay = -1; }).validate(), ValueError,
                           "invalid weight_decay = -1");
  STRIDER_EXPECT_THROW_MSG(with([](SgdOptions& o) { o.dampening = std::nan(""); }).validate(), ValueError,
                           "dampening = nan");
  STRIDER_EXPECT_THROW_MSG(with([](SgdOptions& o) { o.nesterov = true; }).validate(), ValueError,
                           "Nesterov momentum requires a momentum > 0 and zero dampening", "momentum = 0");
  STRIDER_EXPECT_THROW_MSG(with([](SgdOptions& o) {
                             o.nesterov = true;
                             o.momentum = 0.9;
                             o.dampening = 0.1;
                           }).validate(),
                           ValueError, "Nesterov", "dampening = 0.1");
  Buf<float> p(backend(), {1.0}), g(backend(), {1.0});
  STRIDER_EXPECT_THROW_MSG(NN_RUN(backend(), sgd_step<float>, with([](SgdOptions& o) { o.momentum = 0.9; }), true, 1,
                                  p.ptr(), g.ptr(), nullptr),
                           ValueError, backend() == Backend::Cpu ? "sgd_step (cpu" : "sgd_step (cuda",
                           "momentum_buffer (needed because momentum != 0) is null");
  // No momentum: the buffer may be null.
  NN_RUN(backend(), sgd_step<float>, with([](SgdOptions& o) { o.lr = 0.5; }), true, 1, p.ptr(), g.ptr(), nullptr);
  EXPECT_EQ(p.get()[0], 0.5);
}

INSTANTIATE_TEST_SUITE_P(Backends, Optim, ::testing::Values(Backend::Cpu, Backend::Cuda), backend_name);

}  // namespace
}  // namespace strider::nn_test
