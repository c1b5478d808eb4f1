#include <strider/core/autograd.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <queue>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include <strider/core/ops.hpp>

namespace strider {

// ---- grad mode -------------------------------------------------------------------------------

namespace {
thread_local bool g_grad_enabled = true;
std::atomic<std::uint64_t> g_sequence{0};

class FunctionNode final : public Node {
 public:
  FunctionNode(std::string name, BackwardFn fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  std::vector<Tensor> apply(const Tensor& grad_output) override { return fn_(grad_output); }
  std::string name() const override { return name_; }
  void release() override { fn_ = nullptr; }

 private:
  std::string name_;
  BackwardFn fn_;
};

// Adds incoming gradients into a leaf's .grad.
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(const std::shared_ptr<TensorImpl>& leaf) : leaf_(leaf) {}
  std::vector<Tensor> apply(const Tensor& g) override {
    if (auto impl = leaf_.lock()) {
      Tensor leaf(impl);
      AutogradMeta& meta = leaf.autograd_meta();
      if (!meta.grad.defined()) {
        meta.grad = g.is_contiguous() ? g.clone() : g.contiguous();
      } else {
        add_(meta.grad, g);
      }
    }
    return {};
  }
  std::string name() const override { return "AccumulateGrad"; }

 private:
  std::weak_ptr<TensorImpl> leaf_;
};

Edge gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return {};
  AutogradMeta& meta = t.autograd_meta();
  if (meta.grad_fn) return {meta.grad_fn};
  if (!meta.grad_accumulator) meta.grad_accumulator = std::make_shared<AccumulateGrad>(t.impl_ptr());
  return {meta.grad_accumulator};
}

}  // namespace

bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool enabled) { g_grad_enabled = enabled; }

// ---- Tensor's autograd surface ---------------------------------------------------------------

AutogradMeta& Tensor::autograd_meta() const {
  check_defined("autograd");
  if (!impl_->autograd) impl_->autograd = std::make_shared<AutogradMeta>();
  return *impl_->autograd;
}

bool Tensor::requires_grad() const { return defined() && impl_->autograd && impl_->autograd->requires_grad; }

Tensor& Tensor::requires_grad_(bool on) {
  check_defined("requires_grad_");
  STRIDER_CHECK(is_leaf() || on, AutogradError,
                "requires_grad_(false) on a non-leaf tensor (the result of " << grad_fn()->name()
                    << "): only leaves can stop requiring grad; use detach() to cut the history");
  autograd_meta().requires_grad = on;
  return *this;
}

bool Tensor::is_leaf() const { return !(impl_ && impl_->autograd && impl_->autograd->grad_fn); }

std::shared_ptr<Node> Tensor::grad_fn() const {
  return impl_ && impl_->autograd ? impl_->autograd->grad_fn : nullptr;
}

Tensor Tensor::grad() const { return impl_ && impl_->autograd ? impl_->autograd->grad : Tensor(); }

void Tensor::set_grad(const Tensor& g) {
  if (g.defined()) {
    STRIDER_CHECK(g.shape() == shape() && g.dtype() == dtype() && g.device() == device(), ShapeError,
                  "set_grad: gradient " << shape_str(g.shape()) << " " << g.dtype() << " on " << g.device()
                                        << " does not match the tensor " << shape_str(shape()) << " " << dtype()
                                        << " on " << device());
  }
  autograd_meta().grad = g;
}

void Tensor::zero_grad(bool set_to_none) {
  if (!impl_ || !impl_->autograd || !impl_->autograd->grad.defined()) return;
  if (set_to_none) impl_->autograd->grad = Tensor();
  else impl_->autograd->grad.zero_();
}

void Tensor::retain_grad() {
  STRIDER_CHECK(requires_grad(), AutogradError,
                "retain_grad() on a tensor that does not require grad: no gradient will reach it");
  if (is_leaf()) return;  // leaves keep their grad anyway
  grad_fn()->retained_output = impl_;
}

void Tensor::backward(const Tensor& g, bool retain_graph) const { run_backward(*this, g, retain_graph); }

Tensor Tensor::detach() const {
  check_defined("detach");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->shape = impl_->shape;
  impl->strides = impl_->strides;
  impl->offset = impl_->offset;
  impl->dtype = impl_->dtype;
  return Tensor(std::move(impl));
}

// ---- recording -------------------------------------------------------------------------------

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  return std::any_of(inputs.begin(), inputs.end(), [](const Tensor& t) { return t.requires_grad(); });
}

void record(Tensor& out, const std::string& name, const std::vector<Tensor>& inputs, BackwardFn backward) {
  if (!needs_grad(inputs)) return;
  auto node = std::make_shared<FunctionNode>(name, std::move(backward));
  node->sequence_nr = g_sequence++;
  node->next.reserve(inputs.size());
  for (const Tensor& t : inputs) node->next.push_back(gradient_edge(t));
  // `out` may share its TensorImpl with nothing else yet; give it fresh autograd metadata.
  AutogradMeta& meta = out.autograd_meta();
  meta.requires_grad = true;
  meta.grad_fn = std::move(node);
}

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  if (grad.shape() == shape) return grad;
  const int lead = grad.dim() - static_cast<int>(shape.size());
  STRIDER_CHECK(lead >= 0, ShapeError, "sum_to: gradient " << shape_str(grad.shape()) << " has fewer dims than "
                                                            << shape_str(shape));
  std::vector<std::int64_t> dims;
  for (int d = 0; d < grad.dim(); ++d) {
    if (d < lead) dims.push_back(d);
    else if (shape[static_cast<size_t>(d - lead)] == 1 && grad.size(d) != 1) dims.push_back(d);
  }
  Tensor r = dims.empty() ? grad : sum(grad, dims, true);
  return r.reshape(shape);
}

// ---- the engine --------------------------------------------------------------------------------

void run_backward(const Tensor& root, const Tensor& grad_in, bool retain_graph) {
  root.check_defined("backward");
  STRIDER_CHECK(root.requires_grad(), AutogradError,
                "backward() on a tensor that does not require grad and has no grad_fn: none of the tensors it was "
                "computed from requires grad (call requires_grad_() on the parameters or inputs), or it was computed "
                "under NoGradGuard");
  Tensor grad = grad_in;
  if (!grad.defined()) {
    STRIDER_CHECK(root.numel() == 1, AutogradError,
                  "backward() without a gradient needs a one-element output, got shape " << shape_str(root.shape())
                      << "; reduce it first (e.g. .sum() or .mean()) or pass a gradient of that shape");
    grad = Tensor::ones(root.shape(), root.options());
  }
  STRIDER_CHECK(grad.shape() == root.shape(), ShapeError,
                "backward(): gradient shape " << shape_str(grad.shape()) << " does not match the output shape "
                                              << shape_str(root.shape()));
  STRIDER_CHECK(grad.dtype() == root.dtype() && grad.device() == root.device(), DTypeError,
                "backward(): gradient is " << grad.dtype() << " on " << grad.device() << ", the output "
                                           << root.dtype() << " on " << root.device());
  NoGradGuard no_grad;
  const Edge start = gradient_edge(root);

  // Count, for every node reachable from the root, how many edges point at it.
  std::unordered_map<Node*, int> dependencies;
  std::unordered_map<Node*, std::shared_ptr<Node>> keep_alive;
  std::vector<Node*> stack{start.fn.get()};
  keep_alive[start.fn.get()] = start.fn;
  std::unordered_set<Node*> seen{start.fn.get()};
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next) {
      if (!e.valid()) continue;
      ++dependencies[e.fn.get()];
      if (seen.insert(e.fn.get()).second) {
        keep_alive[e.fn.get()] = e.fn;
        stack.push_back(e.fn.get());
      }
    }
  }

  auto later_first = [](Node* a, Node* b) { return a->sequence_nr < b->sequence_nr; };
  std::priority_queue<Node*, std::vector<Node*>, decltype(later_first)> ready(later_first);
  std::unordered_map<Node*, Tensor> buffers;
  buffers[start.fn.get()] = grad;
  ready.push(start.fn.get());
  while (!ready.empty()) {
    Node* n = ready.top();
    ready.pop();
    Tensor g = std::move(buffers[n]);
    buffers.erase(n);
    STRIDER_CHECK(!n->released, AutogradError,
                  "backward through the graph a second time: the saved tensors of " << n->name()
                      << " were freed by the first backward(). Pass retain_graph=true to the first backward() to "
                         "backward twice, or run the forward pass again");
    if (auto out = n->retained_output.lock()) {
      Tensor t(out);
      AutogradMeta& meta = t.autograd_meta();
      meta.grad = meta.grad.defined() ? add(meta.grad, g) : g.clone();
    }
    std::vector<Tensor> grads = n->apply(g);
    if (!retain_graph && dynamic_cast<AccumulateGrad*>(n) == nullptr) {
      n->release();
      n->released = true;
    }
    for (size_t i = 0; i < n->next.size(); ++i) {
      const Edge& e = n->next[i];
      if (!e.valid()) continue;
      Node* m = e.fn.get();
      if (i < grads.size() && grads[i].defined()) {
        auto it = buffers.find(m);
        if (it == buffers.end() || !it->second.defined()) buffers[m] = grads[i];
        else it->second = add(it->second, grads[i]);
      }
      if (--dependencies[m] == 0) {
        if (buffers.count(m) && buffers[m].defined()) ready.push(m);
        else buffers.erase(m);  // no gradient flowed into it: nothing to run
      }
    }
  }
}

// ---- gradcheck -----------------------------------------------------------------------------------

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& inputs,
                          double eps, double atol, double rtol, std::uint64_t seed) {
  for (const Tensor& t : inputs) {
    STRIDER_CHECK(t.dtype() == DType::Float64 && t.device().is_cpu(), DTypeError,
                  "gradcheck needs float64 CPU inputs (finite differences in float32 are too coarse); got "
                      << t.dtype() << " on " << t.device() << ": use .to(Device::cpu(), DType::Float64)");
  }
  GradcheckResult result;
  // Analytical: grad of L = sum(f(x) * r).
  std::vector<Tensor> xs;
  for (const Tensor& t : inputs) {
    Tensor c = t.detach().clone();
    if (t.requires_grad()) c.requires_grad_();
    xs.push_back(c);
  }
  const Tensor y0 = f(xs);
  Generator gen(seed);
  const Tensor r = Tensor::randn(y0.shape(), gen, y0.options());
  const Tensor loss = sum(mul(y0, r));
  if (loss.requires_grad()) loss.backward();
  std::ostringstream report;
  int reported = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (!inputs[i].requires_grad()) continue;
    const Tensor analytical = xs[i].grad().defined() ? xs[i].grad() : Tensor::zeros(xs[i].shape(), xs[i].options());
    const std::vector<double> an = analytical.to_vector<double>();
    Tensor x = xs[i].detach();  // perturbed in place: shares storage with xs[i]
    Tensor flat = x.contiguous();
    double* data = flat.data<double>();
    for (std::int64_t k = 0; k < x.numel(); ++k) {
      NoGradGuard ng;
      const double orig = data[k];
      data[k] = orig + eps;
      const double lp = sum(mul(f(xs), r)).item();
      data[k] = orig - eps;
      const double lm = sum(mul(f(xs), r)).item();
      data[k] = orig;
      const double numerical = (lp - lm) / (2 * eps);
      const double err = std::fabs(an[static_cast<size_t>(k)] - numerical);
      result.max_abs_error = std::max(result.max_abs_error, err);
      if (!(err <= atol + rtol * std::fabs(numerical))) {
        result.ok = false;
        if (reported++ < 5)
          report << "input " << i << " element " << k << ": analytical " << an[static_cast<size_t>(k)] << ", numerical "
                 << numerical << "\n";
      }
    }
  }
  result.report = report.str();
  return result;
}

}  // namespace strider
