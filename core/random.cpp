#include <strider/core/random.hpp>

#include <strider/kernels/philox.hpp>

namespace strider {

std::uint64_t Generator::take(std::int64_t n) {
  const std::uint64_t at = offset_;
  offset_ += kernels::philox_blocks(n);
  return at;
}

Generator& default_generator() {
  static Generator gen(0);
  return gen;
}

void manual_seed(std::uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace strider
