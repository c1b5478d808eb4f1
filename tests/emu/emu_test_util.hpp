// Helpers for the emulator's tests: device buffers, schedules, captured launch errors.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <strider/core/error.hpp>
#include <strider/kernels/cuda_runtime.hpp>

namespace strider::emu::test {

// A cudaMalloc'd array of n elements, freed on scope exit.
template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t n) : n_(n) { STRIDER_CUDA_CHECK(cudaMalloc(&ptr_, n * sizeof(T))); }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
  ~DeviceBuffer() { (void)cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* get() const { return ptr_; }
  std::size_t size() const { return n_; }
  void upload(const std::vector<T>& host) {
    STRIDER_CUDA_CHECK(cudaMemcpy(ptr_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice));
  }
  std::vector<T> download() const {
    std::vector<T> host(n_);
    STRIDER_CUDA_CHECK(cudaMemcpy(host.data(), ptr_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
    return host;
  }
  void fill_bytes(int value) { STRIDER_CUDA_CHECK(cudaMemset(ptr_, value, n_ * sizeof(T))); }

 private:
  T* ptr_ = nullptr;
  std::size_t n_ = 0;
};

inline std::vector<int> random_ints(std::size_t n, int lo, int hi, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<int> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

inline std::vector<float> random_floats(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

struct NamedSchedule {
  const char* name;
  Schedule kind;
  std::uint64_t seed;
};
inline const std::vector<NamedSchedule>& all_schedules() {
  static const std::vector<NamedSchedule> schedules = {
      {"inorder", Schedule::in_order, 0}, {"reverse", Schedule::reverse, 0}, {"shuffle:7", Schedule::shuffle, 7}};
  return schedules;
}

// Runs `body` once under every schedule (restoring the previous one).
inline void for_each_schedule(const std::function<void(const NamedSchedule&)>& body) {
  for (const auto& s : all_schedules()) {
    SCOPED_TRACE(std::string("schedule ") + s.name);
    ScopedSchedule scoped(s.kind, s.seed);
    body(s);
  }
}

// The message of the strider::CudaError that `launch` throws, or "" when it throws nothing.
inline std::string cuda_error_message(const std::function<void()>& launch) {
  try {
    launch();
  } catch (const strider::CudaError& e) {
    return e.what();
  }
  return "";
}

// Runs with n OS threads for the emulator, restoring the count afterwards.
class ScopedThreads {
 public:
  explicit ScopedThreads(int n) : saved_(num_threads()) { set_num_threads(n); }
  ~ScopedThreads() { set_num_threads(saved_); }
  ScopedThreads(const ScopedThreads&) = delete;
  ScopedThreads& operator=(const ScopedThreads&) = delete;

 private:
  int saved_;
};

}  // namespace strider::emu::test
