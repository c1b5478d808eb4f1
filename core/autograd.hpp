// Reverse-mode automatic differentiation.
//
// Every differentiable op, when grad mode is on and one of its inputs requires grad, gives its
// output a grad_fn: a Node that maps the output's gradient to its inputs' gradients, with edges
// to the inputs' own nodes (or, for leaves, to an AccumulateGrad that adds into leaf.grad()).
// Tensor::backward() runs the nodes in dependency order. Saved tensors are stored detached (no
// grad_fn), so the graph has no reference cycles; backward itself runs with grad mode off (no
// higher-order gradients). Without retain_graph, each node drops its saved tensors after use and
// a second backward through it raises AutogradError.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <strider/core/tensor.hpp>

namespace strider {

class Node;

struct Edge {
  std::shared_ptr<Node> fn;
  bool valid() const { return fn != nullptr; }
};

class Node {
 public:
  virtual ~Node() = default;
  // Gradients of the forward op's inputs, one per edge in `next` (undefined where not needed).
  virtual std::vector<Tensor> apply(const Tensor& grad_output) = 0;
  virtual std::string name() const = 0;
  virtual void release() {}

  std::vector<Edge> next;
  bool released = false;
  std::uint64_t sequence_nr = 0;  // creation order: later nodes run first among ready ones
  std::weak_ptr<TensorImpl> retained_output;  // set by Tensor::retain_grad() on a non-leaf
};

using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct AutogradMeta {
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;          // null for leaves
  std::shared_ptr<Node> grad_accumulator;  // leaves that require grad (created on first use)
};

// ---- grad mode ---------------------------------------------------------------------------------
bool grad_enabled();
void set_grad_enabled(bool enabled);

// Disables recording in its scope (optimizer steps, evaluation), as torch.no_grad().
class NoGradGuard {
 public:
  NoGradGuard() : prev_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// ---- recording (used by op implementations) ----------------------------------------------------
// True when grad mode is on and some input requires grad.
bool needs_grad(const std::vector<Tensor>& inputs);
// Makes `out` the differentiable result of `name`(inputs): its grad_fn calls `backward` with the
// gradient of `out` and expects one gradient (or an undefined tensor) per input. No-op unless
// needs_grad(inputs).
void record(Tensor& out, const std::string& name, const std::vector<Tensor>& inputs, BackwardFn backward);

// Sums a broadcast gradient back down to `shape` (the inverse of expand).
Tensor sum_to(const Tensor& grad, const Shape& shape);

// Runs backward from `root` (see Tensor::backward).
void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph);

// ---- gradcheck ---------------------------------------------------------------------------------
struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0;
  std::string report;  // the first mismatches: input, flat index, analytical vs numerical
};

// Compares the analytical gradients of f at `inputs` (float64 CPU tensors; those with
// requires_grad are checked) with central finite differences: for a seeded random projection r,
// d/dx sum(f(x) * r) per element. Passes when |analytical - numerical| <= atol + rtol |numerical|.
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& inputs,
                          double eps = 1e-6, double atol = 1e-6, double rtol = 1e-4, std::uint64_t seed = 0);

}  // namespace strider
