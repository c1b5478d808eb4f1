// Row (de)interleaving for the CPU convolutions' input stage (kernels/cpu/conv2d.cpp): a stride-2
// convolution's stage splits each input row into its even and odd columns, and backward-data adds
// them back. AVX-512 (two-source permutes, masked loads and stores) where the CPU has it, plain
// loops otherwise; the same results either way.
#pragma once

#include <cstdint>

namespace strider::kernels::cpu {

// even[v] = x[2v] for 2v < n, odd[v] = x[2v + 1] for 2v + 1 < n. Reads x[0, n) only. With rows > 1,
// the same for row r: x + r x_stride, even + r out_stride, odd + r out_stride.
void deinterleave2(const float* x, std::int64_t n, float* even, float* odd, std::int64_t rows = 1,
                   std::int64_t x_stride = 0, std::int64_t out_stride = 0);

// x[2v] += even[v] for 2v < n, x[2v + 1] += odd[v] for 2v + 1 < n: the adjoint. Touches x[0, n) only.
// With rows > 1, row r: even + r in_stride, odd + r in_stride, x + r x_stride.
void interleave2_add(const float* even, const float* odd, std::int64_t n, float* x, std::int64_t rows = 1,
                     std::int64_t in_stride = 0, std::int64_t x_stride = 0);

// The plain loops, for tests.
void deinterleave2_portable(const float* x, std::int64_t n, float* even, float* odd, std::int64_t rows = 1,
                            std::int64_t x_stride = 0, std::int64_t out_stride = 0);
void interleave2_add_portable(const float* even, const float* odd, std::int64_t n, float* x, std::int64_t rows = 1,
                              std::int64_t in_stride = 0, std::int64_t x_stride = 0);

}  // namespace strider::kernels::cpu
