// Hand-written CUDA kernels for kernels/loss.hpp (BCE, BCE with logits, MSE).
//
// v1 (pointwise_kernel): reduction None forward; grid-stride, one element per iteration.
// v1 (sum_kernel): Mean / Sum forward; a single block sums the whole buffer (double partials, warp
//     shuffles + shared memory): deterministic and enough for DCGAN's losses (n = batch size); a
//     large n would want a two-stage grid reduction.
// v1 (backward_kernel): grid-stride, grad_input = g * dl/dx with g from grad_out on the device.
// The per-element formulas are loss_value / loss_grad from kernels/loss.hpp, as on the CPU.
#include <strider/kernels/loss.hpp>
#include <strider/kernels/cuda_runtime.hpp>

namespace strider::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr std::int64_t kMaxBlocks = 1024;
constexpr int kSumThreads = 512;  // a multiple of 32
constexpr int kSumWarps = kSumThreads / 32;

dim3 grid_for(std::int64_t n) {
  const std::int64_t blocks = (n + kThreads - 1) / kThreads;
  return dim3(static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks));
}

// out[i] = l(input[i], target[i]). 1-D grid-stride loop: at most kMaxBlocks blocks of kThreads;
// thread t handles t, t + gridDim*kThreads, ...
template <class T>
__global__ void pointwise_kernel(LossKind kind, std::int64_t n, const T* __restrict__ input,
                                 const T* __restrict__ target, T* __restrict__ out) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
    out[i] = loss_value<T>(kind, input[i], target[i]);
}

// out[0] = sum_i l(input[i], target[i]) (/ n for Mean). One block of kSumThreads: thread t adds
// elements t, t + kSumThreads, ... in double; each warp reduces with shuffles, then thread 0 adds
// the kSumWarps warp sums from shared memory in a fixed order (bitwise reproducible).
template <class T>
__global__ void __launch_bounds__(kSumThreads)
    sum_kernel(LossKind kind, LossReduction reduction, std::int64_t n, const T* __restrict__ input,
               const T* __restrict__ target, T* __restrict__ out) {
  __shared__ double partial[kSumWarps];
  const int t = static_cast<int>(threadIdx.x);
  double acc = 0;
  for (std::int64_t i = t; i < n; i += kSumThreads) acc += static_cast<double>(loss_value<T>(kind, input[i], target[i]));
  for (int offset = 16; offset > 0; offset /= 2) acc += __shfl_down_sync(0xffffffffu, acc, offset);
  if (t % 32 == 0) partial[t / 32] = acc;
  __syncthreads();
  if (t == 0) {
    double sum = 0;
    for (int w = 0; w < kSumWarps; ++w) sum += partial[w];
    out[0] = static_cast<T>(reduction == LossReduction::Mean ? sum / static_cast<double>(n) : sum);
  }
}

// grad_input[i] = g * dl/dx(input[i], target[i]); g = grad_out[i] (None), grad_out[0] (Sum) or
// grad_out[0] / n rounded to T (Mean, the CPU's rounding). Grid-stride as pointwise_kernel.
template <class T>
__global__ void backward_kernel(LossKind kind, LossReduction reduction, std::int64_t n, const T* input,
                                const T* __restrict__ target, const T* __restrict__ grad_out, T* grad_input) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  T g = T(0);
  if (reduction == LossReduction::Sum) g = grad_out[0];
  if (reduction == LossReduction::Mean) g = static_cast<T>(static_cast<double>(grad_out[0]) / static_cast<double>(n));
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const T gi = reduction == LossReduction::None ? grad_out[i] : g;
    grad_input[i] = gi * loss_grad<T>(kind, input[i], target[i]);
  }
}

}  // namespace

template <class T>
void loss_forward(LossKind kind, LossReduction reduction, std::int64_t n, const T* input, const T* target, T* out) {
  loss_check(kind, reduction, n, false, "cuda", input, target, nullptr, out);
  if (reduction == LossReduction::None) {
    if (n == 0) return;
    auto* kernel = &pointwise_kernel<T>;
    STRIDER_LAUNCH(kernel, grid_for(n), dim3(kThreads), 0, 0, kind, n, input, target, out);
    return;
  }
  auto* kernel = &sum_kernel<T>;
  STRIDER_LAUNCH(kernel, dim3(1), dim3(kSumThreads), 0, 0, kind, reduction, n, input, target, out);
}

template <class T>
void loss_backward(LossKind kind, LossReduction reduction, std::int64_t n, const T* input, const T* target,
                   const T* grad_out, T* grad_input) {
  loss_check(kind, reduction, n, true, "cuda", input, target, grad_out, grad_input);
  if (n == 0) return;
  auto* kernel = &backward_kernel<T>;
  STRIDER_LAUNCH(kernel, grid_for(n), dim3(kThreads), 0, 0, kind, reduction, n, input, target, grad_out, grad_input);
}

#define STRIDER_INSTANTIATE(T)                                                                      \
  template void loss_forward<T>(LossKind, LossReduction, std::int64_t, const T*, const T*, T*); \
  template void loss_backward<T>(LossKind, LossReduction, std::int64_t, const T*, const T*, const T*, T*);
STRIDER_INSTANTIATE(float)
STRIDER_INSTANTIATE(double)
#undef STRIDER_INSTANTIATE

}  // namespace strider::kernels::cuda
