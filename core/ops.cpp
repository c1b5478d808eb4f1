#include <strider/core/ops.hpp>

#include <algorithm>
#include <cmath>

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

Tensor add(const Tensor& a, const Tensor& b) { return binary_op("add", k::BinaryOp::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary_op("sub", k::BinaryOp::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary_op("mul", k::BinaryOp::Mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary_op("div", k::BinaryOp::Div, a, b); }
Tensor pow(const Tensor& a, const Tensor& b) { return binary_op("pow", k::BinaryOp::Pow, a, b); }
Tensor maximum(const Tensor& a, const Tensor& b) { return binary_op("maximum", k::BinaryOp::Maximum, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return binary_op("minimum", k::BinaryOp::Minimum, a, b); }

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, double s) { return unary_op("add", k::UnaryOp::AddScalar, a, s); }
Tensor operator-(const Tensor& a, double s) { return unary_op("sub", k::UnaryOp::AddScalar, a, -s); }
Tensor operator*(const Tensor& a, double s) { return unary_op("mul", k::UnaryOp::MulScalar, a, s); }
Tensor operator/(const Tensor& a, double s) { return unary_op("div", k::UnaryOp::MulScalar, a, 1.0 / s); }
Tensor operator+(double s, const Tensor& a) { return a + s; }
Tensor operator-(double s, const Tensor& a) { return unary_op("rsub", k::UnaryOp::RSubScalar, a, s); }
Tensor operator*(double s, const Tensor& a) { return a * s; }
Tensor operator/(double s, const Tensor& a) { return unary_op("rdiv", k::UnaryOp::RDivScalar, a, s); }

Tensor& add_(Tensor& a, const Tensor& b) {
  check_same_device_dtype("add_", a, b);
  const Shape shape = broadcast_shapes(a.shape(), b.shape());
  STRIDER_CHECK(shape == a.shape(), ShapeError,
                "add_: " << shape_str(b.shape()) << " does not broadcast into the in-place target of shape "
                         << shape_str(a.shape()) << "; use out-of-place add");
  detail::run_binary(k::BinaryOp::Add, a, b.expand(shape), a);
  return a;
}

Tensor& mul_(Tensor& a, double s) {
  a.check_defined("mul_");
  detail::run_unary(k::UnaryOp::MulScalar, s, a, a);
  return a;
}

// ---- unary -------------------------------------------------------------------------------------

Tensor neg(const Tensor& x) { return unary_op("neg", k::UnaryOp::Neg, x); }
Tensor exp(const Tensor& x) { return unary_op("exp", k::UnaryOp::Exp, x); }
Tensor log(const Tensor& x) { return unary_op("log", k::UnaryOp::Log, x); }
Tensor sqrt(const Tensor& x) { return unary_op("sqrt", k::UnaryOp::Sqrt, x); }
Tensor rsqrt(const Tensor& x) { return unary_op("rsqrt", k::UnaryOp::Rsqrt, x); }
Tensor abs(const Tensor& x) { return unary_op("abs", k::UnaryOp::Abs, x); }
Tensor tanh(const Tensor& x) { return unary_op("tanh", k::UnaryOp::Tanh, x); }
Tensor sigmoid(const Tensor& x) { return unary_op("sigmoid", k::UnaryOp::Sigmoid, x); }
Tensor relu(const Tensor& x) { return unary_op("relu", k::UnaryOp::Relu, x); }
Tensor leaky_relu(const Tensor& x, double slope) { return unary_op("leaky_relu", k::UnaryOp::LeakyRelu, x, slope); }
Tensor sin(const Tensor& x) { return unary_op("sin", k::UnaryOp::Sin, x); }
Tensor cos(const Tensor& x) { return unary_op("cos", k::UnaryOp::Cos, x); }
Tensor square(const Tensor& x) { return unary_op("square", k::UnaryOp::Square, x); }
Tensor reciprocal(const Tensor& x) { return unary_op("reciprocal", k::UnaryOp::Reciprocal, x); }
Tensor sign(const Tensor& x) { return unary_op("sign", k::UnaryOp::Sign, x); }
Tensor pow(const Tensor& x, double e) { return unary_op("pow", k::UnaryOp::PowScalar, x, e); }
Tensor clamp_min(const Tensor& x, double lo) { return unary_op("clamp_min", k::UnaryOp::ClampMin, x, lo); }
Tensor clamp_max(const Tensor& x, double hi) { return unary_op("clamp_max", k::UnaryOp::ClampMax, x, hi); }
Tensor clamp(const Tensor& x, double lo, double hi) {
  STRIDER_CHECK(lo <= hi, ValueError, "clamp: lower bound " << lo << " is above upper bound " << hi);
  return clamp_max(clamp_min(x, lo), hi);
}

// ---- reductions --------------------------------------------------------------------------------

Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  return reduce("sum", k::ReduceOp::Sum, x, dims, keepdim, false);
}
Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  return reduce("mean", k::ReduceOp::Sum, x, dims, keepdim, true);
}
Tensor amax(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  return reduce("max", k::ReduceOp::Max, x, dims, keepdim, false);
}
Tensor amin(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  return reduce("min", k::ReduceOp::Min, x, dims, keepdim, false);
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

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
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
