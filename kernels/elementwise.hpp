// Elementwise, copy, fill, random and reduction kernels over strided tensors, for every backend.
//
// A `StridedGeom` describes one iteration space of up to kMaxDims dims and the element strides of
// up to three operands in it (0 = output, 1 = first input, 2 = second input); broadcasting is a
// stride of 0. core/ builds it (coalescing dims) and calls cpu:: or cuda:: with raw pointers.
// The scalar functions below are shared by the CPU loops and the CUDA kernels, so both backends
// compute each element with the same formula.
#pragma once

#include <cmath>
#include <cstdint>

#include <strider/kernels/cpu/gemm.hpp>
#include <strider/kernels/philox.hpp>  // STRIDER_HD

namespace strider::kernels {

constexpr int kGeomMaxDims = 8;

struct StridedGeom {
  int ndim = 0;
  std::int64_t numel = 0;
  std::int64_t sizes[kGeomMaxDims] = {};
  std::int64_t strides[3][kGeomMaxDims] = {};
};

// Element offset of linear (row-major) index `i` for operand `arg`.
STRIDER_HD std::int64_t geom_offset(const StridedGeom& g, int arg, std::int64_t i) {
  std::int64_t off = 0;
  for (int d = g.ndim - 1; d >= 0; --d) {
    const std::int64_t size = g.sizes[d];
    off += (i % size) * g.strides[arg][d];
    i /= size;
  }
  return off;
}

enum class UnaryOp : std::uint8_t {
  Copy, Neg, Exp, Log, Sqrt, Rsqrt, Abs, Tanh, Sigmoid, Relu, Sin, Cos, Square, Reciprocal, Sign,
  // with a scalar parameter `alpha`
  AddScalar,   // x + alpha
  MulScalar,   // x * alpha
  RSubScalar,  // alpha - x
  RDivScalar,  // alpha / x
  PowScalar,   // x ^ alpha
  ClampMin,    // max(x, alpha)
  ClampMax,    // min(x, alpha)
  LeakyRelu,   // x > 0 ? x : alpha * x
};

enum class BinaryOp : std::uint8_t {
  Add, Sub, Mul, Div, Pow, Maximum, Minimum,
  Eq, Gt,  // 1 where a == b / a > b, else 0
  // Fused backward ops: a is the upstream gradient g, b the saved input x or output y.
  ReluBackward,       // x > 0 ? g : 0
  LeakyReluBackward,  // x > 0 ? g : alpha * g
  TanhBackward,       // g * (1 - y^2)
  SigmoidBackward,    // g * y * (1 - y)
  MaskGe,             // x >= alpha ? g : 0   (clamp_min)
  MaskLe,             // x <= alpha ? g : 0   (clamp_max)
};

enum class ReduceOp : std::uint8_t { Sum, Max, Min };

template <class T>
STRIDER_HD T apply_unary(UnaryOp op, T x, T alpha) {
  using std::abs, std::cos, std::exp, std::log, std::pow, std::sin, std::sqrt, std::tanh;
  switch (op) {
    case UnaryOp::Copy: return x;
    case UnaryOp::Neg: return -x;
    case UnaryOp::Exp: return exp(x);
    case UnaryOp::Log: return log(x);
    case UnaryOp::Sqrt: return sqrt(x);
    case UnaryOp::Rsqrt: return T(1) / sqrt(x);
    case UnaryOp::Abs: return abs(x);
    case UnaryOp::Tanh: return tanh(x);
    // Stable for large |x|: never exp of a large positive number.
    case UnaryOp::Sigmoid: return x >= T(0) ? T(1) / (T(1) + exp(-x)) : exp(x) / (T(1) + exp(x));
    case UnaryOp::Relu: return x > T(0) ? x : T(0);
    case UnaryOp::Sin: return sin(x);
    case UnaryOp::Cos: return cos(x);
    case UnaryOp::Square: return x * x;
    case UnaryOp::Reciprocal: return T(1) / x;
    case UnaryOp::Sign: return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
    case UnaryOp::AddScalar: return x + alpha;
    case UnaryOp::MulScalar: return x * alpha;
    case UnaryOp::RSubScalar: return alpha - x;
    case UnaryOp::RDivScalar: return alpha / x;
    case UnaryOp::PowScalar: return alpha == T(2) ? x * x : pow(x, alpha);
    case UnaryOp::ClampMin: return x < alpha ? alpha : x;
    case UnaryOp::ClampMax: return x > alpha ? alpha : x;
    case UnaryOp::LeakyRelu: {  // both sides computed: a select, which vectorises, not a branch
      const T ax = alpha * x;
      return x > T(0) ? x : ax;
    }
  }
  return x;
}

template <class T>
STRIDER_HD T apply_binary(BinaryOp op, T a, T b, T alpha = T(0)) {
  using std::pow;
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
    case BinaryOp::Pow: return pow(a, b);
    // NaN-propagating, as PyTorch's maximum/minimum.
    case BinaryOp::Maximum: return (a != a || a > b) ? a : b;
    case BinaryOp::Minimum: return (a != a || a < b) ? a : b;
    case BinaryOp::Eq: return a == b ? T(1) : T(0);
    case BinaryOp::Gt: return a > b ? T(1) : T(0);
    case BinaryOp::ReluBackward: return b > T(0) ? a : T(0);
    case BinaryOp::LeakyReluBackward: {  // both sides computed: a select, not a branch
      const T aa = alpha * a;
      return b > T(0) ? a : aa;
    }
    case BinaryOp::TanhBackward: return a * (T(1) - b * b);
    case BinaryOp::SigmoidBackward: return a * b * (T(1) - b);
    case BinaryOp::MaskGe: return b >= alpha ? a : T(0);
    case BinaryOp::MaskLe: return b <= alpha ? a : T(0);
  }
  return a;
}

namespace cpu {
// out[g] = op(in[g]); operand 0 = out, 1 = in.
template <class T> void unary(UnaryOp op, T alpha, const StridedGeom& g, const T* in, T* out);
// out[g] = op(a[g], b[g]; alpha); operands 0 = out, 1 = a, 2 = b.
template <class T> void binary(BinaryOp op, T alpha, const StridedGeom& g, const T* a, const T* b, T* out);
// out[g] = Tout(in[g]); operands 0 = out, 1 = in.
template <class Tin, class Tout> void copy_cast(const StridedGeom& g, const Tin* in, Tout* out);
// out[g] = value; operand 0 = out.
template <class T> void fill(const StridedGeom& g, T value, T* out);
// Contiguous out[i] for i in [0, n): uniform [lo, hi) or normal(mean, std) at (seed, offset).
template <class T> void fill_uniform(T* out, std::int64_t n, std::uint64_t seed, std::uint64_t offset, double lo, double hi);
template <class T> void fill_normal(T* out, std::int64_t n, std::uint64_t seed, std::uint64_t offset, double mean, double std);
// Contiguous (rows, cols) input; out[r] = reduce over in[r, :]. Sums accumulate in double.
template <class T> void reduce_rows(ReduceOp op, const T* in, T* out, std::int64_t rows, std::int64_t cols);
// gemm(): kernels/cpu/gemm.hpp (included above).
}  // namespace cpu

}  // namespace strider::kernels
