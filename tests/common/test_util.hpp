// Shared test helpers: the devices to run on, float64 references and error-message matchers.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <strider/strider.hpp>

namespace strider::testing {

// Every device this build and machine has: cpu, and cuda:0 when available (real or emulated).
inline std::vector<Device> test_devices() {
  std::vector<Device> d{Device::cpu()};
  if (cuda_is_available()) d.push_back(Device::cuda(0));
  return d;
}

inline std::string device_name(const ::testing::TestParamInfo<Device>& info) {
  return info.param.is_cpu() ? "cpu" : "cuda" + std::to_string(info.param.index());
}

// Expects `stmt` to throw `E` whose message contains every string in `parts`.
#define STRIDER_EXPECT_THROW_MSG(stmt, E, ...)                                        \
  do {                                                                                \
    try {                                                                             \
      stmt;                                                                           \
      ADD_FAILURE() << "expected " #E " from: " #stmt;                                \
    } catch (const E& e_) {                                                           \
      const std::string msg_ = e_.what();                                             \
      for (const std::string& part_ : std::vector<std::string>{__VA_ARGS__})          \
        EXPECT_NE(msg_.find(part_), std::string::npos)                                \
            << "message lacks \"" << part_ << "\":\n  " << msg_;                      \
    } catch (const std::exception& other_) {                                          \
      ADD_FAILURE() << "expected " #E ", got another exception: " << other_.what();   \
    }                                                                                 \
  } while (0)

// Elementwise |a - b| <= atol + rtol * |b|; reports the first mismatch with its index.
inline ::testing::AssertionResult all_close(const std::vector<double>& a, const std::vector<double>& b,
                                            double rtol, double atol) {
  if (a.size() != b.size())
    return ::testing::AssertionFailure() << "sizes differ: " << a.size() << " vs " << b.size();
  for (size_t i = 0; i < a.size(); ++i) {
    if (!(std::abs(a[i] - b[i]) <= atol + rtol * std::abs(b[i])))
      return ::testing::AssertionFailure() << "first mismatch at flat index " << i << ": " << a[i] << " vs expected "
                                           << b[i] << " (rtol " << rtol << ", atol " << atol << ")";
  }
  return ::testing::AssertionSuccess();
}

}  // namespace strider::testing
