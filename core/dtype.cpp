#include <strider/core/dtype.hpp>

#include <strider/core/error.hpp>

namespace strider {

const char* dtype_name(DType t) { return t == DType::Float32 ? "float32" : "float64"; }

DType parse_dtype(const std::string& s) {
  if (s == "float32" || s == "float" || s == "f32") return DType::Float32;
  if (s == "float64" || s == "double" || s == "f64") return DType::Float64;
  STRIDER_THROW(ValueError, "unknown dtype '" << s << "': use float32 (float, f32) or float64 (double, f64)");
}

std::ostream& operator<<(std::ostream& os, DType t) { return os << dtype_name(t); }

}  // namespace strider
