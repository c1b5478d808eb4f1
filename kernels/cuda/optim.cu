// Hand-written CUDA kernels for kernels/optim.hpp: fused Adam and SGD steps.
//
// v1 (adam_kernel, sgd_kernel): one launch per parameter tensor; grid-stride loop, one element per
//     iteration, every buffer read and written once (Adam: 4 reads, 3 writes per element). The
//     per-step constants are computed on the host (double, rounded to T) and passed by value.
#include <strider/kernels/optim.hpp>
#include <strider/kernels/cuda_runtime.hpp>

namespace strider::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr std::int64_t kMaxBlocks = 1024;

dim3 grid_for(std::int64_t n) {
  const std::int64_t blocks = (n + kThreads - 1) / kThreads;
  return dim3(static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks));
}

// One Adam step over n elements. 1-D grid-stride: at most kMaxBlocks blocks of kThreads; thread t
// updates elements t, t + gridDim*kThreads, ... (param, exp_avg, exp_avg_sq in place; see
// adam_update in kernels/optim.hpp).
template <class T>
__global__ void adam_kernel(AdamScalars<T> s, std::int64_t n, T* __restrict__ param, const T* __restrict__ grad,
                            T* __restrict__ exp_avg, T* __restrict__ exp_avg_sq) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
    adam_update<T>(s, param[i], grad[i], exp_avg[i], exp_avg_sq[i]);
}

// One SGD step over n elements; mapping as adam_kernel. momentum_buffer is null when momentum == 0.
template <class T>
__global__ void sgd_kernel(SgdScalars<T> s, std::int64_t n, T* __restrict__ param, const T* __restrict__ grad,
                           T* __restrict__ momentum_buffer) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
    sgd_update<T>(s, param[i], grad[i], momentum_buffer != nullptr ? momentum_buffer + i : nullptr);
}

}  // namespace

template <class T>
void adam_step(const AdamOptions& o, std::int64_t step, std::int64_t n, T* param, const T* grad, T* exp_avg,
               T* exp_avg_sq) {
  adam_check(o, step, n, "cuda", param, grad, exp_avg, exp_avg_sq);
  if (n == 0) return;
  auto* kernel = &adam_kernel<T>;
  STRIDER_LAUNCH(kernel, grid_for(n), dim3(kThreads), 0, 0, adam_scalars<T>(o, step), n, param, grad, exp_avg,
                 exp_avg_sq);
}

template <class T>
void sgd_step(const SgdOptions& o, bool first_step, std::int64_t n, T* param, const T* grad, T* momentum_buffer) {
  sgd_check(o, n, "cuda", param, grad, momentum_buffer);
  if (n == 0) return;
  auto* kernel = &sgd_kernel<T>;
  STRIDER_LAUNCH(kernel, grid_for(n), dim3(kThreads), 0, 0, sgd_scalars<T>(o, first_step), n, param, grad,
                 o.momentum != 0 ? momentum_buffer : static_cast<T*>(nullptr));
}

#define STRIDER_INSTANTIATE(T)                                                                            \
  template void adam_step<T>(const AdamOptions&, std::int64_t, std::int64_t, T*, const T*, T*, T*); \
  template void sgd_step<T>(const SgdOptions&, bool, std::int64_t, T*, const T*, T*);
STRIDER_INSTANTIATE(float)
STRIDER_INSTANTIATE(double)
#undef STRIDER_INSTANTIATE

}  // namespace strider::kernels::cuda
