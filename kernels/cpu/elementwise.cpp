// CPU loops for kernels/elementwise.hpp.
//
// The iteration space is split into rows along its innermost dim; rows are spread over OpenMP
// threads when there is enough work, and each row runs a tight loop with the operands' innermost
// strides (unit strides vectorise). The op switch is hoisted out of the loop by dispatching to a
// template instantiation per op.
#include <strider/kernels/elementwise.hpp>

#include <omp.h>


#include <algorithm>
#include <type_traits>

#include <strider/core/error.hpp>

namespace strider::kernels::cpu {
namespace {

constexpr std::int64_t kParallelGrain = 32768;  // elements; below this one thread is faster
constexpr std::int64_t kMinPiece = 4096;        // elements of a row piece a thread takes

// Calls body(n, off0, off1, off2, inner0, inner1, inner2) for each innermost row, or for pieces of
// one: make_geom merges contiguous dims, so a contiguous tensor is a single row, and long rows are
// cut into pieces of at least kMinPiece elements so that every thread gets a share.
template <int NArgs, class Body>
void for_each_row(const StridedGeom& g, Body&& body) {
  if (g.numel == 0) return;
  const int nd = g.ndim;
  const std::int64_t row_len = nd == 0 ? 1 : g.sizes[nd - 1];
  const std::int64_t rows = g.numel / row_len;
  std::int64_t inner[3] = {0, 0, 0};
  for (int a = 0; a < NArgs; ++a) inner[a] = nd == 0 ? 0 : g.strides[a][nd - 1];
  const bool parallel = g.numel >= kParallelGrain && !omp_in_parallel();
  std::int64_t piece = row_len;
  if (parallel) {
    const std::int64_t want = 4 * static_cast<std::int64_t>(omp_get_max_threads());  // pieces in all
    if (rows < want) {
      const std::int64_t per_row = (want + rows - 1) / rows;
      piece = std::max(kMinPiece, (row_len + per_row - 1) / per_row);
      piece = (piece + 15) / 16 * 16;  // whole 64-byte lines at the piece boundaries
    }
  }
  const std::int64_t pieces_per_row = (row_len + piece - 1) / piece;
  const std::int64_t pieces = rows * pieces_per_row;
#pragma omp parallel for schedule(static) if (parallel && pieces > 1)
  for (std::int64_t p = 0; p < pieces; ++p) {
    const std::int64_t r = p / pieces_per_row;
    const std::int64_t start = (p % pieces_per_row) * piece;
    std::int64_t off[3] = {0, 0, 0};
    std::int64_t rem = r;
    for (int d = nd - 2; d >= 0; --d) {
      const std::int64_t idx = rem % g.sizes[d];
      rem /= g.sizes[d];
      for (int a = 0; a < NArgs; ++a) off[a] += idx * g.strides[a][d];
    }
    for (int a = 0; a < NArgs; ++a) off[a] += start * inner[a];
    body(std::min(piece, row_len - start), off[0], off[1], off[2], inner[0], inner[1], inner[2]);
  }
}

template <class F>
void dispatch_unary(UnaryOp op, F&& f) {
  switch (op) {
#define STRIDER_CASE(name) case UnaryOp::name: f(std::integral_constant<UnaryOp, UnaryOp::name>{}); return;
    STRIDER_CASE(Copy) STRIDER_CASE(Neg) STRIDER_CASE(Exp) STRIDER_CASE(Log) STRIDER_CASE(Sqrt)
    STRIDER_CASE(Rsqrt) STRIDER_CASE(Abs) STRIDER_CASE(Tanh) STRIDER_CASE(Sigmoid) STRIDER_CASE(Relu)
    STRIDER_CASE(Sin) STRIDER_CASE(Cos) STRIDER_CASE(Square) STRIDER_CASE(Reciprocal) STRIDER_CASE(Sign)
    STRIDER_CASE(AddScalar) STRIDER_CASE(MulScalar) STRIDER_CASE(RSubScalar) STRIDER_CASE(RDivScalar)
    STRIDER_CASE(PowScalar) STRIDER_CASE(ClampMin) STRIDER_CASE(ClampMax) STRIDER_CASE(LeakyRelu)
#undef STRIDER_CASE
  }
  STRIDER_THROW(ValueError, "unknown unary op " << static_cast<int>(op));
}

template <class F>
void dispatch_binary(BinaryOp op, F&& f) {
  switch (op) {
#define STRIDER_CASE(name) case BinaryOp::name: f(std::integral_constant<BinaryOp, BinaryOp::name>{}); return;
    STRIDER_CASE(Add) STRIDER_CASE(Sub) STRIDER_CASE(Mul) STRIDER_CASE(Div) STRIDER_CASE(Pow)
    STRIDER_CASE(Maximum) STRIDER_CASE(Minimum) STRIDER_CASE(Eq) STRIDER_CASE(Gt)
    STRIDER_CASE(ReluBackward) STRIDER_CASE(LeakyReluBackward) STRIDER_CASE(TanhBackward)
    STRIDER_CASE(SigmoidBackward) STRIDER_CASE(MaskGe) STRIDER_CASE(MaskLe)
#undef STRIDER_CASE
  }
  STRIDER_THROW(ValueError, "unknown binary op " << static_cast<int>(op));
}

}  // namespace

template <class T>
void unary(UnaryOp op, T alpha, const StridedGeom& g, const T* in, T* out) {
  dispatch_unary(op, [&](auto opc) {
    for_each_row<2>(g, [&](std::int64_t n, std::int64_t o0, std::int64_t o1, std::int64_t,
                           std::int64_t s0, std::int64_t s1, std::int64_t) {
      T* y = out + o0;
      const T* x = in + o1;
      const T al = alpha;  // a local: a captured reference is reloaded after every store to y
      if (s0 == 1 && s1 == 1) {
        for (std::int64_t i = 0; i < n; ++i) y[i] = apply_unary<T>(opc.value, x[i], al);
      } else {
        for (std::int64_t i = 0; i < n; ++i) y[i * s0] = apply_unary<T>(opc.value, x[i * s1], al);
      }
    });
  });
}

template <class T>
void binary(BinaryOp op, T alpha, const StridedGeom& g, const T* a, const T* b, T* out) {
  dispatch_binary(op, [&](auto opc) {
    for_each_row<3>(g, [&](std::int64_t n, std::int64_t o0, std::int64_t o1, std::int64_t o2,
                           std::int64_t s0, std::int64_t s1, std::int64_t s2) {
      T* y = out + o0;
      const T* x1 = a + o1;
      const T* x2 = b + o2;
      const T al = alpha;  // a local: a captured reference is reloaded after every store to y
      if (s0 == 1 && s1 == 1 && s2 == 1) {
        for (std::int64_t i = 0; i < n; ++i) y[i] = apply_binary<T>(opc.value, x1[i], x2[i], al);
      } else if (s0 == 1 && s1 == 1 && s2 == 0) {
        const T v = *x2;
        for (std::int64_t i = 0; i < n; ++i) y[i] = apply_binary<T>(opc.value, x1[i], v, al);
      } else {
        for (std::int64_t i = 0; i < n; ++i) y[i * s0] = apply_binary<T>(opc.value, x1[i * s1], x2[i * s2], al);
      }
    });
  });
}

template <class Tin, class Tout>
void copy_cast(const StridedGeom& g, const Tin* in, Tout* out) {
  for_each_row<2>(g, [&](std::int64_t n, std::int64_t o0, std::int64_t o1, std::int64_t, std::int64_t s0,
                         std::int64_t s1, std::int64_t) {
    Tout* y = out + o0;
    const Tin* x = in + o1;
    if (s0 == 1 && s1 == 1) {
      for (std::int64_t i = 0; i < n; ++i) y[i] = static_cast<Tout>(x[i]);
    } else {
      for (std::int64_t i = 0; i < n; ++i) y[i * s0] = static_cast<Tout>(x[i * s1]);
    }
  });
}

template <class T>
void fill(const StridedGeom& g, T value, T* out) {
  for_each_row<1>(g, [&](std::int64_t n, std::int64_t o0, std::int64_t, std::int64_t, std::int64_t s0,
                         std::int64_t, std::int64_t) {
    T* y = out + o0;
    for (std::int64_t i = 0; i < n; ++i) y[i * s0] = value;
  });
}

template <class T>
void fill_uniform(T* out, std::int64_t n, std::uint64_t seed, std::uint64_t offset, double lo, double hi) {
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(lo + (hi - lo) * philox_uniform_at(seed, offset, i));
}

template <class T>
void fill_normal(T* out, std::int64_t n, std::uint64_t seed, std::uint64_t offset, double mean, double std) {
#pragma omp parallel for schedule(static) if (n >= kParallelGrain / 8)
  for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(mean + std * philox_normal_at(seed, offset, i));
}

template <class T>
void reduce_rows(ReduceOp op, const T* in, T* out, std::int64_t rows, std::int64_t cols) {
  const bool parallel = rows * cols >= kParallelGrain && rows > 1;
#pragma omp parallel for schedule(static) if (parallel)
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* x = in + r * cols;
    if (op == ReduceOp::Sum) {
      double acc = 0;
      for (std::int64_t c = 0; c < cols; ++c) acc += static_cast<double>(x[c]);
      out[r] = static_cast<T>(acc);
    } else {
      // The caller rejects empty max/min reductions; NaN propagates as in PyTorch.
      T acc = x[0];
      for (std::int64_t c = 1; c < cols; ++c) acc = apply_binary<T>(op == ReduceOp::Max ? BinaryOp::Maximum : BinaryOp::Minimum, acc, x[c]);
      out[r] = acc;
    }
  }
}

#define STRIDER_INSTANTIATE(T)                                                                     \
  template void unary<T>(UnaryOp, T, const StridedGeom&, const T*, T*);                            \
  template void binary<T>(BinaryOp, T, const StridedGeom&, const T*, const T*, T*);                   \
  template void fill<T>(const StridedGeom&, T, T*);                                                \
  template void fill_uniform<T>(T*, std::int64_t, std::uint64_t, std::uint64_t, double, double);   \
  template void fill_normal<T>(T*, std::int64_t, std::uint64_t, std::uint64_t, double, double);    \
  template void reduce_rows<T>(ReduceOp, const T*, T*, std::int64_t, std::int64_t);
STRIDER_INSTANTIATE(float)
STRIDER_INSTANTIATE(double)
#undef STRIDER_INSTANTIATE
template void copy_cast<float, float>(const StridedGeom&, const float*, float*);
template void copy_cast<float, double>(const StridedGeom&, const float*, double*);
template void copy_cast<double, float>(const StridedGeom&, const double*, float*);
template void copy_cast<double, double>(const StridedGeom&, const double*, double*);

}  // namespace strider::kernels::cpu
