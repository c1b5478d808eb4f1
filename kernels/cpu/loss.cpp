// CPU losses for kernels/loss.hpp, and the argument check every backend runs.
//
// The per-element formulas are loss_value / loss_grad from the header (the CUDA kernels use the
// same ones). Sums accumulate in double per OpenMP thread and are combined by OpenMP's reduction;
// the order (and so the last bits of a float sum) depends on the thread count, not on timing.
#include <strider/kernels/loss.hpp>

#include <omp.h>

#include <limits>

#include <strider/core/error.hpp>

namespace strider::kernels {

const char* loss_name(LossKind kind) {
  switch (kind) {
    case LossKind::BinaryCrossEntropy: return "binary_cross_entropy";
    case LossKind::BinaryCrossEntropyWithLogits: return "binary_cross_entropy_with_logits";
    case LossKind::MeanSquaredError: return "mse_loss";
  }
  return "unknown loss";
}

const char* loss_reduction_name(LossReduction reduction) {
  switch (reduction) {
    case LossReduction::None: return "none";
    case LossReduction::Mean: return "mean";
    case LossReduction::Sum: return "sum";
  }
  return "unknown reduction";
}

void loss_check(LossKind kind, LossReduction reduction, std::int64_t n, bool backward, const char* backend,
                const void* input, const void* target, const void* grad_out, const void* output) {
  const char* op = backward ? "loss_backward" : "loss_forward";
  const int k = static_cast<int>(kind), r = static_cast<int>(reduction);
  STRIDER_CHECK(k >= 0 && k <= static_cast<int>(LossKind::MeanSquaredError), ValueError,
                op << " (" << backend << "): unknown LossKind " << k);
  STRIDER_CHECK(r >= 0 && r <= static_cast<int>(LossReduction::Sum), ValueError,
                op << " (" << backend << "): unknown LossReduction " << r << "; use None, Mean or Sum");
  STRIDER_CHECK(n >= 0, ShapeError,
                op << " (" << backend << ", " << loss_name(kind) << "): element count n = " << n << " is negative");
  auto require = [&](const void* ptr, const char* name, bool needed) {
    STRIDER_CHECK(!needed || ptr != nullptr, ValueError,
                  op << " (" << backend << ", " << loss_name(kind) << ", reduction " << loss_reduction_name(reduction)
                     << ", n = " << n << "): buffer " << name << " is null");
  };
  const bool reads = n > 0;
  require(input, "input", reads);
  require(target, "target", reads);
  if (backward) {
    require(grad_out, "grad_out", reads);
    require(output, "grad_input", reads);
  } else {
    require(output, "out", reads || reduction != LossReduction::None);
  }
}

namespace cpu {
namespace {

constexpr std::int64_t kParallelGrain = 32768;

bool run_parallel(std::int64_t n) { return n >= kParallelGrain && !omp_in_parallel(); }

// The first index (smallest) at which v is outside [0, 1] (NaN included), or -1.
template <class T>
std::int64_t first_outside_unit(const T* v, std::int64_t n) {
  std::int64_t first = std::numeric_limits<std::int64_t>::max();
#pragma omp parallel for schedule(static) reduction(min : first) if (run_parallel(n))
  for (std::int64_t i = 0; i < n; ++i)
    if (!(v[i] >= T(0) && v[i] <= T(1)) && i < first) first = i;
  return first == std::numeric_limits<std::int64_t>::max() ? -1 : first;
}

template <class T>
void check_probabilities(const T* v, std::int64_t n, const char* name, const char* fix) {
  const std::int64_t bad = first_outside_unit(v, n);
  STRIDER_CHECK(bad < 0, ValueError,
                "binary_cross_entropy (cpu): " << name << "[" << bad << "] = " << (bad < 0 ? 0.0 : static_cast<double>(v[bad]))
                                               << " is not in [0, 1]; " << fix);
}

}  // namespace

template <class T>
void loss_forward(LossKind kind, LossReduction reduction, std::int64_t n, const T* input, const T* target, T* out) {
  loss_check(kind, reduction, n, false, "cpu", input, target, nullptr, out);
  if (kind == LossKind::BinaryCrossEntropy) {
    check_probabilities(input, n, "input",
                        "binary_cross_entropy takes probabilities: apply sigmoid first, or use "
                        "binary_cross_entropy_with_logits on the raw scores");
    check_probabilities(target, n, "target", "targets of binary_cross_entropy are labels or probabilities in [0, 1]");
  }
  if (reduction == LossReduction::None) {
#pragma omp parallel for schedule(static) if (run_parallel(n))
    for (std::int64_t i = 0; i < n; ++i) out[i] = loss_value<T>(kind, input[i], target[i]);
    return;
  }
  double sum = 0;
#pragma omp parallel for schedule(static) reduction(+ : sum) if (run_parallel(n))
  for (std::int64_t i = 0; i < n; ++i) sum += static_cast<double>(loss_value<T>(kind, input[i], target[i]));
  out[0] = static_cast<T>(reduction == LossReduction::Mean ? sum / static_cast<double>(n) : sum);
}

template <class T>
void loss_backward(LossKind kind, LossReduction reduction, std::int64_t n, const T* input, const T* target,
                   const T* grad_out, T* grad_input) {
  loss_check(kind, reduction, n, true, "cpu", input, target, grad_out, grad_input);
  if (n == 0) return;
  if (reduction == LossReduction::None) {
#pragma omp parallel for schedule(static) if (run_parallel(n))
    for (std::int64_t i = 0; i < n; ++i) grad_input[i] = grad_out[i] * loss_grad<T>(kind, input[i], target[i]);
    return;
  }
  const T g = reduction == LossReduction::Mean ? static_cast<T>(static_cast<double>(grad_out[0]) / static_cast<double>(n))
                                               : grad_out[0];
#pragma omp parallel for schedule(static) if (run_parallel(n))
  for (std::int64_t i = 0; i < n; ++i) grad_input[i] = g * loss_grad<T>(kind, input[i], target[i]);
}

#define STRIDER_INSTANTIATE(T)                                                                      \
  template void loss_forward<T>(LossKind, LossReduction, std::int64_t, const T*, const T*, T*); \
  template void loss_backward<T>(LossKind, LossReduction, std::int64_t, const T*, const T*, const T*, T*);
STRIDER_INSTANTIATE(float)
STRIDER_INSTANTIATE(double)
#undef STRIDER_INSTANTIATE

}  // namespace cpu
}  // namespace strider::kernels
