// Hand-written CUDA kernels for kernels/batchnorm.hpp (BatchNorm2d on NCHW buffers).
//
// v1 (stats_kernel + normalize_kernel<false>): training forward. One block per channel: two passes
//     over the channel (sum, then squared deviations; double accumulators, warp shuffles + shared
//     memory), saves mean / invstd and updates the running statistics; a grid-stride elementwise
//     kernel then writes y.
// v1 (normalize_kernel<true>): eval forward; invstd from the running variance.
// v1 (backward_kernel): one block per channel reduces sum(dy) and sum(dy (x - mean)), writes
//     grad_beta / grad_gamma, then the same block writes its channel's grad_x (fused: at the kernel
//     level there is no scratch buffer to hand the per-channel sums to a second kernel).
//
// Only C blocks run the reductions: DCGAN's batch-norm layers have C >= 64, enough to keep most SMs
// busy; a layer with few channels and a large batch would want a split-channel (two-stage) version.
#include <strider/kernels/batchnorm.hpp>
#include <strider/kernels/cuda_runtime.hpp>

#include <strider/core/error.hpp>

namespace strider::kernels::cuda {
namespace {

constexpr int kReduceThreads = 512;  // per channel block; a multiple of 32
constexpr int kReduceWarps = kReduceThreads / 32;
constexpr int kThreads = 256;        // elementwise kernel
constexpr std::int64_t kMaxBlocks = 1024;

// The elements of channel c that thread t of a channel block owns: m = t, t + kReduceThreads, ...
// over m in [0, N*HW), m = n*HW + hw, at offset (n*C + c)*HW + hw. Consecutive threads read
// consecutive hw (coalesced). The cursor advances by kReduceThreads without a division per element.
struct ChannelCursor {
  std::int64_t n, hw;
  std::int64_t step_n, step_hw;

  __device__ ChannelCursor(std::int64_t HW, int t)
      : n(t / HW), hw(t % HW), step_n(kReduceThreads / HW), step_hw(kReduceThreads % HW) {}
  __device__ std::int64_t offset(std::int64_t C, std::int64_t HW, std::int64_t c) const { return (n * C + c) * HW + hw; }
  __device__ void advance(std::int64_t HW) {
    hw += step_hw;
    n += step_n;
    if (hw >= HW) {
      hw -= HW;
      ++n;
    }
  }
};

// Sums a and b over the block; every thread returns with the block totals. `partial` holds
// 2 * kReduceWarps doubles. Each warp reduces with shuffles, lane 0 stores the warp's sums, and
// every thread then adds the kReduceWarps partials in the same order (broadcast reads), so all
// threads hold bitwise-identical totals. The second barrier lets a later call reuse `partial`.
__device__ __forceinline__ void block_sum2(double& a, double& b, double* partial) {
  for (int offset = 16; offset > 0; offset /= 2) {
    a += __shfl_down_sync(0xffffffffu, a, offset);
    b += __shfl_down_sync(0xffffffffu, b, offset);
  }
  const int lane = static_cast<int>(threadIdx.x) % 32, warp = static_cast<int>(threadIdx.x) / 32;
  if (lane == 0) {
    partial[warp] = a;
    partial[kReduceWarps + warp] = b;
  }
  __syncthreads();
  a = 0;
  b = 0;
  for (int w = 0; w < kReduceWarps; ++w) {
    a += partial[w];
    b += partial[kReduceWarps + w];
  }
  __syncthreads();
}

// Training statistics. grid (C), block (kReduceThreads): block c owns channel c (N strips of HW
// values, stride C*HW between strips). Pass 1 sums x, pass 2 sums (x - mean)^2, both in double.
// Thread 0 writes save_mean[c], save_invstd[c] and, when running_mean is non-null, updates
// running_mean[c] / running_var[c] (unbiased variance). Needs N*HW >= 2 (validated).
template <class T>
__global__ void __launch_bounds__(kReduceThreads)
    stats_kernel(BatchNormProblem p, const T* __restrict__ x, T* __restrict__ save_mean, T* __restrict__ save_invstd,
                 T* __restrict__ running_mean, T* __restrict__ running_var) {
  __shared__ double partial[2 * kReduceWarps];
  const std::int64_t c = blockIdx.x;
  const std::int64_t M = p.N * p.HW;
  const int t = static_cast<int>(threadIdx.x);

  double sum = 0, unused = 0;
  ChannelCursor cur(p.HW, t);
  for (std::int64_t m = t; m < M; m += kReduceThreads, cur.advance(p.HW)) sum += static_cast<double>(x[cur.offset(p.C, p.HW, c)]);
  block_sum2(sum, unused, partial);
  const double mean = sum / static_cast<double>(M);

  double ssd = 0;
  cur = ChannelCursor(p.HW, t);
  for (std::int64_t m = t; m < M; m += kReduceThreads, cur.advance(p.HW)) {
    const double d = static_cast<double>(x[cur.offset(p.C, p.HW, c)]) - mean;
    ssd += d * d;
  }
  block_sum2(ssd, unused, partial);

  if (t == 0) {
    const double var = ssd / static_cast<double>(M);
    save_mean[c] = static_cast<T>(mean);
    save_invstd[c] = static_cast<T>(1.0 / sqrt(var + p.eps));
    if (running_mean != nullptr) {
      const double mo = p.momentum;
      const double unbiased = ssd / static_cast<double>(M - 1);
      running_mean[c] = static_cast<T>((1 - mo) * static_cast<double>(running_mean[c]) + mo * mean);
      running_var[c] = static_cast<T>((1 - mo) * static_cast<double>(running_var[c]) + mo * unbiased);
    }
  }
}

// y = (x - mean[c]) * (invstd[c] * gamma[c]) + beta[c]. 1-D grid-stride over the N*C*HW elements
// (at most kMaxBlocks blocks of kThreads); element i is in channel (i / HW) % C. kEval: `stat` is
// the running variance and invstd = 1 / sqrt(var + eps) in T; else `stat` is the saved invstd.
// gamma / beta may be null (1 / 0).
template <class T, bool kEval>
__global__ void normalize_kernel(BatchNormProblem p, const T* __restrict__ x, const T* __restrict__ mean,
                                 const T* __restrict__ stat, const T* __restrict__ gamma, const T* __restrict__ beta,
                                 T* __restrict__ y) {
  using std::sqrt;
  const std::int64_t total = p.N * p.C * p.HW;
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const std::int64_t c = (i / p.HW) % p.C;
    const T invstd = kEval ? T(1) / sqrt(stat[c] + static_cast<T>(p.eps)) : stat[c];
    const T scale = invstd * (gamma != nullptr ? gamma[c] : T(1));
    const T shift = beta != nullptr ? beta[c] : T(0);
    y[i] = (x[i] - mean[c]) * scale + shift;
  }
}

// Training backward. grid (C), block (kReduceThreads): block c owns channel c (mapping as
// stats_kernel). Pass 1 sums dy and dy (x - mean) in double; thread 0 writes grad_beta[c] and
// grad_gamma[c] (when non-null). Pass 2 (when grad_x is non-null) writes
//   grad_x = (dy - mean(dy) - (x - mean) proj) k,  proj = invstd^2 mean(dy (x - mean)), k = gamma invstd
// with the per-channel coefficients rounded to T once, as the CPU path does.
template <class T>
__global__ void __launch_bounds__(kReduceThreads)
    backward_kernel(BatchNormProblem p, const T* __restrict__ grad_y, const T* __restrict__ x,
                    const T* __restrict__ save_mean, const T* __restrict__ save_invstd, const T* __restrict__ gamma,
                    T* __restrict__ grad_x, T* __restrict__ grad_gamma, T* __restrict__ grad_beta) {
  __shared__ double partial[2 * kReduceWarps];
  const std::int64_t c = blockIdx.x;
  const std::int64_t M = p.N * p.HW;
  const int t = static_cast<int>(threadIdx.x);
  const double mean = static_cast<double>(save_mean[c]), invstd = static_cast<double>(save_invstd[c]);

  double sum_dy = 0, sum_dy_xmu = 0;
  ChannelCursor cur(p.HW, t);
  for (std::int64_t m = t; m < M; m += kReduceThreads, cur.advance(p.HW)) {
    const std::int64_t o = cur.offset(p.C, p.HW, c);
    const double dy = static_cast<double>(grad_y[o]);
    sum_dy += dy;
    sum_dy_xmu += dy * (static_cast<double>(x[o]) - mean);
  }
  block_sum2(sum_dy, sum_dy_xmu, partial);
  if (t == 0) {
    if (grad_beta != nullptr) grad_beta[c] = static_cast<T>(sum_dy);
    if (grad_gamma != nullptr) grad_gamma[c] = static_cast<T>(sum_dy_xmu * invstd);
  }
  if (grad_x == nullptr) return;  // uniform over the block, after the last barrier

  const T k = static_cast<T>((gamma != nullptr ? static_cast<double>(gamma[c]) : 1.0) * invstd);
  const T mean_dy = static_cast<T>(sum_dy / static_cast<double>(M));
  const T proj = static_cast<T>(sum_dy_xmu * invstd * invstd / static_cast<double>(M));
  const T mu = save_mean[c];
  cur = ChannelCursor(p.HW, t);
  for (std::int64_t m = t; m < M; m += kReduceThreads, cur.advance(p.HW)) {
    const std::int64_t o = cur.offset(p.C, p.HW, c);
    grad_x[o] = (grad_y[o] - mean_dy - (x[o] - mu) * proj) * k;
  }
}

dim3 elementwise_grid(std::int64_t n) {
  const std::int64_t blocks = (n + kThreads - 1) / kThreads;
  return dim3(static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks));
}

void check_channel_grid(const BatchNormProblem& p, const char* op) {
  STRIDER_CHECK(p.C <= 0x7fffffff, ShapeError,
                op << " (cuda): " << p.str() << " has more channels than the CUDA grid limit of 2^31-1 blocks");
}

}  // namespace

template <class T>
void batch_norm_forward_training(const BatchNormProblem& p, const T* x, const T* gamma, const T* beta, T* y,
                                 T* save_mean, T* save_invstd, T* running_mean, T* running_var) {
  batch_norm_check(p, true, "batch_norm_forward_training", "cuda",
                   {{"x", x}, {"y", y}, {"save_mean", save_mean}, {"save_invstd", save_invstd}},
                   {running_mean, running_var});
  check_channel_grid(p, "batch_norm_forward_training");
  auto* stats = &stats_kernel<T>;
  STRIDER_LAUNCH(stats, dim3(static_cast<unsigned>(p.C)), dim3(kReduceThreads), 0, 0, p, x, save_mean, save_invstd,
                 running_mean, running_var);
  auto* normalize = &normalize_kernel<T, false>;
  STRIDER_LAUNCH(normalize, elementwise_grid(p.numel()), dim3(kThreads), 0, 0, p, x, static_cast<const T*>(save_mean),
                 static_cast<const T*>(save_invstd), gamma, beta, y);
}

template <class T>
void batch_norm_forward_eval(const BatchNormProblem& p, const T* x, const T* gamma, const T* beta,
                             const T* running_mean, const T* running_var, T* y) {
  batch_norm_check(p, false, "batch_norm_forward_eval", "cuda",
                   {{"x", x}, {"running_mean", running_mean}, {"running_var", running_var}, {"y", y}},
                   {running_mean, running_var});
  if (p.numel() == 0) return;
  auto* normalize = &normalize_kernel<T, true>;
  STRIDER_LAUNCH(normalize, elementwise_grid(p.numel()), dim3(kThreads), 0, 0, p, x, running_mean, running_var, gamma,
                 beta, y);
}

template <class T>
void batch_norm_backward(const BatchNormProblem& p, const T* grad_y, const T* x, const T* save_mean,
                         const T* save_invstd, const T* gamma, T* grad_x, T* grad_gamma, T* grad_beta) {
  batch_norm_check(p, true, "batch_norm_backward", "cuda",
                   {{"grad_y", grad_y}, {"x", x}, {"save_mean", save_mean}, {"save_invstd", save_invstd}});
  check_channel_grid(p, "batch_norm_backward");
  auto* kernel = &backward_kernel<T>;
  STRIDER_LAUNCH(kernel, dim3(static_cast<unsigned>(p.C)), dim3(kReduceThreads), 0, 0, p, grad_y, x, save_mean,
                 save_invstd, gamma, grad_x, grad_gamma, grad_beta);
}

#define STRIDER_INSTANTIATE(T)                                                                                 \
  template void batch_norm_forward_training<T>(const BatchNormProblem&, const T*, const T*, const T*, T*, T*, T*, \
                                               T*, T*);                                                        \
  template void batch_norm_forward_eval<T>(const BatchNormProblem&, const T*, const T*, const T*, const T*,     \
                                           const T*, T*);                                                      \
  template void batch_norm_backward<T>(const BatchNormProblem&, const T*, const T*, const T*, const T*, const T*, \
                                       T*, T*, T*);
STRIDER_INSTANTIATE(float)
STRIDER_INSTANTIATE(double)
#undef STRIDER_INSTANTIATE

}  // namespace strider::kernels::cuda
