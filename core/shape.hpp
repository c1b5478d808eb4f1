// Shapes and strides: the arithmetic every Tensor operation shares. Sizes and strides are in
// elements; a stride may be 0 (broadcast/expanded views) but never negative.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace strider {

using Shape = std::vector<std::int64_t>;

// The most dimensions a tensor may have (kernels carry shapes in fixed arrays of this size).
constexpr int kMaxDims = 8;

std::string shape_str(const Shape& s);  // "[2, 3, 4]"
// Number of elements; throws ShapeError for a negative size, too many dims, or overflow.
std::int64_t checked_numel(const Shape& s);
// Row-major strides for `s`.
Shape contiguous_strides(const Shape& s);
// Maps dim (negative counts from the end) into [0, ndim); throws IndexError naming the range.
int wrap_dim(std::int64_t dim, int ndim, const char* op = "dim");
// NumPy/PyTorch broadcasting of two shapes; throws ShapeError naming the clashing dims.
Shape broadcast_shapes(const Shape& a, const Shape& b);

}  // namespace strider
