// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a
// counter-based generator. Element i of a random tensor depends only on (seed, offset + i/4)
// and i%4, so every device produces the same numbers for the same seed, in any thread order.
//
// Usable from host code and from CUDA kernels (STRIDER_HD).
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define STRIDER_HD __host__ __device__ __forceinline__
#else
#define STRIDER_HD inline
#endif

namespace strider::kernels {

struct Philox4 { std::uint32_t v[4]; };

STRIDER_HD Philox4 philox4x32_10(std::uint64_t counter, std::uint64_t key) {
  constexpr std::uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr std::uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  std::uint32_t c0 = static_cast<std::uint32_t>(counter), c1 = static_cast<std::uint32_t>(counter >> 32);
  std::uint32_t c2 = 0, c3 = 0;
  std::uint32_t k0 = static_cast<std::uint32_t>(key), k1 = static_cast<std::uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t p0 = static_cast<std::uint64_t>(kM0) * c0;
    const std::uint64_t p1 = static_cast<std::uint64_t>(kM1) * c2;
    const std::uint32_t hi0 = static_cast<std::uint32_t>(p0 >> 32), lo0 = static_cast<std::uint32_t>(p0);
    const std::uint32_t hi1 = static_cast<std::uint32_t>(p1 >> 32), lo1 = static_cast<std::uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += kW0;
    k1 += kW1;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// Uniform in [0, 1) from 24 random bits: exact in float32, identical on every device.
STRIDER_HD float philox_uniform(std::uint32_t bits) {
  return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f);
}

// Element i of a uniform [lo, hi) tensor drawn at (seed, offset).
STRIDER_HD double philox_uniform_at(std::uint64_t seed, std::uint64_t offset, std::int64_t i) {
  const Philox4 r = philox4x32_10(offset + static_cast<std::uint64_t>(i) / 4, seed);
  return static_cast<double>(philox_uniform(r.v[i % 4]));
}

// Element i of a standard-normal tensor drawn at (seed, offset): Box-Muller in double on the
// pair (2j, 2j+1) of the block's four words, so float32 results agree across devices.
STRIDER_HD double philox_normal_at(std::uint64_t seed, std::uint64_t offset, std::int64_t i) {
  const Philox4 r = philox4x32_10(offset + static_cast<std::uint64_t>(i) / 4, seed);
  const int lane = static_cast<int>(i % 4), pair = lane / 2;
  // u1 in (0, 1]: never log(0).
  const double u1 = (static_cast<double>(r.v[2 * pair] >> 8) + 1.0) * (1.0 / 16777216.0);
  const double u2 = static_cast<double>(r.v[2 * pair + 1] >> 8) * (1.0 / 16777216.0);
  const double radius = std::sqrt(-2.0 * std::log(u1));
  const double angle = 6.283185307179586476925286766559 * u2;
  return (lane % 2 == 0) ? radius * std::cos(angle) : radius * std::sin(angle);
}

// Counter blocks consumed by drawing n elements (the generator's offset advances by this).
STRIDER_HD std::uint64_t philox_blocks(std::int64_t n) { return static_cast<std::uint64_t>((n + 3) / 4); }

}  // namespace strider::kernels
