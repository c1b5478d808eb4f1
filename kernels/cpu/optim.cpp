// CPU optimizer steps for kernels/optim.hpp, the options' validation and the argument checks every
// backend runs. The element updates are adam_update / sgd_update from the header, as on CUDA.
#include <strider/kernels/optim.hpp>

#include <omp.h>

#include <sstream>

#include <strider/core/error.hpp>

namespace strider::kernels {
namespace {

// "must be finite" is part of every range below: NaN fails every comparison, infinity is checked.
bool finite_at_least(double v, double lo) { return std::isfinite(v) && v >= lo; }

void require(const void* ptr, const char* name, bool needed, const char* op, const char* backend,
             const std::string& opts, std::int64_t n) {
  STRIDER_CHECK(!needed || ptr != nullptr, ValueError,
                op << " (" << backend << ", " << opts << "): buffer " << name << " is null for a parameter of " << n
                   << " elements");
}

}  // namespace

std::string AdamOptions::str() const {
  std::ostringstream os;
  os << "Adam(lr=" << lr << ", betas=(" << beta1 << ", " << beta2 << "), eps=" << eps
     << ", weight_decay=" << weight_decay << ")";
  return os.str();
}

void AdamOptions::validate() const {
  STRIDER_CHECK(finite_at_least(lr, 0), ValueError,
                str() << ": invalid learning rate lr = " << lr << "; it must be finite and >= 0 (DCGAN uses 2e-4)");
  STRIDER_CHECK(finite_at_least(eps, 0), ValueError,
                str() << ": invalid epsilon eps = " << eps << "; it must be finite and >= 0 (default 1e-8)");
  STRIDER_CHECK(beta1 >= 0 && beta1 < 1, ValueError,
                str() << ": invalid beta1 = " << beta1 << "; it must be in [0, 1) (default 0.9, DCGAN uses 0.5)");
  STRIDER_CHECK(beta2 >= 0 && beta2 < 1, ValueError,
                str() << ": invalid beta2 = " << beta2 << "; it must be in [0, 1) (default 0.999)");
  STRIDER_CHECK(finite_at_least(weight_decay, 0), ValueError,
                str() << ": invalid weight_decay = " << weight_decay << "; it must be finite and >= 0 (0 disables it)");
}

std::string SgdOptions::str() const {
  std::ostringstream os;
  os << "SGD(lr=" << lr << ", momentum=" << momentum << ", dampening=" << dampening
     << ", weight_decay=" << weight_decay << ", nesterov=" << (nesterov ? "true" : "false") << ")";
  return os.str();
}

void SgdOptions::validate() const {
  STRIDER_CHECK(finite_at_least(lr, 0), ValueError,
                str() << ": invalid learning rate lr = " << lr << "; it must be finite and >= 0");
  STRIDER_CHECK(finite_at_least(momentum, 0), ValueError,
                str() << ": invalid momentum = " << momentum << "; it must be finite and >= 0 (0 disables it)");
  STRIDER_CHECK(std::isfinite(dampening), ValueError,
                str() << ": invalid dampening = " << dampening << "; it must be finite (usually 0)");
  STRIDER_CHECK(finite_at_least(weight_decay, 0), ValueError,
                str() << ": invalid weight_decay = " << weight_decay << "; it must be finite and >= 0 (0 disables it)");
  STRIDER_CHECK(!nesterov || (momentum > 0 && dampening == 0), ValueError,
                str() << ": Nesterov momentum requires a momentum > 0 and zero dampening (got momentum = " << momentum
                      << ", dampening = " << dampening << "); set them so, or nesterov = false");
}

void adam_check(const AdamOptions& o, std::int64_t step, std::int64_t n, const char* backend, const void* param,
                const void* grad, const void* exp_avg, const void* exp_avg_sq) {
  o.validate();
  STRIDER_CHECK(step >= 1, ValueError,
                "adam_step (" << backend << ", " << o.str() << "): step = " << step
                              << "; pass the step count after this update (1 on the first step)");
  STRIDER_CHECK(n >= 0, ShapeError, "adam_step (" << backend << "): element count n = " << n << " is negative");
  const bool needed = n > 0;
  require(param, "param", needed, "adam_step", backend, o.str(), n);
  require(grad, "grad", needed, "adam_step", backend, o.str(), n);
  require(exp_avg, "exp_avg", needed, "adam_step", backend, o.str(), n);
  require(exp_avg_sq, "exp_avg_sq", needed, "adam_step", backend, o.str(), n);
}

void sgd_check(const SgdOptions& o, std::int64_t n, const char* backend, const void* param, const void* grad,
               const void* momentum_buffer) {
  o.validate();
  STRIDER_CHECK(n >= 0, ShapeError, "sgd_step (" << backend << "): element count n = " << n << " is negative");
  const bool needed = n > 0;
  require(param, "param", needed, "sgd_step", backend, o.str(), n);
  require(grad, "grad", needed, "sgd_step", backend, o.str(), n);
  require(momentum_buffer, "momentum_buffer (needed because momentum != 0)", needed && o.momentum != 0, "sgd_step",
          backend, o.str(), n);
}

namespace cpu {
namespace {
constexpr std::int64_t kParallelGrain = 32768;
bool run_parallel(std::int64_t n) { return n >= kParallelGrain && !omp_in_parallel(); }
}  // namespace

template <class T>
void adam_step(const AdamOptions& o, std::int64_t step, std::int64_t n, T* param, const T* grad, T* exp_avg,
               T* exp_avg_sq) {
  adam_check(o, step, n, "cpu", param, grad, exp_avg, exp_avg_sq);
  const AdamScalars<T> s = adam_scalars<T>(o, step);
  if (s.weight_decay != T(0)) {
#pragma omp parallel for schedule(static) if (run_parallel(n))
    for (std::int64_t i = 0; i < n; ++i) adam_update<T>(s, param[i], grad[i], exp_avg[i], exp_avg_sq[i]);
  } else {  // the usual case (DCGAN's Adam): no branch in the loop, which then vectorises
#pragma omp parallel for schedule(static) if (run_parallel(n))
    for (std::int64_t i = 0; i < n; ++i) adam_update<T, false>(s, param[i], grad[i], exp_avg[i], exp_avg_sq[i]);
  }
}

template <class T>
void sgd_step(const SgdOptions& o, bool first_step, std::int64_t n, T* param, const T* grad, T* momentum_buffer) {
  sgd_check(o, n, "cpu", param, grad, momentum_buffer);
  const SgdScalars<T> s = sgd_scalars<T>(o, first_step);
  const bool has_buffer = o.momentum != 0;
#pragma omp parallel for schedule(static) if (run_parallel(n))
  for (std::int64_t i = 0; i < n; ++i) sgd_update<T>(s, param[i], grad[i], has_buffer ? momentum_buffer + i : nullptr);
}

#define STRIDER_INSTANTIATE(T)                                                                            \
  template void adam_step<T>(const AdamOptions&, std::int64_t, std::int64_t, T*, const T*, T*, T*); \
  template void sgd_step<T>(const SgdOptions&, bool, std::int64_t, T*, const T*, T*);
STRIDER_INSTANTIATE(float)
STRIDER_INSTANTIATE(double)
#undef STRIDER_INSTANTIATE

}  // namespace cpu
}  // namespace strider::kernels
