// kernels/cpu/strided.hpp: the dispatched row (de)interleaving (AVX-512 where the CPU has it)
// against the plain loops for every length up to past two vectors, and that neither touches
// anything past its rows.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include <strider/kernels/cpu/strided.hpp>

namespace strider::kernels::cpu {
namespace {

using Idx = std::int64_t;

std::vector<float> values(Idx n, float scale) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (Idx i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = scale * std::sin(0.7f * static_cast<float>(i) + 0.3f);
  return v;
}

TEST(Strided, DeinterleaveMatchesPlainLoop) {
  for (Idx n = 0; n <= 70; ++n) {
    const auto x = values(n, 1.0f);  // exactly n floats: a read past them shows under ASan
    const auto halves = static_cast<std::size_t>(n / 2 + 2);
    std::vector<float> even(halves, -7.0f), odd(halves, -7.0f), want_even = even, want_odd = odd;
    deinterleave2(x.data(), n, even.data(), odd.data());
    deinterleave2_portable(x.data(), n, want_even.data(), want_odd.data());
    EXPECT_EQ(even, want_even) << "n " << n;
    EXPECT_EQ(odd, want_odd) << "n " << n;
  }
}

TEST(Strided, InterleaveAddMatchesPlainLoop) {
  for (Idx n = 0; n <= 70; ++n) {
    const auto even = values((n + 1) / 2, 0.5f), odd = values(n / 2, -0.25f);
    auto x = values(n + 3, 2.0f);  // 3 more floats that must stay as they are
    auto want = x;
    interleave2_add(even.data(), odd.data(), n, x.data());
    interleave2_add_portable(even.data(), odd.data(), n, want.data());
    EXPECT_EQ(x, want) << "n " << n;
  }
}

// Several rows in one call (the stage fills a plane's rows at once): rows of x `x_stride` apart,
// output rows `out_stride` apart, with gaps on both sides that must stay as they were.
TEST(Strided, RowsInOneCallMatchPlainLoop) {
  for (Idx n : {1, 2, 7, 8, 16, 17, 33}) {
    const Idx rows = 5, x_stride = n + 3, out_stride = n / 2 + 4;
    const auto x = values(rows * x_stride, 1.0f);
    std::vector<float> even(static_cast<std::size_t>(rows * out_stride), -7.0f), odd = even, want_even = even,
                       want_odd = even;
    deinterleave2(x.data(), n, even.data(), odd.data(), rows, x_stride, out_stride);
    for (Idx r = 0; r < rows; ++r)
      deinterleave2_portable(x.data() + r * x_stride, n, want_even.data() + r * out_stride,
                             want_odd.data() + r * out_stride);
    EXPECT_EQ(even, want_even) << "n " << n;
    EXPECT_EQ(odd, want_odd) << "n " << n;

    auto y = values(rows * x_stride, 2.0f);
    auto want = y;
    interleave2_add(even.data(), odd.data(), n, y.data(), rows, out_stride, x_stride);
    for (Idx r = 0; r < rows; ++r)
      interleave2_add_portable(even.data() + r * out_stride, odd.data() + r * out_stride, n, want.data() + r * x_stride);
    EXPECT_EQ(y, want) << "n " << n;
  }
}

}  // namespace
}  // namespace strider::kernels::cpu
