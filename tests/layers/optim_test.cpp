// Adam and SGD against steps computed by hand with torch.optim's rules (float64, so they agree to
// rounding), skipping parameters without gradients, hyper-parameter validation, and the state
// round trip with its errors.
#include <gtest/gtest.h>

#include <cmath>

#include "layers/layers_test_util.hpp"

namespace strider {
namespace {

using testing::all_close;

Tensor param(const std::vector<double>& v) {
  return Tensor::from_vector(v, {static_cast<std::int64_t>(v.size())}, DType::Float64).requires_grad_();
}
Tensor grad(const std::vector<double>& v) {
  return Tensor::from_vector(v, {static_cast<std::int64_t>(v.size())}, DType::Float64);
}

const std::vector<std::vector<double>> kGrads = {{0.1, -0.3, 0.2}, {-0.2, 0.1, 0.4}, {0.05, 0.05, -0.6}};

TEST(Optim, AdamMatchesTorchRule) {
  const double lr = 0.01, b1 = 0.5, b2 = 0.9, eps = 1e-6, wd = 0.1;
  Tensor p = param({1.0, -2.0, 0.5});
  optim::Adam opt({p}, optim::AdamOptions(lr).betas(b1, b2).eps(eps).weight_decay(wd));
  std::vector<double> ref{1.0, -2.0, 0.5}, m(3, 0), v(3, 0);
  for (size_t t = 1; t <= kGrads.size(); ++t) {
    p.set_grad(grad(kGrads[t - 1]));
    opt.step();
    for (size_t i = 0; i < 3; ++i) {
      const double g = kGrads[t - 1][i] + wd * ref[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      const double bc1 = 1 - std::pow(b1, t), bc2 = 1 - std::pow(b2, t);
      ref[i] -= lr / bc1 * m[i] / (std::sqrt(v[i]) / std::sqrt(bc2) + eps);
    }
    EXPECT_TRUE(all_close(p.to_vector<double>(), ref, 1e-12, 1e-14)) << "step " << t;
  }
  EXPECT_EQ(opt.step_count(0), 3);
  const auto st = opt.state_dict();
  EXPECT_TRUE(all_close(st.tensor("state.0.exp_avg")->to_vector<double>(), m, 1e-12, 1e-15));
  EXPECT_TRUE(all_close(st.tensor("state.0.exp_avg_sq")->to_vector<double>(), v, 1e-12, 1e-15));
  EXPECT_EQ(*st.scalar("state.0.step"), 3.0);
  EXPECT_EQ(*st.scalar("beta1"), 0.5);
}

TEST(Optim, SgdMomentumDampeningWeightDecayNesterovMatchTorchRule) {
  struct Case {
    double momentum, dampening, wd;
    bool nesterov;
  };
  for (const Case c : {Case{0, 0, 0, false}, Case{0.9, 0.1, 0.01, false}, Case{0.8, 0, 0.05, true}}) {
    const double lr = 0.1;
    Tensor p = param({1.0, -2.0, 0.5});
    optim::SGD opt(
        {p}, optim::SGDOptions(lr).momentum(c.momentum).dampening(c.dampening).weight_decay(c.wd).nesterov(c.nesterov));
    std::vector<double> ref{1.0, -2.0, 0.5}, buf(3, 0);
    for (size_t t = 1; t <= kGrads.size(); ++t) {
      p.set_grad(grad(kGrads[t - 1]));
      opt.step();
      for (size_t i = 0; i < 3; ++i) {
        double d = kGrads[t - 1][i] + c.wd * ref[i];
        if (c.momentum != 0) {
          buf[i] = t == 1 ? d : c.momentum * buf[i] + (1 - c.dampening) * d;
          d = c.nesterov ? d + c.momentum * buf[i] : buf[i];
        }
        ref[i] -= lr * d;
      }
      EXPECT_TRUE(all_close(p.to_vector<double>(), ref, 1e-12, 1e-14))
          << "momentum " << c.momentum << " nesterov " << c.nesterov << " step " << t;
    }
    EXPECT_EQ(opt.state_dict().tensors.size(), c.momentum != 0 ? 1u : 0u);
  }
}

TEST(Optim, StepSkipsParametersWithoutGradAndZeroGradClears) {
  Tensor a = param({1, 2}), b = param({3, 4});
  optim::Adam opt({a, b}, optim::AdamOptions(0.1));
  a.set_grad(grad({1, 1}));
  opt.step();
  EXPECT_EQ(b.to_vector<double>(), (std::vector<double>{3, 4}));
  EXPECT_NE(a.to_vector<double>(), (std::vector<double>{1, 2}));
  EXPECT_EQ(opt.step_count(0), 1);
  EXPECT_EQ(opt.step_count(1), 0);
  EXPECT_EQ(opt.state_dict().tensors.size(), 2u);  // only a's moments
  opt.zero_grad(false);
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{0, 0}));
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
  EXPECT_TRUE(grad_enabled());
}

TEST(Optim, HyperParametersAreValidated) {
  Tensor p = param({1});
  STRIDER_EXPECT_THROW_MSG(optim::Adam({p}, optim::AdamOptions(-1)), ValueError, "invalid learning rate lr = -1",
                           "DCGAN uses 2e-4");
  STRIDER_EXPECT_THROW_MSG(optim::Adam({p}, optim::AdamOptions(1e-3).betas(1.0, 0.999)), ValueError,
                           "invalid beta1 = 1; it must be in [0, 1)");
  STRIDER_EXPECT_THROW_MSG(optim::Adam({p}, optim::AdamOptions(1e-3).eps(-1)), ValueError, "invalid epsilon");
  STRIDER_EXPECT_THROW_MSG(optim::SGD({p}, optim::SGDOptions(0.1).nesterov(true)), ValueError,
                           "Nesterov momentum requires a momentum > 0 and zero dampening");
  STRIDER_EXPECT_THROW_MSG(optim::SGD({p}, optim::SGDOptions(0.1).weight_decay(-0.1)), ValueError,
                           "invalid weight_decay");
  optim::Adam opt({p}, optim::AdamOptions(2e-4));
  STRIDER_EXPECT_THROW_MSG(opt.set_lr(NAN), ValueError, "invalid learning rate");
  EXPECT_EQ(opt.lr(), 2e-4);
  opt.set_lr(1e-4);
  EXPECT_EQ(opt.lr(), 1e-4);
  STRIDER_EXPECT_THROW_MSG(optim::Adam({}, {}), ValueError, "Adam got an empty parameter list");
  STRIDER_EXPECT_THROW_MSG(optim::SGD({p * 2.0}, optim::SGDOptions(0.1)), ValueError, "parameter 0 [1] is not a leaf");
  STRIDER_EXPECT_THROW_MSG(optim::Adam({p, p}, {}), ValueError, "parameters 0 and 1 are the same tensor");
}

TEST(Optim, StateRoundTripContinuesIdentically) {
  auto run = [](optim::Optimizer& o, Tensor& p, size_t from, size_t to) {
    for (size_t t = from; t < to; ++t) {
      p.set_grad(grad(kGrads[t]));
      o.step();
    }
  };
  {
    Tensor a = param({1.0, -2.0, 0.5});
    optim::Adam oa({a}, optim::AdamOptions(0.05).betas(0.5, 0.999));
    run(oa, a, 0, 2);
    Tensor b = a.detach().clone().requires_grad_();
    optim::Adam ob({b}, optim::AdamOptions(1.0));  // hyper-parameters come from the state
    ob.load_state_dict(oa.state_dict());
    EXPECT_EQ(ob.lr(), 0.05);
    EXPECT_EQ(ob.step_count(0), 2);
    run(oa, a, 2, 3);
    run(ob, b, 2, 3);
    EXPECT_TRUE(all_close(b.to_vector<double>(), a.to_vector<double>(), 0, 0));
  }
  {
    Tensor a = param({1.0, -2.0, 0.5});
    optim::SGD oa({a}, optim::SGDOptions(0.1).momentum(0.9));
    run(oa, a, 0, 2);
    Tensor b = a.detach().clone().requires_grad_();
    optim::SGD ob({b}, optim::SGDOptions(0.3));
    ob.load_state_dict(oa.state_dict());
    EXPECT_EQ(ob.options().momentum(), 0.9);
    run(oa, a, 2, 3);
    run(ob, b, 2, 3);
    EXPECT_TRUE(all_close(b.to_vector<double>(), a.to_vector<double>(), 0, 0));
  }
}

TEST(Optim, LoadStateDictNamesEveryProblemAtOnce) {
  Tensor a = param({1, 2, 3}), b = param({4, 5});
  optim::Adam opt({a, b}, {});
  a.set_grad(grad({1, 1, 1}));
  b.set_grad(grad({1, 1}));
  opt.step();
  optim::OptimizerState st = opt.state_dict();
  st.scalars.erase(st.scalars.begin());  // lr missing
  for (auto& [n, t] : st.tensors) {
    if (n == "state.0.exp_avg") t = Tensor::zeros({4}, DType::Float64);  // mis-shaped
  }
  std::erase_if(st.scalars, [](const auto& s) { return s.first == "state.1.step"; });  // missing
  st.tensors.emplace_back("state.5.exp_avg", Tensor::zeros({1}));                      // unexpected
  const auto before = opt.state_dict().tensors[0].second.to_vector<double>();
  STRIDER_EXPECT_THROW_MSG(opt.load_state_dict(st), ValueError, "Adam::load_state_dict for 2 parameters",
                           "2 missing: lr, state.1.step", "1 unexpected: state.5.exp_avg",
                           "1 mis-shaped: state.0.exp_avg: [4], parameter [3]", "nothing was loaded");
  EXPECT_EQ(opt.state_dict().tensors[0].second.to_vector<double>(), before);
  EXPECT_EQ(opt.lr(), 1e-3);
}

}  // namespace
}  // namespace strider
