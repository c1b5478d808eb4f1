// Tensor: a strided view (shape, strides, offset) into a reference-counted Storage, with a
// dtype and a device. Copying a Tensor copies the handle, not the data (as in PyTorch).
//
//   auto x = Tensor::randn({2, 3}, gen);                  // (2, 3) float32 on the CPU
//   auto y = (x * 2.0 + 1.0).sum({1});                    // (2,)
//   auto z = x.to(Device::cuda()).matmul(w.t());          // on the CUDA device
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include <strider/core/device.hpp>
#include <strider/core/dtype.hpp>
#include <strider/core/error.hpp>
#include <strider/core/random.hpp>
#include <strider/core/shape.hpp>
#include <strider/core/storage.hpp>

namespace strider {

struct AutogradMeta;  // core/autograd.hpp

// dtype + device for factories, PyTorch-C++ style: TensorOptions().dtype(DType::Float64).device(d)
struct TensorOptions {
  DType dtype_ = DType::Float32;
  Device device_ = Device::cpu();
  TensorOptions() = default;
  TensorOptions(DType t) : dtype_(t) {}    // NOLINT: implicit, as in PyTorch
  TensorOptions(Device d) : device_(d) {}  // NOLINT
  TensorOptions& dtype(DType t) { dtype_ = t; return *this; }
  TensorOptions& device(Device d) { device_ = d; return *this; }
};

struct TensorImpl {
  StoragePtr storage;
  Shape shape;
  Shape strides;
  std::int64_t offset = 0;  // in elements
  DType dtype = DType::Float32;
  std::shared_ptr<AutogradMeta> autograd;  // null until autograd is used on this tensor
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor; most calls on it throw ValueError
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories -------------------------------------------------------------------------
  static Tensor empty(const Shape& shape, TensorOptions opts = {});
  static Tensor zeros(const Shape& shape, TensorOptions opts = {});
  static Tensor ones(const Shape& shape, TensorOptions opts = {});
  static Tensor full(const Shape& shape, double value, TensorOptions opts = {});
  static Tensor scalar(double value, TensorOptions opts = {});  // 0-dim
  // Copies host data; data.size() must equal the shape's element count.
  static Tensor from_vector(const std::vector<float>& data, const Shape& shape, TensorOptions opts = {});
  static Tensor from_vector(const std::vector<double>& data, const Shape& shape, TensorOptions opts = {});
  // Copies numel elements of type `src_dtype` from host memory.
  static Tensor from_host(const void* data, DType src_dtype, const Shape& shape, TensorOptions opts = {});
  // [start, end) in steps of `step` (non-zero), 1-D.
  static Tensor arange(double start, double end, double step = 1.0, TensorOptions opts = {});
  static Tensor arange(double end, TensorOptions opts = {}) { return arange(0, end, 1, opts); }
  // Uniform [lo, hi) and normal(mean, std) from a counter-based generator: the same seed gives
  // the same numbers on every device. Without a generator, the global one (manual_seed).
  static Tensor rand(const Shape& shape, Generator& gen, TensorOptions opts = {}, double lo = 0, double hi = 1);
  static Tensor randn(const Shape& shape, Generator& gen, TensorOptions opts = {}, double mean = 0, double std = 1);
  static Tensor rand(const Shape& shape, TensorOptions opts = {});
  static Tensor randn(const Shape& shape, TensorOptions opts = {});

  // ---- properties -----------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  const Shape& sizes() const { return shape(); }
  const Shape& strides() const;
  std::int64_t size(std::int64_t dim) const;
  std::int64_t stride(std::int64_t dim) const;
  int dim() const { return static_cast<int>(shape().size()); }
  std::int64_t numel() const;
  std::int64_t offset() const;
  DType dtype() const;
  Device device() const;
  TensorOptions options() const { return TensorOptions(dtype()).device(device()); }
  bool is_contiguous() const;
  // Pointer to element [0, ..., 0] (storage data + offset). Device memory for CUDA tensors.
  void* data_ptr() const;
  template <class T> T* data() const;  // checks T matches dtype
  const StoragePtr& storage() const;
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& other) const { return impl_ == other.impl_; }

  // ---- views (share storage) --------------------------------------------------------------
  Tensor view(const Shape& shape) const;      // needs compatible strides; one size may be -1
  Tensor reshape(const Shape& shape) const;   // a view when possible, else a copy
  Tensor permute(const std::vector<std::int64_t>& dims) const;
  Tensor transpose(std::int64_t d0, std::int64_t d1) const;
  Tensor t() const;  // 2-D transpose (0-D/1-D returned as is)
  Tensor narrow(std::int64_t dim, std::int64_t start, std::int64_t length) const;
  Tensor slice(std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step = 1) const;
  Tensor select(std::int64_t dim, std::int64_t index) const;  // removes dim
  Tensor squeeze() const;
  Tensor squeeze(std::int64_t dim) const;
  Tensor unsqueeze(std::int64_t dim) const;
  Tensor flatten(std::int64_t start_dim = 0, std::int64_t end_dim = -1) const;
  Tensor expand(const Shape& shape) const;  // broadcast view (stride 0); -1 keeps a size
  Tensor as_strided(const Shape& shape, const Shape& strides, std::int64_t offset) const;

  // ---- copies ------------------------------------------------------------------------------
  Tensor contiguous() const;  // self when already contiguous
  Tensor clone() const;
  Tensor to(Device d) const;  // self when already there
  Tensor to(DType t) const;
  Tensor to(Device d, DType t) const;
  Tensor cpu() const { return to(Device::cpu()); }
  Tensor cuda(int index = 0) const { return to(Device::cuda(index)); }
  Tensor& copy_(const Tensor& src);  // broadcasts src, converts dtype, crosses devices
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  // Host copies of all elements in row-major order, converted to T.
  template <class T> std::vector<T> to_vector() const;
  void copy_to_host(void* dst, DType dst_dtype) const;

  // ---- element access (for tests and printing; slow on CUDA) ------------------------------
  double item() const;  // one-element tensors
  double at(const std::vector<std::int64_t>& index) const;
  void set(const std::vector<std::int64_t>& index, double value);

  // ---- math (core/ops.hpp has the free functions) ------------------------------------------
  Tensor operator-() const;
  Tensor sum(const std::vector<std::int64_t>& dims = {}, bool keepdim = false) const;
  Tensor mean(const std::vector<std::int64_t>& dims = {}, bool keepdim = false) const;
  Tensor max(const std::vector<std::int64_t>& dims = {}, bool keepdim = false) const;
  Tensor min(const std::vector<std::int64_t>& dims = {}, bool keepdim = false) const;
  Tensor matmul(const Tensor& other) const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor abs() const;
  Tensor tanh() const;
  Tensor sigmoid() const;
  Tensor relu() const;
  Tensor pow(double exponent) const;

  std::string str() const;  // PyTorch-style printing

  // ---- autograd (core/autograd.hpp) -----------------------------------------------------------
  bool requires_grad() const;
  // Marks a leaf tensor as a parameter/input whose gradient backward() computes.
  Tensor& requires_grad_(bool on = true);
  bool is_leaf() const;  // no grad_fn: created by the user, not by a recorded op
  std::shared_ptr<class Node> grad_fn() const;
  Tensor grad() const;  // undefined until a backward() reaches this tensor
  void set_grad(const Tensor& grad);
  // Undefined grad (set_to_none) or zeros in place.
  void zero_grad(bool set_to_none = true);
  // Keeps the gradient of a non-leaf tensor in grad() during the next backward().
  void retain_grad();
  // Backpropagates from this tensor: `grad` (same shape) defaults to 1 for a one-element tensor.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;
  // Same data, no history: never requires grad.
  Tensor detach() const;
  AutogradMeta& autograd_meta() const;  // created on first use

  // Throws ValueError when undefined, naming `what` (e.g. "sum").
  void check_defined(const char* what) const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

}  // namespace strider
