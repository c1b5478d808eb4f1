// The convolution solver: which (kernel, stride, padding[, output_padding]) map an input size to a
// target output size. Kernel 1..7, stride 1..4, padding 0..kernel, dilation 1; output_padding
// 0..stride-1 for transposed convolutions. The arithmetic is kernels::Conv2dProblem's (P() after
// validate()), never a second copy of the formula.
//
//   solve_conv(64, 32)            -> k4 s2 p1, k2 s2 p0, ...   (halve: the DCGAN discriminator step)
//   solve_conv_transpose(32, 64)  -> k4 s2 p1, ...             (double: the DCGAN generator step)
//
// Sorted sensibly: choices that waste nothing come first (no input rows dropped by the floor, no
// padding over half the kernel, no conv kernel wider than its input, no output_padding), then the
// common ones in the order people use them (k4 s2 p1, k3 s1 p1, k4 s1 p0, ...), then by padding
// and kernel size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace strider::nn {

struct ConvChoice {
  int kernel = 1, stride = 1, padding = 0, output_padding = 0;
  bool transposed = false;
  // "kernel 4, stride 2, padding 1" (", output_padding 1" when set)
  std::string str() const;
  friend bool operator==(const ConvChoice&, const ConvChoice&) = default;
};

// Every choice with conv2d output size `out` for input size `in` (both >= 1; otherwise empty).
std::vector<ConvChoice> solve_conv(std::int64_t in, std::int64_t out);
// The same for conv_transpose2d.
std::vector<ConvChoice> solve_conv_transpose(std::int64_t in, std::int64_t out);
// The 1-D output size of a choice on `in` (through Conv2dProblem); 0 when the problem is invalid.
std::int64_t conv_choice_output(const ConvChoice& c, std::int64_t in);

}  // namespace strider::nn
