// Element types. float32 runs everywhere; float64 runs on the CPU (and the CUDA device's simple
// kernels) and exists mainly for finite-difference gradient checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>

namespace strider {

enum class DType : std::uint8_t { Float32, Float64 };

constexpr std::size_t dtype_size(DType t) { return t == DType::Float32 ? 4 : 8; }
const char* dtype_name(DType t);  // "float32", "float64"
DType parse_dtype(const std::string& s);  // "float32"/"float"/"f32", "float64"/"double"/"f64"
std::ostream& operator<<(std::ostream& os, DType t);

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::Float64; };

// Calls f(T{}) with T the C++ type of `t`: STRIDER_DISPATCH-style without macros.
template <class F>
decltype(auto) visit_dtype(DType t, F&& f) {
  if (t == DType::Float64) return f(double{});
  return f(float{});
}

}  // namespace strider
