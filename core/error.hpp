// strider's exception hierarchy. Header-only and dependency-free on purpose: kernels/ (below
// core/ in the layering) throws these too, so every backend reports a bad call the same way.
//
// Messages say what was wrong, with the actual values, and how to fix it:
//   STRIDER_CHECK(n >= 0, ShapeError, "size " << n << " of dim " << d << " is negative; sizes must be >= 0");
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace strider {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Shapes, sizes and dims that do not fit the operation (including kernel-vs-input sizes).
class ShapeError : public Error { using Error::Error; };
// Index or dimension out of range.
class IndexError : public Error { using Error::Error; };
// A value outside what an operation accepts (negative learning rate, bad option string, ...).
class ValueError : public Error { using Error::Error; };
// Wrong or mixed element types.
class DTypeError : public Error { using Error::Error; };
// Wrong or mixed devices, or a device this build does not have.
class DeviceError : public Error { using Error::Error; };
// A CUDA runtime or launch failure (real or emulated device).
class CudaError : public DeviceError { using DeviceError::DeviceError; };
// An allocation the device could not satisfy.
class OutOfMemoryError : public DeviceError { using DeviceError::DeviceError; };
// Files: missing, unreadable, truncated, foreign or corrupt.
class IoError : public Error { using Error::Error; };
// Misuse of autograd (second backward through a released graph, backward of a non-scalar, ...).
class AutogradError : public Error { using Error::Error; };

namespace detail {
template <class E>
[[noreturn]] inline void throw_error(const std::string& msg) { throw E(msg); }
}  // namespace detail

}  // namespace strider

// Throws `ErrorType` with a streamed message when `cond` is false.
#define STRIDER_CHECK(cond, ErrorType, stream_expr)                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      std::ostringstream strider_check_os_;                                \
      strider_check_os_ << stream_expr;                                    \
      ::strider::detail::throw_error<::strider::ErrorType>(strider_check_os_.str()); \
    }                                                                      \
  } while (0)

// Throws unconditionally.
#define STRIDER_THROW(ErrorType, stream_expr)                              \
  do {                                                                     \
    std::ostringstream strider_check_os_;                                  \
    strider_check_os_ << stream_expr;                                      \
    ::strider::detail::throw_error<::strider::ErrorType>(strider_check_os_.str()); \
  } while (0)
