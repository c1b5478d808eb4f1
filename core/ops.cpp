#include <strider/core/ops.hpp>

#include <algorithm>
#include <cmath>

#include <strider/core/autograd.hpp>
#include <strider/core/detail/dispatch.hpp>

namespace strider {

namespace k = strider::kernels;

namespace {

void check_same_device_dtype(const char* op, const Tensor& a, const Tensor& b) {
  a.check_defined(op);
  b.check_defined(op);
  STRIDER_CHECK(a.device() == b.device(), DeviceError,
                op << ": tensors are on different devices (" << a.device() << " and " << b.device()
                   << "); move one with .to(" << a.device() << ") first");
  STRIDER_CHECK(a.dtype() == b.dtype(), DTypeError,
                op << ": tensors have different dtypes (" << a.dtype() << " and " << b.dtype()
                   << "); convert one with .to(DType::" << (a.dtype() == DType::Float32 ? "Float32" : "Float64")
                   << ") first");
}

Tensor binary_op(const char* name, k::BinaryOp op, const Tensor& a, const Tensor& b) {
  check_same_device_dtype(name, a, b);
  const Shape shape = broadcast_shapes(a.shape(), b.shape());
  Tensor out = Tensor::empty(shape, a.options());
  detail::run_binary(op, a.expand(shape), b.expand(shape), out);
  return out;
}

Tensor unary_op(const char* name, k::UnaryOp op, const Tensor& x, double alpha = 0) {
  x.check_defined(name);
  Tensor out = Tensor::empty(x.shape(), x.options());
  detail::run_unary(op, alpha, x, out);
  return out;
}

// Sorted, de-duplicated reduced dims (all dims when `dims` is empty).
std::vector<int> reduced_dims(const char* op, const Tensor& x, const std::vector<std::int64_t>& dims) {
  std::vector<int> out;
  if (dims.empty()) {
    for (int d = 0; d < x.dim(); ++d) out.push_back(d);
    return out;
  }
  for (auto d : dims) {
    const int w = wrap_dim(d, x.dim(), op);
    STRIDER_CHECK(std::find(out.begin(), out.end(), w) == out.end(), ShapeError,
                  op << ": dim " << w << " is listed twice; list each reduced dim once");
    out.push_back(w);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Tensor reduce(const char* name, k::ReduceOp op, const Tensor& x, const std::vector<std::int64_t>& dims,
              bool keepdim, bool mean) {
  x.check_defined(name);
  const std::vector<int> red = reduced_dims(name, x, dims);
  std::vector<std::int64_t> perm;
  Shape kept_shape, out_shape;
  std::int64_t rows = 1, cols = 1;
  for (int d = 0; d < x.dim(); ++d) {
    const bool r = std::find(red.begin(), red.end(), d) != red.end() && x.dim() > 0;
    const std::int64_t n = x.shape()[static_cast<size_t>(d)];
    if (r) {
      cols *= n;
      if (keepdim) out_shape.push_back(1);
    } else {
      perm.push_back(d);
      rows *= n;
      out_shape.push_back(n);
    }
  }
  for (int d : red) perm.push_back(d);
  if ((op == k::ReduceOp::Max || op == k::ReduceOp::Min) && cols == 0 && rows > 0) {
    STRIDER_THROW(ShapeError, name << ": cannot reduce over an empty dim (shape " << shape_str(x.shape())
                                   << "): max/min of no elements is undefined; reduce over non-empty dims");
  }
  Tensor out = Tensor::empty(out_shape, x.options());
  if (rows == 0) return out;
  if (cols == 0) {
    out.fill_(mean ? NAN : 0.0);
    return out;
  }
  const Tensor packed = x.dim() == 0 ? x.contiguous() : x.permute(perm).contiguous();
  detail::run_reduce_rows(op, packed, out, rows, cols);
  if (mean) detail::run_unary(k::UnaryOp::MulScalar, 1.0 / static_cast<double>(cols), out, out);
  return out;
}

}  // namespace

// ---- binary ------------------------------------------------------------------------------------
// Each op computes without history, then records its backward when an input requires grad.
// Backward closures capture detached inputs/outputs (no reference cycles).

using Grads = std::vector<Tensor>;

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_op("add", k::BinaryOp::Add, a, b);
  if (needs_grad({a, b}))
    record(out, "AddBackward", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) -> Grads {
      return {sum_to(g, sa), sum_to(g, sb)};
    });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_op("sub", k::BinaryOp::Sub, a, b);
  if (needs_grad({a, b}))
    record(out, "SubBackward", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) -> Grads {
      return {sum_to(g, sa), sum_to(neg(g), sb)};
    });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_op("mul", k::BinaryOp::Mul, a, b);
  if (needs_grad({a, b}))
    record(out, "MulBackward", {a, b}, [a = a.detach(), b = b.detach()](const Tensor& g) -> Grads {
      return {sum_to(mul(g, b), a.shape()), sum_to(mul(g, a), b.shape())};
    });
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_op("div", k::BinaryOp::Div, a, b);
  if (needs_grad({a, b}))
    record(out, "DivBackward", {a, b}, [a = a.detach(), b = b.detach()](const Tensor& g) -> Grads {
      const Tensor ga = div(g, b);
      return {sum_to(ga, a.shape()), sum_to(neg(mul(ga, div(a, b))), b.shape())};
    });
  return out;
}

Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor out = binary_op("pow", k::BinaryOp::Pow, a, b);
  if (needs_grad({a, b}))
    record(out, "PowBackward", {a, b}, [a = a.detach(), b = b.detach(), y = out.detach()](const Tensor& g) -> Grads {
      // d/da a^b = b a^(b-1); d/db a^b = a^b log(a) (taken as 0 where a == 0, as PyTorch).
      const Tensor ga = mul(g, mul(b, pow(a, sub(b, Tensor::ones({}, b.options())))));
      const Tensor safe_log = log(add(a, binary_op("eq", k::BinaryOp::Eq, a, Tensor::zeros({}, a.options()))));
      return {sum_to(ga, a.shape()), sum_to(mul(g, mul(y, safe_log)), b.shape())};
    });
  return out;
}

namespace {
// Gradient routing for maximum/minimum: all to the winner, split evenly on ties (PyTorch).
Grads extremum_backward(const Tensor& g, const Tensor& a, const Tensor& b, bool is_max) {
  const Tensor a_wins = is_max ? binary_op("gt", k::BinaryOp::Gt, a, b) : binary_op("gt", k::BinaryOp::Gt, b, a);
  const Tensor tie = binary_op("eq", k::BinaryOp::Eq, a, b);
  const Tensor share_a = add(a_wins, mul(tie, Tensor::full({}, 0.5, tie.options())));
  const Tensor share_b = sub(Tensor::ones({}, share_a.options()), share_a);
  return {sum_to(mul(g, share_a), a.shape()), sum_to(mul(g, share_b), b.shape())};
}
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) {
  Tensor out = binary_op("maximum", k::BinaryOp::Maximum, a, b);
  if (needs_grad({a, b}))
    record(out, "MaximumBackward", {a, b}, [a = a.detach(), b = b.detach()](const Tensor& g) -> Grads {
      return extremum_backward(g, a, b, true);
    });
  return out;
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  Tensor out = binary_op("minimum", k::BinaryOp::Minimum, a, b);
  if (needs_grad({a, b}))
    record(out, "MinimumBackward", {a, b}, [a = a.detach(), b = b.detach()](const Tensor& g) -> Grads {
      return extremum_backward(g, a, b, false);
    });
  return out;
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }

namespace {
// x op scalar, recorded with the given backward (a function of g, x and the output).
template <class Backward>
Tensor scalar_op(const char* name, const char* node, k::UnaryOp op, const Tensor& x, double alpha, Backward backward) {
  Tensor out = unary_op(name, op, x, alpha);
  if (needs_grad({x}))
    record(out, node, {x}, [x = x.detach(), y = out.detach(), backward](const Tensor& g) -> Grads {
      return {backward(g, x, y)};
    });
  return out;
}
}  // namespace

Tensor operator+(const Tensor& a, double s) {
  return scalar_op("add", "AddBackward", k::UnaryOp::AddScalar, a, s, [](const Tensor& g, const Tensor&, const Tensor&) { return g; });
}
Tensor operator-(const Tensor& a, double s) { return a + (-s); }
Tensor operator*(const Tensor& a, double s) {
  return scalar_op("mul", "MulBackward", k::UnaryOp::MulScalar, a, s,
                   [s](const Tensor& g, const Tensor&, const Tensor&) { return g * s; });
}
Tensor operator/(const Tensor& a, double s) { return a * (1.0 / s); }
Tensor operator+(double s, const Tensor& a) { return a + s; }
Tensor operator-(double s, const Tensor& a) {
  return scalar_op("rsub", "RsubBackward", k::UnaryOp::RSubScalar, a, s,
                   [](const Tensor& g, const Tensor&, const Tensor&) { return neg(g); });
}
Tensor operator*(double s, const Tensor& a) { return a * s; }
Tensor operator/(double s, const Tensor& a) {
  // d(s/x)/dx = -s/x^2 = -y^2/s; written as -y/x to stay finite for s == 0.
  return scalar_op("rdiv", "RdivBackward", k::UnaryOp::RDivScalar, a, s,
                   [](const Tensor& g, const Tensor& x, const Tensor& y) { return neg(mul(g, div(y, x))); });
}

namespace {
void check_inplace(const char* op, const Tensor& t) {
  STRIDER_CHECK(!(grad_enabled() && t.requires_grad()), AutogradError,
                op << " on a tensor that requires grad: in-place changes are not recorded by autograd. Use the "
                      "out-of-place op, or wrap parameter updates in a NoGradGuard");
}
}  // namespace

Tensor& add_(Tensor& a, const Tensor& b) {
  check_same_device_dtype("add_", a, b);
  check_inplace("add_", a);
  const Shape shape = broadcast_shapes(a.shape(), b.shape());
  STRIDER_CHECK(shape == a.shape(), ShapeError,
                "add_: " << shape_str(b.shape()) << " does not broadcast into the in-place target of shape "
                         << shape_str(a.shape()) << "; use out-of-place add");
  detail::run_binary(k::BinaryOp::Add, a, b.expand(shape), a);
  return a;
}

Tensor& mul_(Tensor& a, double s) {
  a.check_defined("mul_");
  check_inplace("mul_", a);
  detail::run_unary(k::UnaryOp::MulScalar, s, a, a);
  return a;
}

// ---- unary -------------------------------------------------------------------------------------

namespace {
// y = op(x) recorded with backward(g, x, y) -> grad x.
template <class Backward>
Tensor unary_grad_op(const char* name, const char* node, k::UnaryOp op, const Tensor& x, double alpha, Backward backward) {
  return scalar_op(name, node, op, x, alpha, backward);
}
Tensor fused(k::BinaryOp op, const Tensor& g, const Tensor& saved, double alpha = 0) {
  Tensor out = Tensor::empty(g.shape(), g.options());
  detail::run_binary(op, g, saved.expand(g.shape()), out, alpha);
  return out;
}
using GXY = const Tensor&;
}  // namespace

Tensor neg(const Tensor& x) {
  return unary_grad_op("neg", "NegBackward", k::UnaryOp::Neg, x, 0, [](GXY g, GXY, GXY) { return neg(g); });
}
Tensor exp(const Tensor& x) {
  return unary_grad_op("exp", "ExpBackward", k::UnaryOp::Exp, x, 0, [](GXY g, GXY, GXY y) { return mul(g, y); });
}
Tensor log(const Tensor& x) {
  return unary_grad_op("log", "LogBackward", k::UnaryOp::Log, x, 0, [](GXY g, GXY in, GXY) { return div(g, in); });
}
Tensor sqrt(const Tensor& x) {
  return unary_grad_op("sqrt", "SqrtBackward", k::UnaryOp::Sqrt, x, 0,
                       [](GXY g, GXY, GXY y) { return div(g, y * 2.0); });
}
Tensor rsqrt(const Tensor& x) {
  return unary_grad_op("rsqrt", "RsqrtBackward", k::UnaryOp::Rsqrt, x, 0,
                       [](GXY g, GXY, GXY y) { return mul(g, pow(y, 3.0)) * -0.5; });
}
Tensor abs(const Tensor& x) {
  return unary_grad_op("abs", "AbsBackward", k::UnaryOp::Abs, x, 0, [](GXY g, GXY in, GXY) { return mul(g, sign(in)); });
}
Tensor tanh(const Tensor& x) {
  return unary_grad_op("tanh", "TanhBackward", k::UnaryOp::Tanh, x, 0,
                       [](GXY g, GXY, GXY y) { return fused(k::BinaryOp::TanhBackward, g, y); });
}
Tensor sigmoid(const Tensor& x) {
  return unary_grad_op("sigmoid", "SigmoidBackward", k::UnaryOp::Sigmoid, x, 0,
                       [](GXY g, GXY, GXY y) { return fused(k::BinaryOp::SigmoidBackward, g, y); });
}
Tensor relu(const Tensor& x) {
  return unary_grad_op("relu", "ReluBackward", k::UnaryOp::Relu, x, 0,
                       [](GXY g, GXY in, GXY) { return fused(k::BinaryOp::ReluBackward, g, in); });
}
Tensor leaky_relu(const Tensor& x, double slope) {
  return unary_grad_op("leaky_relu", "LeakyReluBackward", k::UnaryOp::LeakyRelu, x, slope,
                       [slope](GXY g, GXY in, GXY) { return fused(k::BinaryOp::LeakyReluBackward, g, in, slope); });
}
Tensor sin(const Tensor& x) {
  return unary_grad_op("sin", "SinBackward", k::UnaryOp::Sin, x, 0, [](GXY g, GXY in, GXY) { return mul(g, cos(in)); });
}
Tensor cos(const Tensor& x) {
  return unary_grad_op("cos", "CosBackward", k::UnaryOp::Cos, x, 0,
                       [](GXY g, GXY in, GXY) { return neg(mul(g, sin(in))); });
}
Tensor square(const Tensor& x) {
  return unary_grad_op("square", "SquareBackward", k::UnaryOp::Square, x, 0,
                       [](GXY g, GXY in, GXY) { return mul(g, in) * 2.0; });
}
Tensor reciprocal(const Tensor& x) {
  return unary_grad_op("reciprocal", "ReciprocalBackward", k::UnaryOp::Reciprocal, x, 0,
                       [](GXY g, GXY, GXY y) { return neg(mul(g, mul(y, y))); });
}
Tensor sign(const Tensor& x) {
  return unary_grad_op("sign", "SignBackward", k::UnaryOp::Sign, x, 0,
                       [](GXY g, GXY, GXY) { return Tensor::zeros(g.shape(), g.options()); });
}
Tensor pow(const Tensor& x, double e) {
  return unary_grad_op("pow", "PowBackward", k::UnaryOp::PowScalar, x, e, [e](GXY g, GXY in, GXY) {
    if (e == 0) return Tensor::zeros(g.shape(), g.options());
    return mul(g, pow(in, e - 1)) * e;
  });
}
Tensor clamp_min(const Tensor& x, double lo) {
  return unary_grad_op("clamp_min", "ClampMinBackward", k::UnaryOp::ClampMin, x, lo,
                       [lo](GXY g, GXY in, GXY) { return fused(k::BinaryOp::MaskGe, g, in, lo); });
}
Tensor clamp_max(const Tensor& x, double hi) {
  return unary_grad_op("clamp_max", "ClampMaxBackward", k::UnaryOp::ClampMax, x, hi,
                       [hi](GXY g, GXY in, GXY) { return fused(k::BinaryOp::MaskLe, g, in, hi); });
}
Tensor clamp(const Tensor& x, double lo, double hi) {
  STRIDER_CHECK(lo <= hi, ValueError, "clamp: lower bound " << lo << " is above upper bound " << hi);
  return clamp_max(clamp_min(x, lo), hi);
}

// ---- reductions --------------------------------------------------------------------------------

namespace {
// The gradient of a reduction's output, shaped back to its input: unsqueeze the reduced dims
// (when keepdim was false), then broadcast.
Tensor expand_reduced(const Tensor& g, const Shape& in_shape, const std::vector<std::int64_t>& dims, bool keepdim) {
  Tensor r = g;
  if (!keepdim && !in_shape.empty()) {
    Shape kept = in_shape;
    const int nd = static_cast<int>(in_shape.size());
    if (dims.empty()) {
      std::fill(kept.begin(), kept.end(), 1);
    } else {
      for (auto d : dims) kept[static_cast<size_t>(wrap_dim(d, nd))] = 1;
    }
    r = r.reshape(kept);
  }
  return r.expand(in_shape);
}

double reduced_count(const Shape& in_shape, const std::vector<std::int64_t>& dims) {
  double n = 1;
  if (dims.empty()) {
    for (auto s : in_shape) n *= static_cast<double>(s);
  } else {
    for (auto d : dims) n *= static_cast<double>(in_shape[static_cast<size_t>(wrap_dim(d, static_cast<int>(in_shape.size())))]);
  }
  return n;
}

Tensor extremum(const char* name, const char* node, k::ReduceOp op, const Tensor& x, const std::vector<std::int64_t>& dims,
                bool keepdim) {
  Tensor out = reduce(name, op, x, dims, keepdim, false);
  if (needs_grad({x}))
    record(out, node, {x}, [x = x.detach(), y = out.detach(), dims, keepdim](const Tensor& g) -> Grads {
      // Evenly among the elements equal to the extremum, as PyTorch's amax/amin.
      const Tensor mask = binary_op("eq", k::BinaryOp::Eq, x, expand_reduced(y, x.shape(), dims, keepdim));
      const Tensor count = expand_reduced(reduce("sum", k::ReduceOp::Sum, mask, dims, keepdim, false), x.shape(), dims, keepdim);
      return {div(mul(expand_reduced(g, x.shape(), dims, keepdim), mask), count)};
    });
  return out;
}
}  // namespace

Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  Tensor out = reduce("sum", k::ReduceOp::Sum, x, dims, keepdim, false);
  if (needs_grad({x}))
    record(out, "SumBackward", {x}, [shape = x.shape(), dims, keepdim](const Tensor& g) -> Grads {
      return {expand_reduced(g, shape, dims, keepdim)};
    });
  return out;
}
Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  Tensor out = reduce("mean", k::ReduceOp::Sum, x, dims, keepdim, true);
  if (needs_grad({x}))
    record(out, "MeanBackward", {x}, [shape = x.shape(), dims, keepdim](const Tensor& g) -> Grads {
      return {expand_reduced(g, shape, dims, keepdim) * (1.0 / reduced_count(shape, dims))};
    });
  return out;
}
Tensor amax(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  return extremum("max", "AmaxBackward", k::ReduceOp::Max, x, dims, keepdim);
}
Tensor amin(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  return extremum("min", "AminBackward", k::ReduceOp::Min, x, dims, keepdim);
}

// ---- matmul ------------------------------------------------------------------------------------

namespace {

// How a (rows, cols) matrix view with strides (rs, cs) maps to a row-major BLAS operand.
struct GemmOperand {
  bool trans;
  std::int64_t ld;
};

bool as_gemm_operand(std::int64_t rows, std::int64_t cols, std::int64_t rs, std::int64_t cs, GemmOperand& op) {
  if (cs == 1 && (rs >= std::max<std::int64_t>(cols, 1) || rows == 1)) {
    op = {false, rows == 1 ? std::max<std::int64_t>(cols, 1) : rs};
    return true;
  }
  if (rs == 1 && (cs >= std::max<std::int64_t>(rows, 1) || cols == 1)) {
    op = {true, cols == 1 ? std::max<std::int64_t>(rows, 1) : cs};
    return true;
  }
  return false;
}

}  // namespace

Tensor matmul_impl(const Tensor& a_in, const Tensor& b_in) {
  check_same_device_dtype("matmul", a_in, b_in);
  STRIDER_CHECK(a_in.dim() >= 1 && b_in.dim() >= 1, ShapeError,
                "matmul: both operands need at least 1 dim, got shapes " << shape_str(a_in.shape()) << " and "
                                                                       << shape_str(b_in.shape()));
  const bool a_vec = a_in.dim() == 1, b_vec = b_in.dim() == 1;
  const Tensor a = a_vec ? a_in.unsqueeze(0) : a_in;   // (.., M, K)
  const Tensor b = b_vec ? b_in.unsqueeze(-1) : b_in;  // (.., K, N)
  const std::int64_t M = a.size(-2), K = a.size(-1), K2 = b.size(-2), N = b.size(-1);
  STRIDER_CHECK(K == K2, ShapeError,
                "matmul: shapes " << shape_str(a_in.shape()) << " and " << shape_str(b_in.shape())
                                  << " cannot be multiplied: the first has " << K << " columns, the second " << K2
                                  << " rows; these must be equal (transpose one operand?)");
  const Shape a_batch(a.shape().begin(), a.shape().end() - 2), b_batch(b.shape().begin(), b.shape().end() - 2);
  const Shape batch = broadcast_shapes(a_batch, b_batch);
  Shape a_full = batch, b_full = batch, out_shape = batch;
  a_full.insert(a_full.end(), {M, K});
  b_full.insert(b_full.end(), {K, N});
  out_shape.insert(out_shape.end(), {M, N});
  Tensor A = a.expand(a_full), B = b.expand(b_full);
  Tensor out = Tensor::empty(out_shape, a.options());
  const std::int64_t nb = checked_numel(batch);
  if (M > 0 && N > 0) {
    if (K == 0) {
      out.zero_();
    } else {
      GemmOperand oa{}, ob{};
      const int nd = static_cast<int>(out_shape.size());
      if (!as_gemm_operand(M, K, A.stride(nd - 2), A.stride(nd - 1), oa)) {
        A = A.contiguous();
        as_gemm_operand(M, K, A.stride(nd - 2), A.stride(nd - 1), oa);
      }
      if (!as_gemm_operand(K, N, B.stride(nd - 2), B.stride(nd - 1), ob)) {
        B = B.contiguous();
        as_gemm_operand(K, N, B.stride(nd - 2), B.stride(nd - 1), ob);
      }
      for (std::int64_t i = 0; i < nb; ++i) {
        // Offsets of batch i in each operand (batch strides may be 0: broadcast).
        std::int64_t rem = i, oa_off = 0, ob_off = 0;
        for (int d = static_cast<int>(batch.size()) - 1; d >= 0; --d) {
          const std::int64_t idx = rem % batch[static_cast<size_t>(d)];
          rem /= batch[static_cast<size_t>(d)];
          oa_off += idx * A.stride(d);
          ob_off += idx * B.stride(d);
        }
        detail::run_gemm(A, B, out, oa.trans, ob.trans, M, N, K, oa.ld, ob.ld, N, oa_off, ob_off, i * M * N, 1.0, 0.0);
      }
    }
  }
  if (a_vec) out = out.squeeze(-2);
  if (b_vec) out = out.squeeze(-1);
  return out;
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  Tensor out = matmul_impl(a, b);
  if (needs_grad({a, b}))
    record(out, "MatmulBackward", {a, b}, [a = a.detach(), b = b.detach()](const Tensor& g_in) -> Grads {
      // Work with matrices: vectors become (1, K) / (K, 1), and g gets the dims they lost.
      const Tensor A = a.dim() == 1 ? a.unsqueeze(0) : a, B = b.dim() == 1 ? b.unsqueeze(-1) : b;
      Tensor g = g_in;
      if (a.dim() == 1) g = g.unsqueeze(g.dim() == 0 || b.dim() == 1 ? 0 : -2);
      if (b.dim() == 1) g = g.unsqueeze(-1);
      const Tensor ga = sum_to(matmul_impl(g, B.transpose(-1, -2)), A.shape()).reshape(a.shape());
      const Tensor gb = sum_to(matmul_impl(A.transpose(-1, -2), g), B.shape()).reshape(b.shape());
      return {ga, gb};
    });
  return out;
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  STRIDER_CHECK(a.shape() == b.shape(), ShapeError,
                "allclose: shapes " << shape_str(a.shape()) << " and " << shape_str(b.shape()) << " differ");
  const auto va = a.to_vector<double>(), vb = b.to_vector<double>();
  for (size_t i = 0; i < va.size(); ++i) {
    if (!(std::fabs(va[i] - vb[i]) <= atol + rtol * std::fabs(vb[i]))) return false;
  }
  return true;
}

}  // namespace strider
