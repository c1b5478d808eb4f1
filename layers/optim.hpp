// Optimizers over a list of parameters: Adam and SGD with PyTorch's update rules (torch.optim), one
// fused core step per parameter tensor (core/nn.hpp adam_step / sgd_step) under a NoGradGuard.
//
//   optim::Adam opt(model->parameters(), optim::AdamOptions(2e-4).betas(0.5, 0.999));
//   opt.zero_grad();  loss.backward();  opt.step();
//
// Hyper-parameters are checked on construction and set_lr (ValueError naming the value and the
// fix). step() skips parameters without a gradient. An optimizer's state (per-parameter step counts
// and moment / momentum buffers, plus its hyper-parameters) is reachable as named tensors and
// scalars through state_dict() / load_state_dict(), so a checkpoint can save and restore it.
// Parameter i's entries are named "state.<i>.<what>", in the order of the parameter list.
#pragma once

#include <cstdint>
#include <optional>
#include <strider/core/tensor.hpp>
#include <strider/layers/options.hpp>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace strider::optim {

struct OptimizerState {
  std::vector<std::pair<std::string, Tensor>> tensors;  // "state.0.exp_avg", ...
  std::vector<std::pair<std::string, double>> scalars;  // "lr", "state.0.step", ...

  const Tensor* tensor(const std::string& name) const;
  std::optional<double> scalar(const std::string& name) const;
};

class Optimizer {
 public:
  // ValueError for an empty list, an undefined or non-leaf tensor, or a tensor listed twice.
  Optimizer(std::vector<Tensor> params, std::string name);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual void step() = 0;
  // Clears (set_to_none, as PyTorch's default) or zeroes every parameter's gradient.
  void zero_grad(bool set_to_none = true);
  const std::vector<Tensor>& parameters() const { return params_; }
  const std::string& name() const { return name_; }

  virtual double lr() const = 0;
  virtual void set_lr(double lr) = 0;

  virtual OptimizerState state_dict() const = 0;
  // Restores hyper-parameters and per-parameter state (copied to each parameter's device and dtype).
  // Checks everything first: missing, unexpected and mis-shaped entries are all named in one
  // ValueError and nothing is changed.
  virtual void load_state_dict(const OptimizerState& state) = 0;

 protected:
  // Validates `state` against `scalar_names` (required) and, for each parameter, the tensor
  // names in `tensor_names` (all or none present: a parameter that never stepped has none) and the
  // per-parameter scalars in `param_scalars`; throws the collected problems.
  void check_state(const OptimizerState& state, const std::vector<std::string>& scalar_names,
                   const std::vector<std::string>& tensor_names, const std::vector<std::string>& param_scalars) const;
  // A copy of `src` with the parameter's device and dtype.
  Tensor state_like(const Tensor& src, std::size_t param) const;

  std::vector<Tensor> params_;
  std::string name_;
};

class AdamOptions {
 public:
  AdamOptions(double lr = 1e-3) : lr_(lr) {}  // NOLINT: implicit, as PyTorch C++
  STRIDER_ARG(double, lr, 1e-3);
  STRIDER_ARG(double, eps, 1e-8);
  STRIDER_ARG(double, weight_decay, 0.0);  // L2 penalty added to the gradient (Adam, not AdamW)

 public:
  AdamOptions& betas(double beta1, double beta2) {
    betas_ = {beta1, beta2};
    return *this;
  }
  AdamOptions& betas(const std::tuple<double, double>& b) {
    betas_ = b;
    return *this;
  }
  const std::tuple<double, double>& betas() const { return betas_; }

 private:
  std::tuple<double, double> betas_{0.9, 0.999};
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, const AdamOptions& options = {});
  void step() override;
  double lr() const override { return options_.lr(); }
  void set_lr(double lr) override;
  const AdamOptions& options() const { return options_; }
  // Updates parameter i has had (0 before its first).
  std::int64_t step_count(std::size_t i) const { return state_.at(i).step; }

  // Scalars: lr, beta1, beta2, eps, weight_decay, state.<i>.step; tensors: state.<i>.exp_avg,
  // state.<i>.exp_avg_sq (for the parameters that have stepped).
  OptimizerState state_dict() const override;
  void load_state_dict(const OptimizerState& state) override;

 private:
  struct ParamState {
    std::int64_t step = 0;
    Tensor exp_avg, exp_avg_sq;
  };
  AdamOptions options_;
  std::vector<ParamState> state_;
};

class SGDOptions {
 public:
  SGDOptions(double lr) : lr_(lr) {}  // NOLINT: implicit
  STRIDER_ARG(double, lr, 1e-3);
  STRIDER_ARG(double, momentum, 0.0);
  STRIDER_ARG(double, dampening, 0.0);
  STRIDER_ARG(double, weight_decay, 0.0);
  STRIDER_ARG(bool, nesterov, false);
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, const SGDOptions& options);
  void step() override;
  double lr() const override { return options_.lr(); }
  void set_lr(double lr) override;
  const SGDOptions& options() const { return options_; }

  // Scalars: lr, momentum, dampening, weight_decay, nesterov (0/1); tensors: state.<i>.momentum_buffer
  // (for the parameters that have one).
  OptimizerState state_dict() const override;
  void load_state_dict(const OptimizerState& state) override;

 private:
  SGDOptions options_;
  std::vector<Tensor> momentum_buffers_;
};

}  // namespace strider::optim
