// CPU batch normalisation for kernels/batchnorm.hpp, and the problem check every backend runs.
//
// Each thread takes a range of channels and walks it image by image (contiguous memory): the
// channels' N strips of HW values are read twice for the statistics (sum, then squared deviations,
// both in double, each through 8 independent partial sums) and once more to write y; backward
// reads grad_y and x once for the two sums and once more to write grad_x. The per-element formulas
// are the ones kernels/cuda/batchnorm.cu uses, with the same rounding steps (per-channel
// coefficients in double, rounded to T, then T arithmetic per element).
#include <strider/kernels/batchnorm.hpp>

#include <omp.h>

#include <cmath>
#include <limits>
#include <ostream>
#include <sstream>
#include <vector>

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

// Channel sums in double through kLanes independent partial sums: one running sum is a chain of
// dependent adds (4 cycles each) that no compiler may reorder; independent lanes pipeline and
// vectorise. Which element lands in which lane depends on HW alone, so a result does not depend
// on the thread count.
constexpr int kLanes = 8;
struct Lanes {
  double v[kLanes] = {};
  double total() const {
    double t = 0;
    for (double x : v) t += x;
    return t;
  }
};

// acc += f(a[i]) over i in [0, n).
template <class T, class F>
void accumulate(const T* a, std::int64_t n, Lanes& acc, F f) {
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc.v[l] += f(static_cast<double>(a[i + l]));
  for (int l = 0; i < n; ++i, ++l) acc.v[l] += f(static_cast<double>(a[i]));
}

// sum_dy += dy[i], sum_dy_xmu += dy[i] (x[i] - mean) over i in [0, n): backward's two sums in one read.
template <class T>
void accumulate_dy(const T* dy, const T* x, double mean, std::int64_t n, Lanes& sum_dy, Lanes& sum_dy_xmu) {
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const double d = static_cast<double>(dy[i + l]);
      sum_dy.v[l] += d;
      sum_dy_xmu.v[l] += d * (static_cast<double>(x[i + l]) - mean);
    }
  for (int l = 0; i < n; ++i, ++l) {
    const double d = static_cast<double>(dy[i]);
    sum_dy.v[l] += d;
    sum_dy_xmu.v[l] += d * (static_cast<double>(x[i]) - mean);
  }
}

// Each thread takes a contiguous range of channels [c0, c1) and walks it image by image: for one
// image the range is one contiguous block of memory (one channel's strip alone is HW floats, a
// single cache line at 4x4), so the reads stream. Per-channel results do not depend on the split.
template <class Body>
void for_channel_ranges(const BatchNormProblem& p, Body&& body) {
#pragma omp parallel if (run_parallel(p))
  {
    const std::int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const std::int64_t c0 = p.C * t / nt, c1 = p.C * (t + 1) / nt;
    if (c0 < c1) body(c0, c1);
  }
}

// y = (x - mean) * scale + shift over channels [c0, c1) of every image; scale = invstd * gamma.
template <class T>
void normalize(const BatchNormProblem& p, std::int64_t c0, std::int64_t c1, const T* x, const T* mean,
               const T* scale, const T* shift, T* y) {
  for (std::int64_t n = 0; n < p.N; ++n)
    for (std::int64_t c = c0; c < c1; ++c) {
      const std::int64_t base = (n * p.C + c) * p.HW;
      const T mu = mean[c - c0], sc = scale[c - c0], sh = shift[c - c0];
      for (std::int64_t i = 0; i < p.HW; ++i) y[base + i] = (x[base + i] - mu) * sc + sh;
    }
}

}  // namespace

template <class T>
void batch_norm_forward_training(const BatchNormProblem& p, const T* x, const T* gamma, const T* beta, T* y,
                                 T* save_mean, T* save_invstd, T* running_mean, T* running_var) {
  batch_norm_check(p, true, "batch_norm_forward_training", "cpu",
                   {{"x", x}, {"y", y}, {"save_mean", save_mean}, {"save_invstd", save_invstd}},
                   {running_mean, running_var});
  const double M = static_cast<double>(p.per_channel());
  for_channel_ranges(p, [&](std::int64_t c0, std::int64_t c1) {
    const auto nc = static_cast<std::size_t>(c1 - c0);
    std::vector<Lanes> acc(nc);
    for (std::int64_t n = 0; n < p.N; ++n)
      for (std::int64_t c = c0; c < c1; ++c)
        accumulate(x + (n * p.C + c) * p.HW, p.HW, acc[static_cast<std::size_t>(c - c0)], [](double v) { return v; });
    std::vector<double> mean(nc);
    for (std::size_t j = 0; j < nc; ++j) {
      mean[j] = acc[j].total() / M;
      acc[j] = Lanes{};
    }
    for (std::int64_t n = 0; n < p.N; ++n)
      for (std::int64_t c = c0; c < c1; ++c) {
        const double mu = mean[static_cast<std::size_t>(c - c0)];
        accumulate(x + (n * p.C + c) * p.HW, p.HW, acc[static_cast<std::size_t>(c - c0)],
                   [mu](double v) { return (v - mu) * (v - mu); });
      }
    std::vector<T> mean_t(nc), scale(nc), shift(nc);
    for (std::int64_t c = c0; c < c1; ++c) {
      const auto j = static_cast<std::size_t>(c - c0);
      const double ssd = acc[j].total();
      const double invstd = 1.0 / std::sqrt(ssd / M + p.eps);
      save_mean[c] = mean_t[j] = static_cast<T>(mean[j]);
      save_invstd[c] = static_cast<T>(invstd);
      scale[j] = save_invstd[c] * (gamma ? gamma[c] : T(1));
      shift[j] = beta ? beta[c] : T(0);
      if (running_mean != nullptr) {
        const double m = p.momentum;
        const double unbiased = ssd / (M - 1);
        running_mean[c] = static_cast<T>((1 - m) * static_cast<double>(running_mean[c]) + m * mean[j]);
        running_var[c] = static_cast<T>((1 - m) * static_cast<double>(running_var[c]) + m * unbiased);
      }
    }
    normalize<T>(p, c0, c1, x, mean_t.data(), scale.data(), shift.data(), y);
  });
}

template <class T>
void batch_norm_forward_eval(const BatchNormProblem& p, const T* x, const T* gamma, const T* beta,
                             const T* running_mean, const T* running_var, T* y) {
  batch_norm_check(p, false, "batch_norm_forward_eval", "cpu",
                   {{"x", x}, {"running_mean", running_mean}, {"running_var", running_var}, {"y", y}},
                   {running_mean, running_var});
  if (p.numel() == 0) return;  // an empty batch: the (unchecked) buffers may be null
  for_channel_ranges(p, [&](std::int64_t c0, std::int64_t c1) {
    const auto nc = static_cast<std::size_t>(c1 - c0);
    std::vector<T> scale(nc), shift(nc);
    for (std::int64_t c = c0; c < c1; ++c) {
      const auto j = static_cast<std::size_t>(c - c0);
      scale[j] = T(1) / std::sqrt(running_var[c] + static_cast<T>(p.eps)) * (gamma ? gamma[c] : T(1));
      shift[j] = beta ? beta[c] : T(0);
    }
    normalize<T>(p, c0, c1, x, running_mean + c0, scale.data(), shift.data(), y);
  });
}

template <class T>
void batch_norm_backward(const BatchNormProblem& p, const T* grad_y, const T* x, const T* save_mean,
                         const T* save_invstd, const T* gamma, T* grad_x, T* grad_gamma, T* grad_beta) {
  batch_norm_check(p, true, "batch_norm_backward", "cpu",
                   {{"grad_y", grad_y}, {"x", x}, {"save_mean", save_mean}, {"save_invstd", save_invstd}});
  const double M = static_cast<double>(p.per_channel());
  for_channel_ranges(p, [&](std::int64_t c0, std::int64_t c1) {
    const auto nc = static_cast<std::size_t>(c1 - c0);
    std::vector<Lanes> dy(nc), dy_xmu(nc);
    for (std::int64_t n = 0; n < p.N; ++n)
      for (std::int64_t c = c0; c < c1; ++c) {
        const std::int64_t base = (n * p.C + c) * p.HW;
        const auto j = static_cast<std::size_t>(c - c0);
        accumulate_dy(grad_y + base, x + base, static_cast<double>(save_mean[c]), p.HW, dy[j], dy_xmu[j]);
      }
    // grad_x = gamma invstd (dy - mean(dy) - (x - mean) invstd^2 mean(dy (x - mean)))
    std::vector<T> k(nc), mean_dy(nc), proj(nc);
    for (std::int64_t c = c0; c < c1; ++c) {
      const auto j = static_cast<std::size_t>(c - c0);
      const double invstd = static_cast<double>(save_invstd[c]);
      const double sum_dy = dy[j].total(), sum_dy_xmu = dy_xmu[j].total();
      if (grad_beta != nullptr) grad_beta[c] = static_cast<T>(sum_dy);
      if (grad_gamma != nullptr) grad_gamma[c] = static_cast<T>(sum_dy_xmu * invstd);
      k[j] = static_cast<T>((gamma ? static_cast<double>(gamma[c]) : 1.0) * invstd);
      mean_dy[j] = static_cast<T>(sum_dy / M);
      proj[j] = static_cast<T>(sum_dy_xmu * invstd * invstd / M);
    }
    if (grad_x == nullptr) return;
    for (std::int64_t n = 0; n < p.N; ++n)
      for (std::int64_t c = c0; c < c1; ++c) {
        const std::int64_t base = (n * p.C + c) * p.HW;
        const auto j = static_cast<std::size_t>(c - c0);
        const T mu = save_mean[c], kc = k[j], mdy = mean_dy[j], pr = proj[j];
        for (std::int64_t i = 0; i < p.HW; ++i)
          grad_x[base + i] = (grad_y[base + i] - mdy - (x[base + i] - mu) * pr) * kc;
      }
  });
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
