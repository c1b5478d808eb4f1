// The random-number generator: a Philox4x32-10 key (the seed) and a counter offset. Drawing n
// numbers uses the counters [offset, offset + ceil(n/4)) and advances the offset, so results
// are the same on every device and independent of thread order (kernels/philox.hpp).
#pragma once

#include <cstdint>

namespace strider {

class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0) : seed_(seed) {}
  std::uint64_t seed() const { return seed_; }
  std::uint64_t offset() const { return offset_; }
  void set_state(std::uint64_t seed, std::uint64_t offset) { seed_ = seed; offset_ = offset; }
  void manual_seed(std::uint64_t seed) { seed_ = seed; offset_ = 0; }
  // Reserves the counters for n draws; returns the offset to draw them at.
  std::uint64_t take(std::int64_t n);

 private:
  std::uint64_t seed_ = 0;
  std::uint64_t offset_ = 0;
};

Generator& default_generator();
void manual_seed(std::uint64_t seed);

}  // namespace strider
