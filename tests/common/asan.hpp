// Whether this test binary runs under AddressSanitizer (-DSTRIDER_SANITIZE=ON), and a fixture for
// tests that need it: they skip without ASan, and their death tests re-run the test from the start
// in a child (no state inherited from other tests or threads).
#pragma once

#include <gtest/gtest.h>

#if defined(__SANITIZE_ADDRESS__)
#define STRIDER_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STRIDER_TEST_ASAN 1
#endif
#endif

namespace strider::test {

#if defined(STRIDER_TEST_ASAN)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif

class AsanDeathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!kAsan) GTEST_SKIP() << "needs AddressSanitizer: configure with -DSTRIDER_SANITIZE=ON";
    GTEST_FLAG_SET(death_test_style, "threadsafe");
  }
};

}  // namespace strider::test
