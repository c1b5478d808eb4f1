// Helpers for the batch-norm, loss and optimizer kernel tests: the backends to run on, buffers
// that live on a backend (NaN-poisoned outputs, guard elements after every buffer), seeded random
// data, and a comparison that reports the first mismatch with its index.
//
// Tolerance rule everywhere: |got - ref| <= atol + rtol |ref| against a float64 reference written
// in the test; each test states its atol / rtol and why.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <strider/config.hpp>
#include <strider/core/error.hpp>
#if STRIDER_HAS_CUDA
#include <strider/kernels/cuda_runtime.hpp>
#endif

#include "common/test_util.hpp"  // STRIDER_EXPECT_THROW_MSG

namespace strider::nn_test {

using Idx = std::int64_t;

enum class Backend { Cpu, Cuda };

// Streams every argument into one string (instead of operator+ chains, which trip GCC 12's
// -Wrestrict false positive).
template <class... A>
std::string cat(const A&... a) {
  std::ostringstream os;
  (os << ... << a);
  return os.str();
}

inline std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::Cpu ? "cpu" : "cuda";
}

// Why the CUDA backend cannot run here ("" when it can): no CUDA in this build, or
// cudaGetDeviceCount reports no device (a real-CUDA build on a machine without a GPU).
inline std::string cuda_unavailable() {
#if STRIDER_HAS_CUDA
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    return cat("cudaGetDeviceCount failed: ", cudaGetErrorName(status), " (", cudaGetErrorString(status), ")");
  }
  if (count == 0) return "cudaGetDeviceCount reports 0 devices";
  return "";
#else
  return "this build has no CUDA backend (configure with nvcc available, or -DSTRIDER_CUDA_EMULATION=ON)";
#endif
}

// Test fixture base: parameterised over the backend, skipping (with the reason) where it is absent.
class BackendTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::Cuda) {
      const std::string why = cuda_unavailable();
      if (!why.empty()) GTEST_SKIP() << "CUDA tests skipped: " << why;
    }
  }
  Backend backend() const { return GetParam(); }
};

constexpr Idx kGuard = 8;            // guard elements after every buffer
constexpr double kGuardValue = 4321.25;

// n elements on a backend, followed by kGuard guard elements. Built from values (an input or an
// in-place state) or from a size (an output: every element NaN until the kernel writes it).
template <class T>
class Buf {
 public:
  Buf(Backend b, Idx n) : backend_(b), host_(static_cast<std::size_t>(n + kGuard)), n_(n) {
    std::fill(host_.begin(), host_.begin() + n, std::numeric_limits<T>::quiet_NaN());
    std::fill(host_.begin() + n, host_.end(), static_cast<T>(kGuardValue));
    upload();
  }
  Buf(Backend b, const std::vector<double>& values) : Buf(b, static_cast<Idx>(values.size())) {
    for (Idx i = 0; i < n_; ++i) host_[static_cast<std::size_t>(i)] = static_cast<T>(values[static_cast<std::size_t>(i)]);
    upload();
  }
  Buf(Backend b, std::initializer_list<double> values) : Buf(b, std::vector<double>(values)) {}
  ~Buf() {
#if STRIDER_HAS_CUDA
    if (device_ != nullptr) (void)cudaFree(device_);
#endif
  }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;

  T* ptr() { return backend_ == Backend::Cpu ? host_.data() : device_; }
  Idx size() const { return n_; }

  // The payload as double, after copying it back from the device. Fails the test when a guard
  // element changed (an out-of-bounds write).
  std::vector<double> get() {
    download();
    for (Idx i = n_; i < n_ + kGuard; ++i)
      EXPECT_EQ(static_cast<double>(host_[static_cast<std::size_t>(i)]), static_cast<double>(static_cast<T>(kGuardValue)))
          << "guard element " << i - n_ << " after a buffer of " << n_ << " elements was overwritten";
    return std::vector<double>(host_.begin(), host_.begin() + n_);
  }
  // The payload exactly as stored (for bitwise comparisons).
  std::vector<T> raw() {
    download();
    return std::vector<T>(host_.begin(), host_.begin() + n_);
  }

 private:
  void upload() {
#if STRIDER_HAS_CUDA
    if (backend_ != Backend::Cuda) return;
    const std::size_t bytes = host_.size() * sizeof(T);
    if (device_ == nullptr) STRIDER_CUDA_CHECK(cudaMalloc(&device_, bytes));
    STRIDER_CUDA_CHECK(cudaMemcpy(device_, host_.data(), bytes, cudaMemcpyHostToDevice));
#endif
  }
  void download() {
#if STRIDER_HAS_CUDA
    if (backend_ != Backend::Cuda) return;
    STRIDER_CUDA_CHECK(cudaDeviceSynchronize());
    STRIDER_CUDA_CHECK(cudaMemcpy(host_.data(), device_, host_.size() * sizeof(T), cudaMemcpyDeviceToHost));
#endif
  }

  Backend backend_;
  std::vector<T> host_;
  T* device_ = nullptr;
  Idx n_;
};

// Seeded uniform values lo + (hi - lo) u with u in [0, 1); never exactly zero for the ranges used.
inline std::vector<double> uniform(Idx n, double lo, double hi, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = u(rng);
  return v;
}

// Seeded values with magnitude in [lo, hi] and a random sign: never zero.
inline std::vector<double> signed_uniform(Idx n, double lo, double hi, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = (rng() & 1 ? 1.0 : -1.0) * u(rng);
  return v;
}

// Values rounded to T and back: the inputs the T kernel actually sees.
template <class T>
std::vector<double> as(const std::vector<double>& v) {
  std::vector<double> r(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) r[i] = static_cast<double>(static_cast<T>(v[i]));
  return r;
}

// Formats a flat index; the default prints it as is.
using IndexFormat = std::function<std::string(Idx)>;
inline IndexFormat flat_index() {
  return [](Idx i) { return cat("[", i, "]"); };
}
// (n, c, hw) of an (N, C, HW) buffer.
inline IndexFormat nchw_index(Idx C, Idx HW) {
  return [C, HW](Idx i) {
    std::ostringstream os;
    os << "(n " << i / (C * HW) << ", c " << (i / HW) % C << ", hw " << i % HW << ")";
    return os.str();
  };
}

// Every element written (no NaN where the reference has none) and within atol + rtol |ref|.
// Reports the count of mismatches and the first one with its index and both values.
inline ::testing::AssertionResult close(const std::string& what, const std::vector<double>& got,
                                        const std::vector<double>& ref, double rtol, double atol,
                                        const IndexFormat& index = flat_index()) {
  if (got.size() != ref.size())
    return ::testing::AssertionFailure() << what << ": " << got.size() << " elements, reference has " << ref.size();
  Idx bad = 0, first = -1;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const bool both_nan = std::isnan(got[i]) && std::isnan(ref[i]);
    if (both_nan || std::abs(got[i] - ref[i]) <= atol + rtol * std::abs(ref[i])) continue;
    if (first < 0) first = static_cast<Idx>(i);
    ++bad;
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  const auto f = static_cast<std::size_t>(first);
  return ::testing::AssertionFailure() << what << ": " << bad << " of " << got.size() << " elements off; first at "
                                       << index(first) << ": got " << got[f] << ", reference " << ref[f] << " (|diff| "
                                       << std::abs(got[f] - ref[f]) << " > atol " << atol << " + rtol " << rtol
                                       << " * |ref|)";
}

// Runs `cpu` or `cuda` for the backend, then waits for the device. A CPU-only build never calls
// `cuda` (the CUDA tests skip before).
template <class Cpu, class Cuda>
void dispatch(Backend b, Cpu&& cpu, Cuda&& cuda) {
  if (b == Backend::Cpu) {
    cpu();
    return;
  }
  cuda();
#if STRIDER_HAS_CUDA
  STRIDER_CUDA_CHECK(cudaDeviceSynchronize());
#endif
}

}  // namespace strider::nn_test

#if STRIDER_HAS_CUDA
// Calls kernels::cuda::fn(args...) in a build with CUDA; fails the test otherwise (unreachable:
// the CUDA tests skip first).
#define NN_CUDA_CALL(fn, ...) ::strider::kernels::cuda::fn(__VA_ARGS__)
#else
#define NN_CUDA_CALL(fn, ...) ADD_FAILURE() << "no CUDA backend in this build"
#endif

// kernels::cpu::fn(args...) or kernels::cuda::fn(args...) for backend b.
#define NN_RUN(b, fn, ...)                                                       \
  ::strider::nn_test::dispatch(                                                  \
      (b), [&] { ::strider::kernels::cpu::fn(__VA_ARGS__); }, [&] { NN_CUDA_CALL(fn, __VA_ARGS__); })
