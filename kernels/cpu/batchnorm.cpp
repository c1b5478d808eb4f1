// CPU batch normalisation for kernels/batchnorm.hpp, and the problem check every backend runs.
//
// One OpenMP iteration per channel (when there is enough work): the channel's N strips of HW values
// are read twice for the statistics (sum, then squared deviations, both in double) and once more to
// write y; backward reads grad_y and x once for the two sums and once more to write grad_x. The
// per-element formulas are the ones kernels/cuda/batchnorm.cu uses, with the same rounding steps
// (per-channel coefficients in double, rounded to T, then T arithmetic per element).
#include <strider/kernels/batchnorm.hpp>

#include <omp.h>

#include <cmath>
#include <limits>
#include <ostream>
#include <sstream>

#include <strider/core/error.hpp>

namespace strider::kernels {

std::string BatchNormProblem::str() const {
  std::ostringstream os;
  os << "batch_norm(N=" << N << ", C=" << C << ", HW=" << HW << ", eps=" << eps << ", momentum=" << momentum << ")";
  return os.str();
}

void BatchNormProblem::validate(bool training) const {
  STRIDER_CHECK(N >= 0, ShapeError, str() << ": batch size N = " << N << " is negative; pass N >= 0");
  STRIDER_CHECK(C >= 1, ShapeError,
                str() << ": C = " << C << " channels; batch norm needs at least 1 channel (num_features >= 1)");
  STRIDER_CHECK(HW >= 1, ShapeError,
                str() << ": spatial size HW = " << HW << "; pass H * W >= 1 (HW = 1 for a (N, C) input)");
  constexpr std::int64_t kMaxElements = std::int64_t{1} << 62;
  STRIDER_CHECK(N == 0 || (C <= kMaxElements / HW && N <= kMaxElements / (C * HW)), ShapeError,
                str() << ": N * C * HW exceeds 2^62 elements; split the batch");
  if (training) {
    STRIDER_CHECK(N * HW > 1, ShapeError,
                  str() << ": expected more than 1 value per channel when training, got N * HW = " << N * HW
                        << " (N = " << N << ", HW = " << HW
                        << "); the batch variance of a single value is undefined. Use a batch of at least 2 "
                           "samples (or a spatial size above 1x1), or run the layer in eval mode");
  }
  STRIDER_CHECK(std::isfinite(eps) && eps >= 0, ValueError,
                str() << ": eps = " << eps << " must be finite and >= 0 (PyTorch's default is 1e-5)");
  STRIDER_CHECK(momentum >= 0 && momentum <= 1, ValueError,
                str() << ": momentum = " << momentum
                      << " must be in [0, 1] (running = (1 - momentum) running + momentum batch; default 0.1)");
}

void batch_norm_check(const BatchNormProblem& p, bool training, const char* op, const char* backend,
                      std::initializer_list<std::pair<const char*, const void*>> required,
                      std::pair<const void*, const void*> running) {
  p.validate(training);
  STRIDER_CHECK((running.first == nullptr) == (running.second == nullptr), ValueError,
                op << " (" << backend << "): running_mean is " << (running.first ? "set" : "null")
                   << " but running_var is " << (running.second ? "set" : "null")
                   << "; pass both (track_running_stats = true) or neither");
  if (p.numel() == 0) return;
  for (const auto& [name, ptr] : required) {
    STRIDER_CHECK(ptr != nullptr, ValueError,
                  op << " (" << backend << "): buffer " << name << " is null for " << p.str()
                     << "; pass a buffer of the documented size (kernels/batchnorm.hpp)");
  }
}

namespace cpu {
namespace {

constexpr std::int64_t kParallelGrain = 32768;  // elements; below this one thread is faster

bool run_parallel(const BatchNormProblem& p) { return p.numel() >= kParallelGrain && p.C > 1 && !omp_in_parallel(); }

// y = (x - mean) * (invstd * gamma) + beta over channel c.
template <class T>
void normalize_channel(const BatchNormProblem& p, std::int64_t c, const T* x, T mean, T invstd, const T* gamma,
                       const T* beta, T* y) {
  const T scale = invstd * (gamma ? gamma[c] : T(1));
  const T shift = beta ? beta[c] : T(0);
  for (std::int64_t n = 0; n < p.N; ++n) {
    const std::int64_t base = (n * p.C + c) * p.HW;
    for (std::int64_t i = 0; i < p.HW; ++i) y[base + i] = (x[base + i] - mean) * scale + shift;
  }
}

}  // namespace

template <class T>
void batch_norm_forward_training(const BatchNormProblem& p, const T* x, const T* gamma, const T* beta, T* y,
                                 T* save_mean, T* save_invstd, T* running_mean, T* running_var) {
  batch_norm_check(p, true, "batch_norm_forward_training", "cpu",
                   {{"x", x}, {"y", y}, {"save_mean", save_mean}, {"save_invstd", save_invstd}},
                   {running_mean, running_var});
  const std::int64_t M = p.per_channel();
#pragma omp parallel for schedule(static) if (run_parallel(p))
  for (std::int64_t c = 0; c < p.C; ++c) {
    double sum = 0;
    for (std::int64_t n = 0; n < p.N; ++n) {
      const T* xc = x + (n * p.C + c) * p.HW;
      for (std::int64_t i = 0; i < p.HW; ++i) sum += static_cast<double>(xc[i]);
    }
    const double mean = sum / static_cast<double>(M);
    double ssd = 0;
    for (std::int64_t n = 0; n < p.N; ++n) {
      const T* xc = x + (n * p.C + c) * p.HW;
      for (std::int64_t i = 0; i < p.HW; ++i) {
        const double d = static_cast<double>(xc[i]) - mean;
        ssd += d * d;
      }
    }
    const double var = ssd / static_cast<double>(M);
    const double invstd = 1.0 / std::sqrt(var + p.eps);
    save_mean[c] = static_cast<T>(mean);
    save_invstd[c] = static_cast<T>(invstd);
    if (running_mean != nullptr) {
      const double m = p.momentum;
      const double unbiased = ssd / static_cast<double>(M - 1);
      running_mean[c] = static_cast<T>((1 - m) * static_cast<double>(running_mean[c]) + m * mean);
      running_var[c] = static_cast<T>((1 - m) * static_cast<double>(running_var[c]) + m * unbiased);
    }
    normalize_channel<T>(p, c, x, save_mean[c], save_invstd[c], gamma, beta, y);
  }
}

template <class T>
void batch_norm_forward_eval(const BatchNormProblem& p, const T* x, const T* gamma, const T* beta,
                             const T* running_mean, const T* running_var, T* y) {
  batch_norm_check(p, false, "batch_norm_forward_eval", "cpu",
                   {{"x", x}, {"running_mean", running_mean}, {"running_var", running_var}, {"y", y}},
                   {running_mean, running_var});
  if (p.numel() == 0) return;  // an empty batch: the (unchecked) buffers may be null
#pragma omp parallel for schedule(static) if (run_parallel(p))
  for (std::int64_t c = 0; c < p.C; ++c) {
    const T invstd = T(1) / std::sqrt(running_var[c] + static_cast<T>(p.eps));
    normalize_channel<T>(p, c, x, running_mean[c], invstd, gamma, beta, y);
  }
}

template <class T>
void batch_norm_backward(const BatchNormProblem& p, const T* grad_y, const T* x, const T* save_mean,
                         const T* save_invstd, const T* gamma, T* grad_x, T* grad_gamma, T* grad_beta) {
  batch_norm_check(p, true, "batch_norm_backward", "cpu",
                   {{"grad_y", grad_y}, {"x", x}, {"save_mean", save_mean}, {"save_invstd", save_invstd}});
  const double M = static_cast<double>(p.per_channel());
#pragma omp parallel for schedule(static) if (run_parallel(p))
  for (std::int64_t c = 0; c < p.C; ++c) {
    const double mean = static_cast<double>(save_mean[c]), invstd = static_cast<double>(save_invstd[c]);
    double sum_dy = 0, sum_dy_xmu = 0;
    for (std::int64_t n = 0; n < p.N; ++n) {
      const std::int64_t base = (n * p.C + c) * p.HW;
      for (std::int64_t i = 0; i < p.HW; ++i) {
        const double dy = static_cast<double>(grad_y[base + i]);
        sum_dy += dy;
        sum_dy_xmu += dy * (static_cast<double>(x[base + i]) - mean);
      }
    }
    if (grad_beta != nullptr) grad_beta[c] = static_cast<T>(sum_dy);
    if (grad_gamma != nullptr) grad_gamma[c] = static_cast<T>(sum_dy_xmu * invstd);
    if (grad_x == nullptr) continue;
    // grad_x = gamma invstd (dy - mean(dy) - (x - mean) invstd^2 mean(dy (x - mean)))
    const T k = static_cast<T>((gamma ? static_cast<double>(gamma[c]) : 1.0) * invstd);
    const T mean_dy = static_cast<T>(sum_dy / M);
    const T proj = static_cast<T>(sum_dy_xmu * invstd * invstd / M);
    const T mu = save_mean[c];
    for (std::int64_t n = 0; n < p.N; ++n) {
      const std::int64_t base = (n * p.C + c) * p.HW;
      for (std::int64_t i = 0; i < p.HW; ++i)
        grad_x[base + i] = (grad_y[base + i] - mean_dy - (x[base + i] - mu) * proj) * k;
    }
  }
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

}  // namespace cpu
}  // namespace strider::kernels
