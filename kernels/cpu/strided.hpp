// Row (de)interleaving for the CPU convolutions' input stage (kernels/cpu/conv2d.cpp): a stride-2
// convolution's stage splits each input row into its even and odd columns, and backward-data adds
// them back. AVX-512 (two-source permutes, masked loads and stores) where the CPU has it, plain
// loops otherwise; the same results either way.
#pragma once

#include <cstdint>

namespace strider::kernels::cpu {

// even[v] = x[2v] for 2v < n, odd[v] = x[2v + 1] for 2v + 1 < n. Reads x[0, n) only.
void deinterleave2(const float* x, std::int64_t n, float* even, float* odd);

// x[2v] += even[v] for 2v < n, x[2v + 1] += odd[v] for 2v + 1 < n: the adjoint. Touches x[0, n) only.
void interleave2_add(const float* even, const float* odd, std::int64_t n, float* x);

// The plain loops, for tests.
void deinterleave2_portable(const float* x, std::int64_t n, float* even, float* odd);
void interleave2_add_portable(const float* even, const float* odd, std::int64_t n, float* x);

}  // namespace strider::kernels::cpu
