// Adam and SGD (optim.hpp). The element updates are core's fused adam_step / sgd_step.
#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>
#include <strider/core/autograd.hpp>
#include <strider/core/nn.hpp>
#include <strider/kernels/optim.hpp>
#include <strider/layers/optim.hpp>

namespace strider::optim {
namespace {

std::string key(std::size_t i, const std::string& what) { return "state." + std::to_string(i) + "." + what; }

kernels::AdamOptions kernel_options(const AdamOptions& o) {
  kernels::AdamOptions k;
  k.lr = o.lr();
  k.beta1 = std::get<0>(o.betas());
  k.beta2 = std::get<1>(o.betas());
  k.eps = o.eps();
  k.weight_decay = o.weight_decay();
  return k;
}

kernels::SgdOptions kernel_options(const SGDOptions& o) {
  kernels::SgdOptions k;
  k.lr = o.lr();
  k.momentum = o.momentum();
  k.dampening = o.dampening();
  k.weight_decay = o.weight_decay();
  k.nesterov = o.nesterov();
  return k;
}

// State created on one device follows its parameter if the parameter moved since (Module::to).
void follow(Tensor& state, const Tensor& param) {
  if (state.defined() && (state.device() != param.device() || state.dtype() != param.dtype()))
    state = state.to(param.device(), param.dtype());
}

}  // namespace

const Tensor* OptimizerState::tensor(const std::string& name) const {
  for (const auto& [n, t] : tensors) {
    if (n == name) return &t;
  }
  return nullptr;
}

std::optional<double> OptimizerState::scalar(const std::string& name) const {
  for (const auto& [n, v] : scalars) {
    if (n == name) return v;
  }
  return std::nullopt;
}

// ---- Optimizer --------------------------------------------------------------------------------------

Optimizer::Optimizer(std::vector<Tensor> params, std::string name)
    : params_(std::move(params)), name_(std::move(name)) {
  STRIDER_CHECK(!params_.empty(), ValueError,
                name_ << " got an empty parameter list: pass model->parameters() (a model with parameters)");
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    STRIDER_CHECK(p.defined(), ValueError, name_ << ": parameter " << i << " is an undefined tensor");
    STRIDER_CHECK(p.is_leaf(), ValueError,
                  name_ << ": parameter " << i << " " << shape_str(p.shape())
                        << " is not a leaf (it was computed by an op): optimise the tensors you created, e.g. "
                           "module->parameters(), or pass x.detach().requires_grad_()");
    for (std::size_t j = 0; j < i; ++j) {
      STRIDER_CHECK(!params_[j].same(p), ValueError,
                    name_ << ": parameters " << j << " and " << i
                          << " are the same tensor; list each once (tied weights appear once in parameters())");
    }
  }
}

void Optimizer::zero_grad(bool set_to_none) {
  for (Tensor& p : params_) p.zero_grad(set_to_none);
}

Tensor Optimizer::state_like(const Tensor& src, std::size_t param) const {
  const Tensor& p = params_[param];
  return src.detach().to(p.device(), p.dtype()).clone().contiguous();
}

void Optimizer::check_state(const OptimizerState& state, const std::vector<std::string>& scalar_names,
                            const std::vector<std::string>& tensor_names,
                            const std::vector<std::string>& param_scalars) const {
  std::vector<std::string> missing, unexpected, misshaped;
  std::set<std::string> known(scalar_names.begin(), scalar_names.end());
  for (const auto& s : scalar_names) {
    if (!state.scalar(s)) missing.push_back(s);
  }
  for (std::size_t i = 0; i < params_.size(); ++i) {
    bool any = false;
    for (const auto& t : tensor_names) any = any || state.tensor(key(i, t));
    for (const auto& t : param_scalars) any = any || state.scalar(key(i, t));
    for (const auto& t : tensor_names) {
      known.insert(key(i, t));
      const Tensor* x = state.tensor(key(i, t));
      if (!x) {
        if (any) missing.push_back(key(i, t));
      } else if (!x->defined() || x->shape() != params_[i].shape()) {
        misshaped.push_back(key(i, t) + ": " + (x->defined() ? shape_str(x->shape()) : "undefined") + ", parameter " +
                            shape_str(params_[i].shape()));
      }
    }
    for (const auto& t : param_scalars) {
      known.insert(key(i, t));
      if (any && !state.scalar(key(i, t))) missing.push_back(key(i, t));
    }
  }
  for (const auto& [n, t] : state.tensors) {
    if (!known.count(n)) unexpected.push_back(n);
  }
  for (const auto& [n, v] : state.scalars) {
    if (!known.count(n)) unexpected.push_back(n);
  }
  if (missing.empty() && unexpected.empty() && misshaped.empty()) return;
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  };
  std::ostringstream os;
  os << name_ << "::load_state_dict for " << params_.size() << " parameters:";
  if (!missing.empty()) os << "\n  " << missing.size() << " missing: " << join(missing);
  if (!unexpected.empty())
    os << "\n  " << unexpected.size() << " unexpected: " << join(unexpected)
       << " (a state of an optimizer over more parameters, or of another optimizer type?)";
  if (!misshaped.empty()) os << "\n  " << misshaped.size() << " mis-shaped: " << join(misshaped);
  os << "\n  nothing was loaded. Fix: load the state saved by the same optimizer type over the same parameter "
        "list (same model, same order)";
  throw ValueError(os.str());
}

// ---- Adam -----------------------------------------------------------------------------------------------

Adam::Adam(std::vector<Tensor> params, const AdamOptions& options)
    : Optimizer(std::move(params), "Adam"), options_(options), state_(params_.size()) {
  kernel_options(options_).validate();
}

void Adam::set_lr(double lr) {
  AdamOptions o = options_;
  o.lr(lr);
  kernel_options(o).validate();
  options_ = o;
}

void Adam::step() {
  NoGradGuard no_grad;
  const kernels::AdamOptions k = kernel_options(options_);
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    const Tensor grad = p.grad();
    if (!grad.defined()) continue;
    ParamState& s = state_[i];
    if (!s.exp_avg.defined()) {
      s.exp_avg = Tensor::zeros(p.shape(), p.options());
      s.exp_avg_sq = Tensor::zeros(p.shape(), p.options());
    }
    follow(s.exp_avg, p);
    follow(s.exp_avg_sq, p);
    ++s.step;
    AdamStep a;
    a.lr = k.lr;
    a.beta1 = k.beta1;
    a.beta2 = k.beta2;
    a.eps = k.eps;
    a.weight_decay = k.weight_decay;
    a.step = s.step;
    adam_step(p, grad.contiguous(), s.exp_avg, s.exp_avg_sq, a);
  }
}

OptimizerState Adam::state_dict() const {
  OptimizerState st;
  st.scalars = {{"lr", options_.lr()},
                {"beta1", std::get<0>(options_.betas())},
                {"beta2", std::get<1>(options_.betas())},
                {"eps", options_.eps()},
                {"weight_decay", options_.weight_decay()}};
  for (std::size_t i = 0; i < state_.size(); ++i) {
    const ParamState& s = state_[i];
    if (s.step == 0 && !s.exp_avg.defined()) continue;
    st.scalars.emplace_back(key(i, "step"), static_cast<double>(s.step));
    st.tensors.emplace_back(key(i, "exp_avg"), s.exp_avg);
    st.tensors.emplace_back(key(i, "exp_avg_sq"), s.exp_avg_sq);
  }
  return st;
}

void Adam::load_state_dict(const OptimizerState& st) {
  check_state(st, {"lr", "beta1", "beta2", "eps", "weight_decay"}, {"exp_avg", "exp_avg_sq"}, {"step"});
  AdamOptions o = options_;
  o.lr(*st.scalar("lr")).betas(*st.scalar("beta1"), *st.scalar("beta2")).eps(*st.scalar("eps"));
  o.weight_decay(*st.scalar("weight_decay"));
  kernel_options(o).validate();
  std::vector<ParamState> loaded(params_.size());
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor* m = st.tensor(key(i, "exp_avg"));
    if (!m) continue;
    const double step = *st.scalar(key(i, "step"));
    STRIDER_CHECK(step >= 0 && step == std::floor(step), ValueError,
                  "Adam::load_state_dict: " << key(i, "step") << " = " << step << " must be a whole number >= 0");
    loaded[i].step = static_cast<std::int64_t>(step);
    loaded[i].exp_avg = state_like(*m, i);
    loaded[i].exp_avg_sq = state_like(*st.tensor(key(i, "exp_avg_sq")), i);
  }
  options_ = o;
  state_ = std::move(loaded);
}

// ---- SGD --------------------------------------------------------------------------------------------------

SGD::SGD(std::vector<Tensor> params, const SGDOptions& options)
    : Optimizer(std::move(params), "SGD"), options_(options), momentum_buffers_(params_.size()) {
  kernel_options(options_).validate();
}

void SGD::set_lr(double lr) {
  SGDOptions o = options_;
  o.lr(lr);
  kernel_options(o).validate();
  options_ = o;
}

void SGD::step() {
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    const Tensor grad = p.grad();
    if (!grad.defined()) continue;
    Tensor& buf = momentum_buffers_[i];
    SgdStep s;
    s.lr = options_.lr();
    s.momentum = options_.momentum();
    s.dampening = options_.dampening();
    s.weight_decay = options_.weight_decay();
    s.nesterov = options_.nesterov();
    s.first_step = !buf.defined();
    if (s.momentum != 0 && !buf.defined()) buf = Tensor::zeros(p.shape(), p.options());
    follow(buf, p);
    sgd_step(p, grad.contiguous(), buf, s);
  }
}

OptimizerState SGD::state_dict() const {
  OptimizerState st;
  st.scalars = {{"lr", options_.lr()},
                {"momentum", options_.momentum()},
                {"dampening", options_.dampening()},
                {"weight_decay", options_.weight_decay()},
                {"nesterov", options_.nesterov() ? 1.0 : 0.0}};
  for (std::size_t i = 0; i < momentum_buffers_.size(); ++i) {
    if (momentum_buffers_[i].defined()) st.tensors.emplace_back(key(i, "momentum_buffer"), momentum_buffers_[i]);
  }
  return st;
}

void SGD::load_state_dict(const OptimizerState& st) {
  check_state(st, {"lr", "momentum", "dampening", "weight_decay", "nesterov"}, {"momentum_buffer"}, {});
  SGDOptions o = options_;
  o.lr(*st.scalar("lr")).momentum(*st.scalar("momentum")).dampening(*st.scalar("dampening"));
  o.weight_decay(*st.scalar("weight_decay")).nesterov(*st.scalar("nesterov") != 0);
  kernel_options(o).validate();
  std::vector<Tensor> loaded(params_.size());
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (const Tensor* b = st.tensor(key(i, "momentum_buffer"))) loaded[i] = state_like(*b, i);
  }
  options_ = o;
  momentum_buffers_ = std::move(loaded);
}

}  // namespace strider::optim
