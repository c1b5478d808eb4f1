#include <strider/core/shape.hpp>

#include <limits>
#include <sstream>

#include <strider/core/error.hpp>

namespace strider {

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << ']';
  return os.str();
}

std::int64_t checked_numel(const Shape& s) {
  STRIDER_CHECK(s.size() <= static_cast<size_t>(kMaxDims), ShapeError,
                "shape " << shape_str(s) << " has " << s.size() << " dims; strider supports at most "
                         << kMaxDims << ": reshape to fewer dims");
  std::int64_t n = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    STRIDER_CHECK(s[i] >= 0, ShapeError,
                  "shape " << shape_str(s) << " has negative size " << s[i] << " at dim " << i
                           << ": sizes must be >= 0");
    if (s[i] != 0 && n > std::numeric_limits<std::int64_t>::max() / s[i]) {
      STRIDER_THROW(ShapeError, "shape " << shape_str(s) << " has more than 2^63-1 elements: "
                                         "the sizes overflow; use smaller sizes");
    }
    n *= s[i];
  }
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  std::int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= s[i] > 0 ? s[i] : 1;
  }
  return st;
}

int wrap_dim(std::int64_t dim, int ndim, const char* op) {
  const std::int64_t lo = ndim == 0 ? -1 : -ndim, hi = ndim == 0 ? 0 : ndim - 1;
  STRIDER_CHECK(dim >= lo && dim <= hi, IndexError,
                op << ": dimension " << dim << " is out of range for a tensor of " << ndim
                   << " dims: use a dim in [" << lo << ", " << hi << "]");
  if (ndim == 0) return 0;
  return static_cast<int>(dim < 0 ? dim + ndim : dim);
}

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const std::int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const std::int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    STRIDER_CHECK(da == db || da == 1 || db == 1, ShapeError,
                  "shapes " << shape_str(a) << " and " << shape_str(b)
                            << " cannot be broadcast: at dim " << i << " (aligned from the right) sizes "
                            << da << " and " << db << " differ and neither is 1; make them equal, or 1 "
                               "in one tensor (e.g. with unsqueeze/reshape)");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace strider
