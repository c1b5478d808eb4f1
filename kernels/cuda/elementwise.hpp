// Hand-written CUDA kernels for kernels/elementwise.hpp (kernels/cuda/elementwise.cu,
// reduce.cu, gemm.cu). Same contracts as the cpu:: functions; pointers are device memory; work
// is queued on the current stream (the legacy default stream) and the host does not wait.
#pragma once

#include <cstdint>

#include <strider/kernels/elementwise.hpp>

namespace strider::kernels::cuda {

template <class T> void unary(UnaryOp op, T alpha, const StridedGeom& g, const T* in, T* out);
template <class T> void binary(BinaryOp op, T alpha, const StridedGeom& g, const T* a, const T* b, T* out);
template <class Tin, class Tout> void copy_cast(const StridedGeom& g, const Tin* in, Tout* out);
template <class T> void fill(const StridedGeom& g, T value, T* out);
template <class T> void fill_uniform(T* out, std::int64_t n, std::uint64_t seed, std::uint64_t offset, double lo, double hi);
template <class T> void fill_normal(T* out, std::int64_t n, std::uint64_t seed, std::uint64_t offset, double mean, double std);
template <class T> void reduce_rows(ReduceOp op, const T* in, T* out, std::int64_t rows, std::int64_t cols);
template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A,
          std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc);

}  // namespace strider::kernels::cuda
