// The convolution solver (solve.hpp).
#include <algorithm>
#include <array>
#include <climits>
#include <strider/core/error.hpp>
#include <strider/kernels/conv2d.hpp>
#include <strider/layers/solve.hpp>
#include <tuple>

namespace strider::nn {
namespace {

constexpr int kMaxKernel = 7, kMaxStride = 4;

// Common choices, most common first.
constexpr std::array<std::array<int, 3>, 10> kCommonConv{
    {{4, 2, 1}, {3, 1, 1}, {4, 1, 0}, {3, 2, 1}, {1, 1, 0}, {5, 1, 2}, {2, 2, 0}, {7, 1, 3}, {5, 2, 2}, {7, 2, 3}}};
constexpr std::array<std::array<int, 4>, 7> kCommonTransposed{
    {{4, 2, 1, 0}, {4, 1, 0, 0}, {3, 2, 1, 1}, {3, 1, 1, 0}, {2, 2, 0, 0}, {5, 2, 2, 1}, {1, 1, 0, 0}}};

int common_rank(const ConvChoice& c) {
  if (!c.transposed) {
    for (size_t i = 0; i < kCommonConv.size(); ++i) {
      const auto& k = kCommonConv[i];
      if (c.kernel == k[0] && c.stride == k[1] && c.padding == k[2]) return static_cast<int>(i);
    }
  } else {
    for (size_t i = 0; i < kCommonTransposed.size(); ++i) {
      const auto& k = kCommonTransposed[i];
      if (c.kernel == k[0] && c.stride == k[1] && c.padding == k[2] && c.output_padding == k[3])
        return static_cast<int>(i);
    }
  }
  return 100;
}

// How many ways a choice wastes work or reads mostly zeros (0 = clean).
int waste(const ConvChoice& c, std::int64_t in) {
  int w = 0;
  if (2 * c.padding > c.kernel) ++w;  // more padding than half the kernel: outputs of mostly zeros
  if (c.kernel < c.stride) ++w;       // the kernel skips input positions
  if (!c.transposed) {
    if ((in + 2 * c.padding - c.kernel) % c.stride != 0) ++w;  // trailing input rows dropped by the floor
    if (c.kernel > in) ++w;                                    // kernel wider than the input itself
  } else if (c.output_padding > 0) {
    ++w;
  }
  return w;
}

std::vector<ConvChoice> solve(std::int64_t in, std::int64_t out, bool transposed) {
  std::vector<ConvChoice> found;
  if (in < 1 || out < 1 || in > INT_MAX) return found;
  for (int k = 1; k <= kMaxKernel; ++k) {
    for (int s = 1; s <= kMaxStride; ++s) {
      for (int p = 0; p <= k; ++p) {
        for (int op = 0; op < (transposed ? s : 1); ++op) {
          const ConvChoice c{k, s, p, op, transposed};
          if (conv_choice_output(c, in) == out) found.push_back(c);
        }
      }
    }
  }
  std::stable_sort(found.begin(), found.end(), [in](const ConvChoice& a, const ConvChoice& b) {
    return std::make_tuple(waste(a, in), common_rank(a), a.padding, a.output_padding, a.kernel, a.stride) <
           std::make_tuple(waste(b, in), common_rank(b), b.padding, b.output_padding, b.kernel, b.stride);
  });
  return found;
}

}  // namespace

std::string ConvChoice::str() const {
  std::string s = "kernel " + std::to_string(kernel) + ", stride " + std::to_string(stride) + ", padding " +
                  std::to_string(padding);
  if (output_padding) s += ", output_padding " + std::to_string(output_padding);
  return s;
}

std::int64_t conv_choice_output(const ConvChoice& c, std::int64_t in) {
  if (in < 1 || in > INT_MAX) return 0;
  kernels::Conv2dProblem p;
  p.H = static_cast<int>(in);
  p.R = c.kernel;
  p.stride_h = c.stride;
  p.pad_h = c.padding;
  p.out_pad_h = c.transposed ? c.output_padding : 0;
  p.transposed = c.transposed;
  try {
    p.validate();
  } catch (const Error&) {
    return 0;
  }
  return p.P();
}

std::vector<ConvChoice> solve_conv(std::int64_t in, std::int64_t out) { return solve(in, out, false); }
std::vector<ConvChoice> solve_conv_transpose(std::int64_t in, std::int64_t out) { return solve(in, out, true); }

}  // namespace strider::nn
