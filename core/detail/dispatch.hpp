// Internal: routes a kernel call to the tensors' device (kernels::cpu or kernels::cuda) and
// dtype. Callers have already checked shapes, devices and dtypes.
#pragma once

#include <strider/core/tensor.hpp>
#include <strider/kernels/elementwise.hpp>

namespace strider::detail {

// Iteration geometry over `shape` for operands with the given strides (all of that rank),
// with adjacent dims merged where every operand allows it.
kernels::StridedGeom make_geom(const Shape& shape, const std::vector<const Shape*>& strides);

// out = op(in); `in` already expanded to out's shape, same device and dtype.
void run_unary(kernels::UnaryOp op, double alpha, const Tensor& in, const Tensor& out);
// out = op(a, b); a and b already expanded to out's shape.
void run_binary(kernels::BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out, double alpha = 0);
// out = src converted to out's dtype; same device, src expanded to out's shape.
void run_copy(const Tensor& src, const Tensor& out);
void run_fill(const Tensor& out, double value);
// Contiguous out, uniform or normal at (seed, offset).
void run_random(const Tensor& out, bool normal, std::uint64_t seed, std::uint64_t offset, double a, double b);
// Contiguous (rows, cols) in -> contiguous (rows) out.
void run_reduce_rows(kernels::ReduceOp op, const Tensor& in, const Tensor& out, std::int64_t rows, std::int64_t cols);
// Row-major GEMM on raw element offsets of contiguous-or-transposed matrices.
void run_gemm(const Tensor& a, const Tensor& b, const Tensor& c, bool trans_a, bool trans_b, std::int64_t M,
              std::int64_t N, std::int64_t K, std::int64_t lda, std::int64_t ldb, std::int64_t ldc,
              std::int64_t a_off, std::int64_t b_off, std::int64_t c_off, double alpha, double beta);

}  // namespace strider::detail
