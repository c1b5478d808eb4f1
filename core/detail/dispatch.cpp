#include <strider/core/detail/dispatch.hpp>

#include <strider/config.hpp>
#include <strider/core/error.hpp>

#if STRIDER_HAS_CUDA
#include <strider/kernels/cuda/elementwise.hpp>
#endif

namespace strider::detail {

namespace k = strider::kernels;

kernels::StridedGeom make_geom(const Shape& shape, const std::vector<const Shape*>& strides) {
  const int nargs = static_cast<int>(strides.size());
  k::StridedGeom g;
  g.numel = checked_numel(shape);
  // Drop size-1 dims, then merge dim d into d+1 when every operand has stride[d] == stride[d+1]*size[d+1].
  int nd = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (nd > 0) {
      bool mergeable = true;
      for (int a = 0; a < nargs; ++a)
        mergeable = mergeable && g.strides[a][nd - 1] == (*strides[a])[d] * shape[d];
      if (mergeable) {
        g.sizes[nd - 1] *= shape[d];
        for (int a = 0; a < nargs; ++a) g.strides[a][nd - 1] = (*strides[a])[d];
        continue;
      }
    }
    g.sizes[nd] = shape[d];
    for (int a = 0; a < nargs; ++a) g.strides[a][nd] = (*strides[a])[d];
    ++nd;
  }
  g.ndim = nd;
  return g;
}

namespace {
template <class T> T* ptr(const Tensor& t) { return static_cast<T*>(t.data_ptr()); }
}  // namespace

void run_unary(k::UnaryOp op, double alpha, const Tensor& in, const Tensor& out) {
  const auto g = make_geom(out.shape(), {&out.strides(), &in.strides()});
  if (g.numel == 0) return;
  visit_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (out.device().is_cpu()) {
      k::cpu::unary<T>(op, static_cast<T>(alpha), g, ptr<T>(in), ptr<T>(out));
    } else {
#if STRIDER_HAS_CUDA
      k::cuda::unary<T>(op, static_cast<T>(alpha), g, ptr<T>(in), ptr<T>(out));
#endif
    }
  });
}

void run_binary(k::BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out, double alpha) {
  const auto g = make_geom(out.shape(), {&out.strides(), &a.strides(), &b.strides()});
  if (g.numel == 0) return;
  visit_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (out.device().is_cpu()) {
      k::cpu::binary<T>(op, static_cast<T>(alpha), g, ptr<T>(a), ptr<T>(b), ptr<T>(out));
    } else {
#if STRIDER_HAS_CUDA
      k::cuda::binary<T>(op, static_cast<T>(alpha), g, ptr<T>(a), ptr<T>(b), ptr<T>(out));
#endif
    }
  });
}

void run_copy(const Tensor& src, const Tensor& out) {
  const auto g = make_geom(out.shape(), {&out.strides(), &src.strides()});
  if (g.numel == 0) return;
  visit_dtype(src.dtype(), [&](auto in_tag) {
    using Tin = decltype(in_tag);
    visit_dtype(out.dtype(), [&](auto out_tag) {
      using Tout = decltype(out_tag);
      if (out.device().is_cpu()) {
        k::cpu::copy_cast<Tin, Tout>(g, ptr<Tin>(src), ptr<Tout>(out));
      } else {
#if STRIDER_HAS_CUDA
        k::cuda::copy_cast<Tin, Tout>(g, ptr<Tin>(src), ptr<Tout>(out));
#endif
      }
    });
  });
}

void run_fill(const Tensor& out, double value) {
  const auto g = make_geom(out.shape(), {&out.strides()});
  if (g.numel == 0) return;
  visit_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (out.device().is_cpu()) {
      k::cpu::fill<T>(g, static_cast<T>(value), ptr<T>(out));
    } else {
#if STRIDER_HAS_CUDA
      k::cuda::fill<T>(g, static_cast<T>(value), ptr<T>(out));
#endif
    }
  });
}

void run_random(const Tensor& out, bool normal, std::uint64_t seed, std::uint64_t offset, double a, double b) {
  const std::int64_t n = out.numel();
  if (n == 0) return;
  visit_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (out.device().is_cpu()) {
      if (normal) k::cpu::fill_normal<T>(ptr<T>(out), n, seed, offset, a, b);
      else k::cpu::fill_uniform<T>(ptr<T>(out), n, seed, offset, a, b);
    } else {
#if STRIDER_HAS_CUDA
      if (normal) k::cuda::fill_normal<T>(ptr<T>(out), n, seed, offset, a, b);
      else k::cuda::fill_uniform<T>(ptr<T>(out), n, seed, offset, a, b);
#endif
    }
  });
}

void run_reduce_rows(k::ReduceOp op, const Tensor& in, const Tensor& out, std::int64_t rows, std::int64_t cols) {
  if (rows == 0) return;
  visit_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (out.device().is_cpu()) {
      k::cpu::reduce_rows<T>(op, ptr<T>(in), ptr<T>(out), rows, cols);
    } else {
#if STRIDER_HAS_CUDA
      k::cuda::reduce_rows<T>(op, ptr<T>(in), ptr<T>(out), rows, cols);
#endif
    }
  });
}

void run_gemm(const Tensor& a, const Tensor& b, const Tensor& c, bool trans_a, bool trans_b, std::int64_t M,
              std::int64_t N, std::int64_t K, std::int64_t lda, std::int64_t ldb, std::int64_t ldc,
              std::int64_t a_off, std::int64_t b_off, std::int64_t c_off, double alpha, double beta) {
  visit_dtype(c.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (c.device().is_cpu()) {
      k::cpu::gemm<T>(trans_a, trans_b, M, N, K, static_cast<T>(alpha), ptr<T>(a) + a_off, lda, ptr<T>(b) + b_off,
                      ldb, static_cast<T>(beta), ptr<T>(c) + c_off, ldc);
    } else {
#if STRIDER_HAS_CUDA
      k::cuda::gemm<T>(trans_a, trans_b, M, N, K, static_cast<T>(alpha), ptr<T>(a) + a_off, lda, ptr<T>(b) + b_off,
                       ldb, static_cast<T>(beta), ptr<T>(c) + c_off, ldc);
#endif
    }
  });
}

}  // namespace strider::detail
