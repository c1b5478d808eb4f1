#include <strider/core/tensor.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include <strider/core/autograd.hpp>
#include <strider/core/detail/dispatch.hpp>
#include <strider/core/ops.hpp>

namespace strider {

// ---- construction ----------------------------------------------------------------------------

namespace {

Tensor make_tensor(StoragePtr storage, Shape shape, Shape strides, std::int64_t offset, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

// A view of t's storage with new geometry (autograd is not carried over; ops record it).
Tensor make_view(const Tensor& t, Shape shape, Shape strides, std::int64_t offset) {
  return make_tensor(t.storage(), std::move(shape), std::move(strides), offset, t.dtype());
}

using Grads = std::vector<Tensor>;

// Records `out` as a differentiable function of `in` with a gradient that depends only on g.
template <class F>
Tensor recorded(Tensor out, const Tensor& in, const char* name, F&& backward) {
  if (needs_grad({in}))
    record(out, name, {in}, [backward = std::forward<F>(backward)](const Tensor& g) -> Grads { return {backward(g)}; });
  return out;
}

}  // namespace

Tensor Tensor::empty(const Shape& shape, TensorOptions opts) {
  const std::int64_t n = checked_numel(shape);
  const auto bytes = static_cast<std::size_t>(n) * dtype_size(opts.dtype_);
  STRIDER_CHECK(n == 0 || bytes / static_cast<std::size_t>(n) == dtype_size(opts.dtype_), ShapeError,
                "shape " << shape_str(shape) << " needs more bytes than fit in memory addresses");
  auto storage = std::make_shared<Storage>(bytes, opts.device_);
  return make_tensor(std::move(storage), shape, contiguous_strides(shape), 0, opts.dtype_);
}

Tensor Tensor::full(const Shape& shape, double value, TensorOptions opts) {
  Tensor t = empty(shape, opts);
  t.fill_(value);
  return t;
}
Tensor Tensor::zeros(const Shape& shape, TensorOptions opts) { return full(shape, 0.0, opts); }
Tensor Tensor::ones(const Shape& shape, TensorOptions opts) { return full(shape, 1.0, opts); }
Tensor Tensor::scalar(double value, TensorOptions opts) { return full({}, value, opts); }

Tensor Tensor::from_host(const void* data, DType src_dtype, const Shape& shape, TensorOptions opts) {
  const std::int64_t n = checked_numel(shape);
  STRIDER_CHECK(data != nullptr || n == 0, ValueError, "from_host: data is null for shape " << shape_str(shape));
  if (src_dtype == opts.dtype_) {
    Tensor t = empty(shape, opts);
    copy_bytes(t.data_ptr(), t.device(), data, Device::cpu(), static_cast<std::size_t>(n) * dtype_size(src_dtype));
    return t;
  }
  // Wrap the host data without owning it is not possible with Storage; copy once, then convert.
  Tensor staging = empty(shape, TensorOptions(src_dtype));
  if (n) std::memcpy(staging.data_ptr(), data, static_cast<std::size_t>(n) * dtype_size(src_dtype));
  return staging.to(opts.device_, opts.dtype_);
}

Tensor Tensor::from_vector(const std::vector<float>& data, const Shape& shape, TensorOptions opts) {
  const std::int64_t n = checked_numel(shape);
  STRIDER_CHECK(static_cast<std::int64_t>(data.size()) == n, ShapeError,
                "from_vector: " << data.size() << " values cannot fill shape " << shape_str(shape) << " ("
                                << n << " elements); pass exactly " << n << " values or change the shape");
  return from_host(data.data(), DType::Float32, shape, opts);
}

Tensor Tensor::from_vector(const std::vector<double>& data, const Shape& shape, TensorOptions opts) {
  const std::int64_t n = checked_numel(shape);
  STRIDER_CHECK(static_cast<std::int64_t>(data.size()) == n, ShapeError,
                "from_vector: " << data.size() << " values cannot fill shape " << shape_str(shape) << " ("
                                << n << " elements); pass exactly " << n << " values or change the shape");
  return from_host(data.data(), DType::Float64, shape, opts);
}

Tensor Tensor::arange(double start, double end, double step, TensorOptions opts) {
  STRIDER_CHECK(step != 0 && std::isfinite(step) && std::isfinite(start) && std::isfinite(end), ValueError,
                "arange(" << start << ", " << end << ", " << step << "): start, end and step must be finite "
                          "and step non-zero");
  STRIDER_CHECK((step > 0 && end >= start) || (step < 0 && end <= start), ValueError,
                "arange(" << start << ", " << end << ", " << step << "): step " << step << " moves away from end "
                          << end << "; use a step of the other sign");
  const auto n = static_cast<std::int64_t>(std::ceil((end - start) / step));
  std::vector<double> v(static_cast<size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = start + static_cast<double>(i) * step;
  return from_vector(v, {n}, opts);
}

Tensor Tensor::rand(const Shape& shape, Generator& gen, TensorOptions opts, double lo, double hi) {
  STRIDER_CHECK(lo <= hi && std::isfinite(lo) && std::isfinite(hi), ValueError,
                "rand: bounds [" << lo << ", " << hi << ") must be finite with lo <= hi");
  Tensor t = empty(shape, opts);
  detail::run_random(t, false, gen.seed(), gen.take(t.numel()), lo, hi);
  return t;
}

Tensor Tensor::randn(const Shape& shape, Generator& gen, TensorOptions opts, double mean, double std) {
  STRIDER_CHECK(std >= 0 && std::isfinite(std) && std::isfinite(mean), ValueError,
                "randn: std " << std << " must be finite and >= 0, mean " << mean << " finite");
  Tensor t = empty(shape, opts);
  detail::run_random(t, true, gen.seed(), gen.take(t.numel()), mean, std);
  return t;
}

Tensor Tensor::rand(const Shape& shape, TensorOptions opts) { return rand(shape, default_generator(), opts); }
Tensor Tensor::randn(const Shape& shape, TensorOptions opts) { return randn(shape, default_generator(), opts); }

// ---- properties -------------------------------------------------------------------------------

void Tensor::check_defined(const char* what) const {
  STRIDER_CHECK(impl_ != nullptr, ValueError,
                what << ": the tensor is undefined (default-constructed); create it with a factory such as "
                        "Tensor::zeros first");
}

const Shape& Tensor::shape() const { check_defined("shape"); return impl_->shape; }
const Shape& Tensor::strides() const { check_defined("strides"); return impl_->strides; }
std::int64_t Tensor::size(std::int64_t d) const { return shape()[static_cast<size_t>(wrap_dim(d, dim(), "size"))]; }
std::int64_t Tensor::stride(std::int64_t d) const { return strides()[static_cast<size_t>(wrap_dim(d, dim(), "stride"))]; }
std::int64_t Tensor::numel() const { return checked_numel(shape()); }
std::int64_t Tensor::offset() const { check_defined("offset"); return impl_->offset; }
DType Tensor::dtype() const { check_defined("dtype"); return impl_->dtype; }
Device Tensor::device() const { check_defined("device"); return impl_->storage->device(); }
const StoragePtr& Tensor::storage() const { check_defined("storage"); return impl_->storage; }

bool Tensor::is_contiguous() const {
  const Shape& s = shape();
  std::int64_t expected = 1;
  for (size_t i = s.size(); i-- > 0;) {
    if (s[i] == 1) continue;
    if (impl_->strides[i] != expected) return false;
    expected *= s[i];
  }
  return true;
}

void* Tensor::data_ptr() const {
  check_defined("data_ptr");
  auto* base = static_cast<char*>(impl_->storage->data());
  return base ? base + impl_->offset * static_cast<std::int64_t>(dtype_size(impl_->dtype)) : nullptr;
}

template <class T> T* Tensor::data() const {
  STRIDER_CHECK(dtype() == dtype_of<T>::value, DTypeError,
                "data<" << dtype_name(dtype_of<T>::value) << ">() on a " << dtype() << " tensor; use data<"
                        << (dtype() == DType::Float32 ? "float" : "double") << ">() or convert with .to(DType)");
  return static_cast<T*>(data_ptr());
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;

// ---- views -----------------------------------------------------------------------------------

namespace {

// Infers one -1 size; checks the element count.
Shape infer_shape(const Shape& requested, std::int64_t numel, const Shape& from) {
  Shape s = requested;
  int infer = -1;
  std::int64_t known = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      STRIDER_CHECK(infer < 0, ShapeError, "reshape to " << shape_str(requested) << ": only one size may be -1");
      infer = static_cast<int>(i);
    } else {
      STRIDER_CHECK(s[i] >= 0, ShapeError, "reshape to " << shape_str(requested) << ": size " << s[i]
                                               << " at dim " << i << " is invalid; sizes must be >= 0 (or one -1)");
      known *= s[i];
    }
  }
  if (infer >= 0) {
    STRIDER_CHECK(known != 0 && numel % known == 0, ShapeError,
                  "cannot reshape " << shape_str(from) << " (" << numel << " elements) to " << shape_str(requested)
                                    << ": " << numel << " is not a multiple of " << known);
    s[static_cast<size_t>(infer)] = numel / known;
  }
  STRIDER_CHECK(checked_numel(s) == numel, ShapeError,
                "cannot reshape " << shape_str(from) << " (" << numel << " elements) to " << shape_str(s) << " ("
                                  << checked_numel(s) << " elements): element counts must match");
  return s;
}

// Strides for viewing (shape, strides) as new_shape without a copy, if possible (PyTorch's
// computeStride): each chunk of old dims that maps to new dims must be contiguous in itself.
bool view_strides(const Shape& shape, const Shape& strides, const Shape& new_shape, Shape& out) {
  out.assign(new_shape.size(), 0);
  const std::int64_t numel = checked_numel(shape);
  if (numel == 0 || shape.empty()) {  // empty, or 0-dim: any shape of that many elements
    out = contiguous_strides(new_shape);
    return true;
  }
  std::int64_t view_d = static_cast<std::int64_t>(new_shape.size()) - 1;
  std::int64_t chunk_base_stride = strides.empty() ? 1 : strides.back();
  std::int64_t tensor_numel = 1, view_numel = 1;
  for (std::int64_t d = static_cast<std::int64_t>(shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= shape[static_cast<size_t>(d)];
    if (d == 0 || (shape[static_cast<size_t>(d - 1)] != 1 &&
                   strides[static_cast<size_t>(d - 1)] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_shape[static_cast<size_t>(view_d)] == 1)) {
        out[static_cast<size_t>(view_d)] = view_numel * chunk_base_stride;
        view_numel *= new_shape[static_cast<size_t>(view_d)];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk_base_stride = strides[static_cast<size_t>(d - 1)];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

}  // namespace

Tensor Tensor::view(const Shape& new_shape) const {
  const Shape s = infer_shape(new_shape, numel(), shape());
  Shape st;
  STRIDER_CHECK(view_strides(shape(), strides(), s, st), ShapeError,
                "view " << shape_str(shape()) << " (strides " << shape_str(strides()) << ") as " << shape_str(s)
                        << ": the strides are not compatible with a view; use reshape() (which copies) or "
                           "call contiguous() first");
  return recorded(make_view(*this, s, st, offset()), *this, "ViewBackward",
                  [in = shape()](const Tensor& g) { return g.reshape(in); });
}

Tensor Tensor::reshape(const Shape& new_shape) const {
  const Shape s = infer_shape(new_shape, numel(), shape());
  Shape st;
  if (view_strides(shape(), strides(), s, st))
    return recorded(make_view(*this, s, st, offset()), *this, "ViewBackward",
                    [in = shape()](const Tensor& g) { return g.reshape(in); });
  return contiguous().view(s);
}

Tensor Tensor::permute(const std::vector<std::int64_t>& dims) const {
  const int n = dim();
  STRIDER_CHECK(static_cast<int>(dims.size()) == n, ShapeError,
                "permute: got " << dims.size() << " dims for a tensor of " << n << " dims (shape " << shape_str(shape())
                                << "); give each dim exactly once");
  Shape s(static_cast<size_t>(n)), st(static_cast<size_t>(n));
  std::vector<bool> seen(static_cast<size_t>(n), false);
  for (int i = 0; i < n; ++i) {
    const int d = wrap_dim(dims[static_cast<size_t>(i)], n, "permute");
    STRIDER_CHECK(!seen[static_cast<size_t>(d)], ShapeError,
                  "permute: dim " << d << " appears twice in " << shape_str(Shape(dims.begin(), dims.end()))
                                  << "; give each dim exactly once");
    seen[static_cast<size_t>(d)] = true;
    s[static_cast<size_t>(i)] = shape()[static_cast<size_t>(d)];
    st[static_cast<size_t>(i)] = strides()[static_cast<size_t>(d)];
  }
  std::vector<std::int64_t> inverse(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) inverse[static_cast<size_t>(wrap_dim(dims[static_cast<size_t>(i)], n))] = i;
  return recorded(make_view(*this, s, st, offset()), *this, "PermuteBackward",
                  [inverse](const Tensor& g) { return g.permute(inverse); });
}

Tensor Tensor::transpose(std::int64_t d0, std::int64_t d1) const {
  const int n = dim();
  const int a = wrap_dim(d0, n, "transpose"), b = wrap_dim(d1, n, "transpose");
  std::vector<std::int64_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  if (n > 0) std::swap(p[static_cast<size_t>(a)], p[static_cast<size_t>(b)]);
  return permute(p);
}

Tensor Tensor::t() const {
  STRIDER_CHECK(dim() <= 2, ShapeError, "t() expects a tensor of at most 2 dims, got shape " << shape_str(shape())
                                            << "; use transpose(d0, d1) or permute");
  return dim() < 2 ? *this : transpose(0, 1);
}

Tensor Tensor::slice(std::int64_t d, std::int64_t start, std::int64_t end, std::int64_t step) const {
  const int dd = wrap_dim(d, dim(), "slice");
  STRIDER_CHECK(dim() > 0, ShapeError, "slice: cannot slice a 0-dim tensor");
  STRIDER_CHECK(step > 0, ValueError, "slice: step " << step << " must be positive");
  const std::int64_t n = shape()[static_cast<size_t>(dd)];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<std::int64_t>(start, 0, n);
  end = std::clamp<std::int64_t>(end, start, n);
  Shape s = shape(), st = strides();
  s[static_cast<size_t>(dd)] = (end - start + step - 1) / step;
  st[static_cast<size_t>(dd)] *= step;
  return recorded(make_view(*this, s, st, offset() + start * strides()[static_cast<size_t>(dd)]), *this, "SliceBackward",
                  [in = shape(), dd, start, end, step](const Tensor& g) {
                    Tensor z = Tensor::zeros(in, g.options());
                    z.slice(dd, start, end, step).copy_(g);
                    return z;
                  });
}

Tensor Tensor::narrow(std::int64_t d, std::int64_t start, std::int64_t length) const {
  const int dd = wrap_dim(d, dim(), "narrow");
  STRIDER_CHECK(dim() > 0, ShapeError, "narrow: cannot narrow a 0-dim tensor");
  const std::int64_t n = shape()[static_cast<size_t>(dd)];
  if (start < 0 && start >= -n) start += n;
  STRIDER_CHECK(start >= 0 && length >= 0 && start <= n && start + length <= n, IndexError,
                "narrow(dim " << dd << ", start " << start << ", length " << length << ") is out of range for size "
                              << n << " (shape " << shape_str(shape()) << "): need 0 <= start and start + length <= " << n);
  Shape s = shape();
  s[static_cast<size_t>(dd)] = length;
  return recorded(make_view(*this, s, strides(), offset() + start * strides()[static_cast<size_t>(dd)]), *this,
                  "NarrowBackward", [in = shape(), dd, start, length](const Tensor& g) {
                    Tensor z = Tensor::zeros(in, g.options());
                    z.narrow(dd, start, length).copy_(g);
                    return z;
                  });
}

Tensor Tensor::select(std::int64_t d, std::int64_t index) const {
  STRIDER_CHECK(dim() > 0, IndexError, "select: cannot index a 0-dim tensor");
  const int dd = wrap_dim(d, dim(), "select");
  const std::int64_t n = shape()[static_cast<size_t>(dd)];
  STRIDER_CHECK(index >= -n && index < n, IndexError,
                "index " << index << " is out of range for dim " << dd << " of size " << n << " (shape "
                         << shape_str(shape()) << "): use an index in [" << -n << ", " << n - 1 << "]");
  if (index < 0) index += n;
  Shape s = shape(), st = strides();
  const std::int64_t off = offset() + index * st[static_cast<size_t>(dd)];
  s.erase(s.begin() + dd);
  st.erase(st.begin() + dd);
  return recorded(make_view(*this, s, st, off), *this, "SelectBackward", [in = shape(), dd, index](const Tensor& g) {
    Tensor z = Tensor::zeros(in, g.options());
    z.select(dd, index).copy_(g);
    return z;
  });
}

Tensor Tensor::squeeze() const {
  Shape s, st;
  for (int i = 0; i < dim(); ++i) {
    if (shape()[static_cast<size_t>(i)] == 1) continue;
    s.push_back(shape()[static_cast<size_t>(i)]);
    st.push_back(strides()[static_cast<size_t>(i)]);
  }
  return recorded(make_view(*this, s, st, offset()), *this, "SqueezeBackward",
                  [in = shape()](const Tensor& g) { return g.reshape(in); });
}

Tensor Tensor::squeeze(std::int64_t d) const {
  if (dim() == 0) return *this;
  const int dd = wrap_dim(d, dim(), "squeeze");
  if (shape()[static_cast<size_t>(dd)] != 1) return *this;  // PyTorch: a no-op for sizes != 1
  Shape s = shape(), st = strides();
  s.erase(s.begin() + dd);
  st.erase(st.begin() + dd);
  return recorded(make_view(*this, s, st, offset()), *this, "SqueezeBackward",
                  [in = shape()](const Tensor& g) { return g.reshape(in); });
}

Tensor Tensor::unsqueeze(std::int64_t d) const {
  const int dd = wrap_dim(d, dim() + 1, "unsqueeze");
  STRIDER_CHECK(dim() + 1 <= kMaxDims, ShapeError, "unsqueeze: strider tensors have at most " << kMaxDims << " dims");
  Shape s = shape(), st = strides();
  const std::int64_t new_stride = dd < dim() ? st[static_cast<size_t>(dd)] * s[static_cast<size_t>(dd)] : 1;
  s.insert(s.begin() + dd, 1);
  st.insert(st.begin() + dd, new_stride);
  return recorded(make_view(*this, s, st, offset()), *this, "UnsqueezeBackward",
                  [in = shape()](const Tensor& g) { return g.reshape(in); });
}

Tensor Tensor::flatten(std::int64_t start_dim, std::int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  const int a = wrap_dim(start_dim, dim(), "flatten"), b = wrap_dim(end_dim, dim(), "flatten");
  STRIDER_CHECK(a <= b, ShapeError, "flatten: start_dim " << a << " must not come after end_dim " << b);
  Shape s(shape().begin(), shape().begin() + a);
  std::int64_t n = 1;
  for (int i = a; i <= b; ++i) n *= shape()[static_cast<size_t>(i)];
  s.push_back(n);
  s.insert(s.end(), shape().begin() + b + 1, shape().end());
  return reshape(s);
}

Tensor Tensor::expand(const Shape& target) const {
  const int n = static_cast<int>(target.size());
  STRIDER_CHECK(n >= dim(), ShapeError, "expand " << shape_str(shape()) << " to " << shape_str(target)
                                           << ": the target has fewer dims than the tensor");
  Shape s(target.size()), st(target.size());
  for (int i = n - 1; i >= 0; --i) {
    const int j = i - (n - dim());
    const std::int64_t want = target[static_cast<size_t>(i)];
    if (j < 0) {
      STRIDER_CHECK(want >= 0, ShapeError, "expand to " << shape_str(target) << ": a new leading dim cannot be -1");
      s[static_cast<size_t>(i)] = want;
      st[static_cast<size_t>(i)] = 0;
      continue;
    }
    const std::int64_t have = shape()[static_cast<size_t>(j)];
    if (want == -1 || want == have) {
      s[static_cast<size_t>(i)] = have;
      st[static_cast<size_t>(i)] = strides()[static_cast<size_t>(j)];
    } else {
      STRIDER_CHECK(have == 1 && want >= 0, ShapeError,
                    "expand " << shape_str(shape()) << " to " << shape_str(target) << ": dim " << j << " has size "
                              << have << ", which can only expand when it is 1");
      s[static_cast<size_t>(i)] = want;
      st[static_cast<size_t>(i)] = 0;
    }
  }
  checked_numel(s);
  return recorded(make_view(*this, s, st, offset()), *this, "ExpandBackward",
                  [in = shape()](const Tensor& g) { return sum_to(g, in); });
}

Tensor Tensor::as_strided(const Shape& s, const Shape& st, std::int64_t off) const {
  STRIDER_CHECK(s.size() == st.size(), ShapeError, "as_strided: shape " << shape_str(s) << " and strides "
                                                      << shape_str(st) << " have different lengths");
  const std::int64_t n = checked_numel(s);
  std::int64_t last = off;
  for (size_t i = 0; i < s.size(); ++i) {
    STRIDER_CHECK(st[i] >= 0, ShapeError, "as_strided: negative stride " << st[i] << " at dim " << i);
    if (n > 0) last += (s[i] - 1) * st[i];
  }
  const auto capacity = static_cast<std::int64_t>(storage()->nbytes() / dtype_size(dtype()));
  STRIDER_CHECK(off >= 0 && (n == 0 || last < capacity), IndexError,
                "as_strided: shape " << shape_str(s) << " strides " << shape_str(st) << " offset " << off
                                     << " reaches element " << last << " of a storage of " << capacity << " elements");
  STRIDER_CHECK(!needs_grad({*this}), AutogradError,
                "as_strided is not differentiable in strider: call it on detach(), or use view/narrow/expand");
  return make_view(*this, s, st, off);
}

// ---- copies ----------------------------------------------------------------------------------

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), options());
  detail::run_copy(*this, out);
  return recorded(out, *this, "CloneBackward", [](const Tensor& g) { return g; });
}

Tensor Tensor::to(Device d, DType t) const {
  if (d == device() && t == dtype()) return *this;
  Tensor out = empty(shape(), TensorOptions(t).device(d));
  {
    NoGradGuard no_grad;
    out.copy_(*this);
  }
  return recorded(out, *this, "ToBackward", [d0 = device(), t0 = dtype()](const Tensor& g) { return g.to(d0, t0); });
}
Tensor Tensor::to(Device d) const { return to(d, dtype()); }
Tensor Tensor::to(DType t) const { return to(device(), t); }

Tensor& Tensor::copy_(const Tensor& src) {
  check_defined("copy_");
  src.check_defined("copy_ (source)");
  STRIDER_CHECK(!grad_enabled() || (!requires_grad() && !src.requires_grad()), AutogradError,
                "copy_ with a tensor that requires grad: in-place copies are not recorded by autograd; use clone() "
                "or to(), or copy under a NoGradGuard");
  const Shape b = broadcast_shapes(shape(), src.shape());
  STRIDER_CHECK(b == shape(), ShapeError,
                "copy_: source of shape " << shape_str(src.shape()) << " does not broadcast to the destination shape "
                                          << shape_str(shape()));
  if (src.device() == device()) {
    detail::run_copy(src.expand(shape()), *this);
    return *this;
  }
  // Across devices: make a contiguous copy in the destination's dtype on the source device,
  // move the bytes, then scatter into this view on its own device.
  Tensor packed = src.expand(shape()).to(src.device(), dtype()).contiguous();
  if (is_contiguous()) {
    copy_bytes(data_ptr(), device(), packed.data_ptr(), packed.device(), static_cast<size_t>(numel()) * dtype_size(dtype()));
  } else {
    Tensor staging = empty(shape(), options());
    copy_bytes(staging.data_ptr(), device(), packed.data_ptr(), packed.device(),
               static_cast<size_t>(numel()) * dtype_size(dtype()));
    detail::run_copy(staging, *this);
  }
  return *this;
}

Tensor& Tensor::fill_(double value) {
  check_defined("fill_");
  STRIDER_CHECK(!grad_enabled() || !requires_grad(), AutogradError,
                "fill_ on a tensor that requires grad: in-place changes are not recorded by autograd; fill under a "
                "NoGradGuard (e.g. when initialising parameters)");
  detail::run_fill(*this, value);
  return *this;
}

void Tensor::copy_to_host(void* dst, DType dst_dtype) const {
  const Tensor host = to(Device::cpu(), dst_dtype).contiguous();
  const auto n = static_cast<size_t>(numel());
  if (n) std::memcpy(dst, host.data_ptr(), n * dtype_size(dst_dtype));
}

template <class T> std::vector<T> Tensor::to_vector() const {
  std::vector<T> v(static_cast<size_t>(numel()));
  copy_to_host(v.data(), dtype_of<T>::value);
  return v;
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;

// ---- element access --------------------------------------------------------------------------

namespace {
std::int64_t element_offset(const Tensor& t, const std::vector<std::int64_t>& index) {
  STRIDER_CHECK(static_cast<int>(index.size()) == t.dim(), IndexError,
                "index with " << index.size() << " coordinates into a tensor of " << t.dim() << " dims (shape "
                              << shape_str(t.shape()) << "); give one coordinate per dim");
  std::int64_t off = t.offset();
  for (size_t i = 0; i < index.size(); ++i) {
    const std::int64_t n = t.shape()[i];
    std::int64_t k = index[i];
    STRIDER_CHECK(k >= -n && k < n, IndexError,
                  "index " << k << " is out of range for dim " << i << " of size " << n << " (shape "
                           << shape_str(t.shape()) << ")");
    if (k < 0) k += n;
    off += k * t.strides()[i];
  }
  return off;
}
}  // namespace

double Tensor::item() const {
  STRIDER_CHECK(numel() == 1, ShapeError, "item() needs exactly one element, the tensor has shape "
                                              << shape_str(shape()) << " (" << numel() << " elements)");
  return to(Device::cpu(), DType::Float64).contiguous().data<double>()[0];
}

double Tensor::at(const std::vector<std::int64_t>& index) const {
  const std::int64_t off = element_offset(*this, index);
  double v = 0;
  const auto* base = static_cast<const char*>(storage()->data()) + off * static_cast<std::int64_t>(dtype_size(dtype()));
  if (dtype() == DType::Float32) {
    float f;
    copy_bytes(&f, Device::cpu(), base, device(), sizeof f);
    v = f;
  } else {
    copy_bytes(&v, Device::cpu(), base, device(), sizeof v);
  }
  return v;
}

void Tensor::set(const std::vector<std::int64_t>& index, double value) {
  const std::int64_t off = element_offset(*this, index);
  auto* base = static_cast<char*>(storage()->data()) + off * static_cast<std::int64_t>(dtype_size(dtype()));
  if (dtype() == DType::Float32) {
    const auto f = static_cast<float>(value);
    copy_bytes(base, device(), &f, Device::cpu(), sizeof f);
  } else {
    copy_bytes(base, device(), &value, Device::cpu(), sizeof value);
  }
}

// ---- math shortcuts ------------------------------------------------------------------------------

Tensor Tensor::operator-() const { return neg(*this); }
Tensor Tensor::sum(const std::vector<std::int64_t>& d, bool k) const { return strider::sum(*this, d, k); }
Tensor Tensor::mean(const std::vector<std::int64_t>& d, bool k) const { return strider::mean(*this, d, k); }
Tensor Tensor::max(const std::vector<std::int64_t>& d, bool k) const { return strider::amax(*this, d, k); }
Tensor Tensor::min(const std::vector<std::int64_t>& d, bool k) const { return strider::amin(*this, d, k); }
Tensor Tensor::matmul(const Tensor& o) const { return strider::matmul(*this, o); }
Tensor Tensor::exp() const { return strider::exp(*this); }
Tensor Tensor::log() const { return strider::log(*this); }
Tensor Tensor::sqrt() const { return strider::sqrt(*this); }
Tensor Tensor::abs() const { return strider::abs(*this); }
Tensor Tensor::tanh() const { return strider::tanh(*this); }
Tensor Tensor::sigmoid() const { return strider::sigmoid(*this); }
Tensor Tensor::relu() const { return strider::relu(*this); }
Tensor Tensor::pow(double e) const { return strider::pow(*this, e); }

}  // namespace strider
