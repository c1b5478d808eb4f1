// Hand-written CUDA kernels for kernels/elementwise.hpp: unary, binary, copy/cast, fill, random.
//
// v1: grid-stride loops, one element per iteration; every operand indexed through StridedGeom
//     (div/mod per dim), with a fast path when every operand is dense.
//
// Mapping: 1-D grid of 256-thread blocks, at most kMaxBlocks blocks (enough to fill an H100,
// and few enough fibers under emulation); thread t handles elements t, t + gridDim*256, ...
// The geometry travels by value in the kernel parameters (~280 bytes < the 4 KiB limit).
#include <strider/kernels/cuda/elementwise.hpp>
#include <strider/kernels/cuda_runtime.hpp>

namespace strider::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr std::int64_t kMaxBlocks = 1024;

dim3 grid_for(std::int64_t n) {
  const std::int64_t blocks = (n + kThreads - 1) / kThreads;
  return dim3(static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks));
}

// True when all `nargs` operands are dense and in the same order as the iteration space.
bool is_dense(const StridedGeom& g, int nargs) {
  if (g.ndim > 1) return false;
  for (int a = 0; a < nargs; ++a)
    if (g.ndim == 1 && g.strides[a][0] != 1) return false;
  return true;
}

template <class T, bool kDense>
__global__ void unary_kernel(UnaryOp op, T alpha, StridedGeom g, const T* __restrict__ in, T* out) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < g.numel; i += step) {
    if (kDense) out[i] = apply_unary<T>(op, in[i], alpha);
    else out[geom_offset(g, 0, i)] = apply_unary<T>(op, in[geom_offset(g, 1, i)], alpha);
  }
}

template <class T, bool kDense>
__global__ void binary_kernel(BinaryOp op, T alpha, StridedGeom g, const T* a, const T* b, T* out) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < g.numel; i += step) {
    if (kDense) out[i] = apply_binary<T>(op, a[i], b[i], alpha);
    else out[geom_offset(g, 0, i)] = apply_binary<T>(op, a[geom_offset(g, 1, i)], b[geom_offset(g, 2, i)], alpha);
  }
}

template <class Tin, class Tout>
__global__ void copy_kernel(StridedGeom g, const Tin* __restrict__ in, Tout* __restrict__ out) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < g.numel; i += step)
    out[geom_offset(g, 0, i)] = static_cast<Tout>(in[geom_offset(g, 1, i)]);
}

template <class T>
__global__ void fill_kernel(StridedGeom g, T value, T* out) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < g.numel; i += step)
    out[geom_offset(g, 0, i)] = value;
}

// Element i depends only on (seed, offset, i): the same numbers as the CPU (kernels/philox.hpp).
template <class T, bool kNormal>
__global__ void random_kernel(T* out, std::int64_t n, std::uint64_t seed, std::uint64_t offset, double a, double b) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    if (kNormal) out[i] = static_cast<T>(a + b * philox_normal_at(seed, offset, i));
    else out[i] = static_cast<T>(a + (b - a) * philox_uniform_at(seed, offset, i));
  }
}

}  // namespace

template <class T>
void unary(UnaryOp op, T alpha, const StridedGeom& g, const T* in, T* out) {
  auto* kernel = is_dense(g, 2) ? &unary_kernel<T, true> : &unary_kernel<T, false>;
  STRIDER_LAUNCH(kernel, grid_for(g.numel), dim3(kThreads), 0, 0, op, alpha, g, in, out);
}

template <class T>
void binary(BinaryOp op, T alpha, const StridedGeom& g, const T* a, const T* b, T* out) {
  auto* kernel = is_dense(g, 3) ? &binary_kernel<T, true> : &binary_kernel<T, false>;
  STRIDER_LAUNCH(kernel, grid_for(g.numel), dim3(kThreads), 0, 0, op, alpha, g, a, b, out);
}

template <class Tin, class Tout>
void copy_cast(const StridedGeom& g, const Tin* in, Tout* out) {
  auto* kernel = &copy_kernel<Tin, Tout>;
  STRIDER_LAUNCH(kernel, grid_for(g.numel), dim3(kThreads), 0, 0, g, in, out);
}

template <class T>
void fill(const StridedGeom& g, T value, T* out) {
  auto* kernel = &fill_kernel<T>;
  STRIDER_LAUNCH(kernel, grid_for(g.numel), dim3(kThreads), 0, 0, g, value, out);
}

template <class T>
void fill_uniform(T* out, std::int64_t n, std::uint64_t seed, std::uint64_t offset, double lo, double hi) {
  auto* kernel = &random_kernel<T, false>;
  STRIDER_LAUNCH(kernel, grid_for(n), dim3(kThreads), 0, 0, out, n, seed, offset, lo, hi);
}

template <class T>
void fill_normal(T* out, std::int64_t n, std::uint64_t seed, std::uint64_t offset, double mean, double std) {
  auto* kernel = &random_kernel<T, true>;
  STRIDER_LAUNCH(kernel, grid_for(n), dim3(kThreads), 0, 0, out, n, seed, offset, mean, std);
}

#define STRIDER_INSTANTIATE(T)                                                                   \
  template void unary<T>(UnaryOp, T, const StridedGeom&, const T*, T*);                          \
  template void binary<T>(BinaryOp, T, const StridedGeom&, const T*, const T*, T*);                 \
  template void fill<T>(const StridedGeom&, T, T*);                                              \
  template void fill_uniform<T>(T*, std::int64_t, std::uint64_t, std::uint64_t, double, double); \
  template void fill_normal<T>(T*, std::int64_t, std::uint64_t, std::uint64_t, double, double);
STRIDER_INSTANTIATE(float)
STRIDER_INSTANTIATE(double)
#undef STRIDER_INSTANTIATE
template void copy_cast<float, float>(const StridedGeom&, const float*, float*);
template void copy_cast<float, double>(const StridedGeom&, const float*, double*);
template void copy_cast<double, float>(const StridedGeom&, const double*, float*);
template void copy_cast<double, double>(const StridedGeom&, const double*, double*);

}  // namespace strider::kernels::cuda
