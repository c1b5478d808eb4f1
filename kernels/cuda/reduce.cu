// Hand-written CUDA row reductions for kernels/elementwise.hpp: out[r] = reduce(in[r, 0:cols]).
//
// v1 (rows_per_thread_kernel): one thread per row; for short rows (cols <= 32), where a block per
//     row would leave most threads idle.
// v1 (row_per_block_kernel): one 256-thread block per row; each thread accumulates a strided
//     slice of the row (coalesced: consecutive threads read consecutive elements), then a
//     shared-memory tree combines the 256 partials (8 barrier steps).
// Sums accumulate in double (as the CPU path does), max/min in T with NaN propagating.
#include <strider/kernels/cuda/elementwise.hpp>
#include <strider/kernels/cuda_runtime.hpp>

namespace strider::kernels::cuda {
namespace {

constexpr int kThreads = 256;

template <class T, class Acc>
__device__ __forceinline__ Acc combine(ReduceOp op, Acc a, Acc b) {
  if (op == ReduceOp::Sum) return a + b;
  return apply_binary<Acc>(op == ReduceOp::Max ? BinaryOp::Maximum : BinaryOp::Minimum, a, b);
}

template <class T, class Acc>
__global__ void rows_per_thread_kernel(ReduceOp op, const T* __restrict__ in, T* __restrict__ out,
                                       std::int64_t rows, std::int64_t cols) {
  const std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  const T* x = in + r * cols;
  Acc acc = static_cast<Acc>(x[0]);
  for (std::int64_t c = 1; c < cols; ++c) acc = combine<T, Acc>(op, acc, static_cast<Acc>(x[c]));
  out[r] = static_cast<T>(acc);
}

template <class T, class Acc>
__global__ void row_per_block_kernel(ReduceOp op, const T* __restrict__ in, T* __restrict__ out, std::int64_t cols) {
  __shared__ Acc partial[kThreads];
  const T* x = in + static_cast<std::int64_t>(blockIdx.x) * cols;
  const int t = static_cast<int>(threadIdx.x);
  // Every thread has at least one element: the launcher only uses this kernel when cols > 32,
  // and threads past the row's end start from the row's first element (harmless for max/min;
  // for sums they start from zero).
  Acc acc = op == ReduceOp::Sum ? Acc(0) : static_cast<Acc>(x[0]);
  for (std::int64_t c = t; c < cols; c += kThreads) acc = combine<T, Acc>(op, acc, static_cast<Acc>(x[c]));
  partial[t] = acc;
  __syncthreads();
  for (int width = kThreads / 2; width > 0; width /= 2) {
    if (t < width) partial[t] = combine<T, Acc>(op, partial[t], partial[t + width]);
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = static_cast<T>(partial[0]);
}

}  // namespace

template <class T>
void reduce_rows(ReduceOp op, const T* in, T* out, std::int64_t rows, std::int64_t cols) {
  if (rows == 0) return;
  STRIDER_CHECK(rows <= 0x7fffffff, ShapeError,
                "reduce: " << rows << " rows exceed the CUDA grid limit of 2^31-1 rows; reduce in chunks");
  if (op == ReduceOp::Sum) {
    if (cols <= 32) {
      auto* kernel = &rows_per_thread_kernel<T, double>;
      STRIDER_LAUNCH(kernel, dim3(static_cast<unsigned>((rows + kThreads - 1) / kThreads)), dim3(kThreads), 0, 0, op, in,
                     out, rows, cols);
    } else {
      auto* kernel = &row_per_block_kernel<T, double>;
      STRIDER_LAUNCH(kernel, dim3(static_cast<unsigned>(rows)), dim3(kThreads), 0, 0, op, in, out, cols);
    }
  } else {
    if (cols <= 32) {
      auto* kernel = &rows_per_thread_kernel<T, T>;
      STRIDER_LAUNCH(kernel, dim3(static_cast<unsigned>((rows + kThreads - 1) / kThreads)), dim3(kThreads), 0, 0, op, in,
                     out, rows, cols);
    } else {
      auto* kernel = &row_per_block_kernel<T, T>;
      STRIDER_LAUNCH(kernel, dim3(static_cast<unsigned>(rows)), dim3(kThreads), 0, 0, op, in, out, cols);
    }
  }
}

template void reduce_rows<float>(ReduceOp, const float*, float*, std::int64_t, std::int64_t);
template void reduce_rows<double>(ReduceOp, const double*, double*, std::int64_t, std::int64_t);

}  // namespace strider::kernels::cuda
