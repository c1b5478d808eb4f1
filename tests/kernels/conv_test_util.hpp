// Helpers shared by the conv2d tests: seeded random data, NaN-poisoned outputs with guard elements
// after every buffer, the tolerance rule, and comparisons that print the first mismatch as
// (n, c, h, w) with both values.
//
// Tolerance (float32 result x against the float64 reference r):
//   |x - r| <= atol + rtol |r|,  rtol = 1e-5,  atol = 2e-6 * L
// where L is the number of products summed into one element (the reduction length of the pass)
// and the data are uniform in [-1, 1]. Float32 summation error grows like eps * L for such data
// (eps = 6e-8), so this leaves a ~30x margin while still catching a single missing or doubled
// term (whose size is ~|term| ~ 0.1 .. 1, far above 2e-6 L for any L here).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <strider/kernels/conv2d.hpp>

namespace strider::test {

using kernels::Conv2dProblem;
using Idx = std::int64_t;

constexpr double kRtol = 1e-5;
constexpr double kAtolPerTerm = 2e-6;
constexpr int kGuard = 16;                 // guard elements after every buffer
constexpr float kGuardValue = 1234.5f;     // what the guard elements hold

// Seeded uniform values in +-[0.05, 1]: never zero, never the whole buffer one value.
template <class T>
std::vector<T> random_values(Idx n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> mag(0.05, 1.0);
  std::vector<T> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = static_cast<T>((rng() & 1 ? 1.0 : -1.0) * static_cast<float>(mag(rng)));
  return v;
}

// Small integers in {-3, -2, -1, 1, 2, 3}: every sum of products the tests form stays below 2^24,
// so float32 computes it exactly in any order and results can be compared for equality.
template <class T>
std::vector<T> random_ints(Idx n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<T> v(static_cast<std::size_t>(n));
  for (auto& x : v) {
    const int k = static_cast<int>(rng() % 6);
    x = static_cast<T>(k < 3 ? k - 3 : k - 2);
  }
  return v;
}

template <class To, class From>
std::vector<To> cast(const std::vector<From>& v) {
  return std::vector<To>(v.begin(), v.end());
}

// A host buffer of n elements followed by kGuard guard elements. poison() fills the payload with
// NaN (outputs must overwrite every element) and the guard with kGuardValue.
template <class T>
class Guarded {
 public:
  explicit Guarded(Idx n) : n_(n), data_(static_cast<std::size_t>(n + kGuard)) { poison(); }
  Guarded(const std::vector<T>& values) : Guarded(static_cast<Idx>(values.size())) {  // NOLINT
    std::copy(values.begin(), values.end(), data_.begin());
  }
  void poison() {
    std::fill(data_.begin(), data_.begin() + n_, std::numeric_limits<T>::quiet_NaN());
    std::fill(data_.begin() + n_, data_.end(), static_cast<T>(kGuardValue));
  }
  T* data() { return data_.data(); }
  const T* data() const { return data_.data(); }
  Idx size() const { return n_; }
  Idx size_with_guard() const { return n_ + kGuard; }
  std::vector<T> values() const { return std::vector<T>(data_.begin(), data_.begin() + n_); }
  const T& operator[](Idx i) const { return data_[static_cast<std::size_t>(i)]; }
  T& operator[](Idx i) { return data_[static_cast<std::size_t>(i)]; }
  bool guard_intact() const {
    for (Idx i = n_; i < n_ + kGuard; ++i)
      if (data_[static_cast<std::size_t>(i)] != static_cast<T>(kGuardValue)) return false;
    return true;
  }

 private:
  Idx n_;
  std::vector<T> data_;
};

// Names index i of a 4-D buffer of dims d as "(a, b, c, e)".
inline std::string index4(Idx i, const Idx d[4]) {
  Idx c[4];
  for (int k = 3; k >= 0; --k) {
    c[k] = d[k] > 0 ? i % d[k] : 0;
    i = d[k] > 0 ? i / d[k] : 0;
  }
  std::ostringstream os;
  os << "(" << c[0] << ", " << c[1] << ", " << c[2] << ", " << c[3] << ")";
  return os.str();
}

// What one output buffer of a pass is: its name, 4-D dims, reduction length.
struct OutputSpec {
  std::string name;
  Idx dims[4];
  Idx reduction;  // products summed into one element
};

// Checks `got` (float or double) against the reference: every element written (no NaN left),
// within tolerance (exact when exact = true), guard untouched. Reports the first mismatch as
// (n, c, h, w) with both values, the number of mismatches and the largest error.
template <class T>
::testing::AssertionResult matches(const OutputSpec& spec, const Guarded<T>& got, const std::vector<double>& ref,
                                   bool exact = false, double atol_per_term = kAtolPerTerm, double rtol = kRtol) {
  if (!got.guard_intact()) {
    return ::testing::AssertionFailure() << spec.name << ": the guard elements after the buffer were overwritten";
  }
  const double atol = exact ? 0.0 : atol_per_term * static_cast<double>(std::max<Idx>(spec.reduction, 1));
  const double rt = exact ? 0.0 : rtol;
  Idx bad = 0, first = -1, unwritten = 0;
  double worst = 0.0;
  for (Idx i = 0; i < got.size(); ++i) {
    const double x = static_cast<double>(got[i]), r = ref[static_cast<std::size_t>(i)];
    if (std::isnan(x)) ++unwritten;
    const double err = std::abs(x - r);
    worst = std::isnan(err) ? worst : std::max(worst, err);
    if (!(err <= atol + rt * std::abs(r))) {
      if (first < 0) first = i;
      ++bad;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  const std::size_t f = static_cast<std::size_t>(first);
  return ::testing::AssertionFailure()
         << spec.name << ": " << bad << " of " << got.size() << " elements off (" << unwritten
         << " never written, still NaN); first at " << index4(first, spec.dims) << ": got "
         << static_cast<double>(got[first]) << ", reference " << ref[f] << " (|diff| "
         << std::abs(static_cast<double>(got[first]) - ref[f]) << " > atol " << atol << " + rtol " << rt
         << " * |ref|); largest |diff| " << worst;
}

// The buffers and reference results of one problem: inputs (float64 and their float32 copies),
// and the float64 reference of each pass.
struct ConvCase {
  Conv2dProblem p;
  std::vector<double> x, w, b, dy;           // inputs: x, weight, bias, grad_y
  std::vector<double> y, dx, dw, db;         // reference: y, grad_x, grad_weight, grad_bias
  OutputSpec y_spec, dx_spec, dw_spec, db_spec;

  // Seeded inputs (uniform values, or small integers for exact comparisons); the reference
  // results are computed unless run_reference is false (the caller then fills them).
  ConvCase(const Conv2dProblem& prob, std::uint64_t seed, bool integers = false, bool run_reference = true)
      : p(prob) {
    auto gen = [&](Idx n, std::uint64_t s) { return integers ? random_ints<double>(n, s) : random_values<double>(n, s); };
    x = gen(p.input_size(), seed * 4 + 1);
    w = gen(p.weight_size(), seed * 4 + 2);
    b = gen(p.bias_size(), seed * 4 + 3);
    dy = gen(p.output_size(), seed * 4 + 4);
    y.resize(p.output_size());
    dx.resize(p.input_size());
    dw.resize(p.weight_size());
    db.resize(p.bias_size());
    set_specs();
    if (!run_reference) return;
    namespace ref = kernels::ref;
    if (!p.transposed) {
      ref::conv2d_forward(p, x.data(), w.data(), b.data(), y.data());
      ref::conv2d_backward_data(p, dy.data(), w.data(), dx.data());
      ref::conv2d_backward_weight(p, x.data(), dy.data(), dw.data(), db.data());
    } else {
      ref::conv_transpose2d_forward(p, x.data(), w.data(), b.data(), y.data());
      ref::conv_transpose2d_backward_data(p, dy.data(), w.data(), dx.data());
      ref::conv_transpose2d_backward_weight(p, x.data(), dy.data(), dw.data(), db.data());
    }
  }

  void set_specs() {
    // Reduction lengths: products per element of each pass (an upper bound where padding
    // drops taps). conv2d: y sums C/g R S, grad_x sums K/g R S (at most), grad_w sums N P Q.
    // conv_transpose2d: the same with the roles of the lowered convolution swapped.
    const Idx Cg = p.C / p.groups, Kg = p.K / p.groups, RS = Idx{p.R} * p.S;
    const Idx P = p.P(), Q = p.Q();
    const Idx y_red = Cg * RS, dx_red = Kg * RS;
    const Idx dw_red = p.transposed ? Idx{p.N} * p.H * p.W : Idx{p.N} * P * Q;
    const Idx wd0 = p.transposed ? p.C : p.K, wd1 = p.transposed ? Kg : Cg;
    y_spec = {"y", {p.N, p.K, P, Q}, y_red + 1};
    dx_spec = {"grad_x", {p.N, p.C, p.H, p.W}, dx_red};
    dw_spec = {"grad_weight", {wd0, wd1, p.R, p.S}, dw_red};
    db_spec = {"grad_bias", {1, 1, 1, p.K}, Idx{p.N} * P * Q};
  }
};

}  // namespace strider::test
