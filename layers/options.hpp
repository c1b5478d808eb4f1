// Builder-style layer options, as PyTorch C++'s TORCH_ARG: `opts.stride(2)` sets and returns the
// options, `opts.stride()` reads.
#pragma once

#include <array>

// Declares a builder setter, a getter and the member `name_` with a default.
#define STRIDER_ARG(T, name, default_value) \
 public:                                    \
  auto& name(const T& new_##name) {         \
    name##_ = new_##name;                   \
    return *this;                           \
  }                                         \
  const T& name() const { return name##_; } \
                                            \
 private:                                   \
  T name##_ = default_value

namespace strider::nn {

// A (height, width) pair: one int for both (kernel 4), or two ({4, 3}).
struct IntPair {
  std::array<int, 2> v{1, 1};
  IntPair(int both) : v{both, both} {}  // NOLINT: implicit, as PyTorch's ExpandingArray
  IntPair(int h, int w) : v{h, w} {}
  IntPair(std::array<int, 2> hw) : v(hw) {}  // NOLINT
  int operator[](int i) const { return v[static_cast<size_t>(i)]; }
  friend bool operator==(const IntPair&, const IntPair&) = default;
};

}  // namespace strider::nn
