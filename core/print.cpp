// PyTorch-style printing: values with a shared format, "..." past 1000 elements (3 at each
// edge), then shape, dtype and device.
#include <cmath>
#include <cstdio>
#include <ostream>
#include <sstream>

#include <strider/core/tensor.hpp>

namespace strider {
namespace {

constexpr std::int64_t kSummarizeAbove = 1000;
constexpr std::int64_t kEdgeItems = 3;

struct Format {
  bool integral = true;   // every finite value is an integer: print "1.", "-2."
  bool scientific = false;
  int width = 1;
};

std::string format_value(double v, const Format& f) {
  char buf[64];
  if (std::isnan(v)) std::snprintf(buf, sizeof buf, "nan");
  else if (std::isinf(v)) std::snprintf(buf, sizeof buf, v > 0 ? "inf" : "-inf");
  else if (f.scientific) std::snprintf(buf, sizeof buf, "%.4e", v);
  else if (f.integral) std::snprintf(buf, sizeof buf, "%.0f.", v);
  else std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

void print_dim(std::ostream& os, const std::vector<double>& vals, const Shape& shape, const Shape& strides,
               std::int64_t base, int d, bool summarize, const Format& f, int indent) {
  const std::int64_t n = shape[static_cast<size_t>(d)];
  os << '[';
  const bool last = d + 1 == static_cast<int>(shape.size());
  for (std::int64_t i = 0; i < n; ++i) {
    if (summarize && n > 2 * kEdgeItems && i == kEdgeItems) {
      os << (last ? "..., " : "...,\n" + std::string(static_cast<size_t>(indent + 1), ' '));
      i = n - kEdgeItems;
    }
    const std::int64_t off = base + i * strides[static_cast<size_t>(d)];
    if (last) {
      std::string s = format_value(vals[static_cast<size_t>(off)], f);
      os << std::string(static_cast<size_t>(std::max<int>(0, f.width - static_cast<int>(s.size()))), ' ') << s;
    } else {
      print_dim(os, vals, shape, strides, off, d + 1, summarize, f, indent + 1);
    }
    if (i + 1 < n) {
      os << ',';
      if (last) os << ' ';
      else os << std::string(static_cast<size_t>(shape.size() - static_cast<size_t>(d) - 1), '\n')
              << std::string(static_cast<size_t>(indent + 1), ' ');
    }
  }
  os << ']';
}

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  std::ostringstream os;
  const std::int64_t n = numel();
  const std::vector<double> vals = to_vector<double>();
  Format f;
  double max_abs = 0, min_abs = INFINITY;
  for (double v : vals) {
    if (!std::isfinite(v)) continue;
    if (v != std::floor(v)) f.integral = false;
    max_abs = std::max(max_abs, std::fabs(v));
    if (v != 0) min_abs = std::min(min_abs, std::fabs(v));
  }
  if (!f.integral && (max_abs >= 1e8 || (min_abs < 1e-4 && min_abs > 0) || (max_abs / min_abs > 1000 && min_abs < 1)))
    f.scientific = true;
  if (f.integral && max_abs >= 1e8) f.scientific = true;
  for (double v : vals) f.width = std::max(f.width, static_cast<int>(format_value(v, f).size()));
  os << "tensor(";
  if (dim() == 0) {
    os << format_value(vals[0], f);
  } else {
    print_dim(os, vals, shape(), contiguous_strides(shape()), 0, 0, n > kSummarizeAbove, f, 7);
  }
  os << ", shape=" << shape_str(shape()) << ", dtype=" << dtype() << ", device=" << device() << ')';
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace strider
