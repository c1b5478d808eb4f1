#include <strider/models/plot.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <strider/core/error.hpp>
#include <strider/core/file_io.hpp>

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include <stb_easy_font.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace strider::models {
namespace {

using Rgb = std::array<std::uint8_t, 3>;
constexpr Rgb kWhite{255, 255, 255}, kBlack{0, 0, 0}, kAxis{60, 60, 60}, kGrid{225, 225, 225}, kFrame{170, 170, 170};
// matplotlib's tab10
constexpr Rgb kPalette[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},  {148, 103, 189},
                            {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};

class Canvas {
 public:
  Canvas(int w, int h) : w_(w), h_(h), px_(static_cast<size_t>(w) * static_cast<size_t>(h) * 3, 255) {}
  int width() const { return w_; }
  int height() const { return h_; }

  void set(int x, int y, Rgb c) {
    if (x < 0 || y < 0 || x >= w_ || y >= h_) return;
    std::copy(c.begin(), c.end(), px_.begin() + (static_cast<std::ptrdiff_t>(y) * w_ + x) * 3);
  }
  void fill(int x0, int y0, int x1, int y1, Rgb c) {  // [x0, x1) x [y0, y1)
    for (int y = std::max(0, y0); y < std::min(h_, y1); ++y)
      for (int x = std::max(0, x0); x < std::min(w_, x1); ++x) set(x, y, c);
  }
  void hline(int x0, int x1, int y, Rgb c) { fill(std::min(x0, x1), y, std::max(x0, x1) + 1, y + 1, c); }
  void vline(int x, int y0, int y1, Rgb c) { fill(x, std::min(y0, y1), x + 1, std::max(y0, y1) + 1, c); }
  void rect(int x0, int y0, int x1, int y1, Rgb c) {
    hline(x0, x1, y0, c);
    hline(x0, x1, y1, c);
    vline(x0, y0, y1, c);
    vline(x1, y0, y1, c);
  }
  // Bresenham, each point stamped as a `thick` x `thick` square.
  void line(int x0, int y0, int x1, int y1, Rgb c, int thick) {
    const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
    const int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    for (;;) {
      fill(x0 - thick / 2, y0 - thick / 2, x0 - thick / 2 + thick, y0 - thick / 2 + thick, c);
      if (x0 == x1 && y0 == y1) break;
      const int e2 = 2 * err;
      if (e2 >= dy) { err += dy; x0 += sx; }
      if (e2 <= dx) { err += dx; y0 += sy; }
    }
  }
  // Pixels in [x0, x1) x [y0, y1) that are neither background nor grid.
  long count_data(int x0, int y0, int x1, int y1) const {
    long n = 0;
    for (int y = std::max(0, y0); y < std::min(h_, y1); ++y)
      for (int x = std::max(0, x0); x < std::min(w_, x1); ++x) {
        const auto* p = &px_[(static_cast<size_t>(y) * static_cast<size_t>(w_) + static_cast<size_t>(x)) * 3];
        const Rgb c{p[0], p[1], p[2]};
        n += c != kWhite && c != kGrid;
      }
    return n;
  }
  // Text with its top-left corner at (x, y), `scale` pixels per font unit.
  void text(int x, int y, const std::string& s, Rgb c, int scale = 1) {
    std::string t = printable(s);
    std::vector<float> buf(t.size() * 64 * 4 + 64);  // quads: 4 vertices of (x, y, z, rgba)
    const int quads = stb_easy_font_print(0, 0, t.data(), nullptr, buf.data(), static_cast<int>(buf.size() * 4));
    for (int q = 0; q < quads; ++q) {
      const float* v0 = buf.data() + q * 16;  // vertex 0 (top-left) ... vertex 2 (bottom-right)
      const float* v2 = v0 + 8;
      fill(x + static_cast<int>(v0[0]) * scale, y + static_cast<int>(v0[1]) * scale, x + static_cast<int>(v2[0]) * scale,
           y + static_cast<int>(v2[1]) * scale, c);
    }
  }
  static int text_width(const std::string& s, int scale = 1) {
    std::string t = printable(s);
    return stb_easy_font_width(t.data()) * scale;
  }
  static constexpr int kTextHeight = 9;  // cap height 7 plus descenders, in font units

  Image image() && {
    Image img;
    img.width = w_;
    img.height = h_;
    img.channels = 3;
    img.pixels = std::move(px_);
    return img;
  }

 private:
  // stb_easy_font draws ASCII 32..126 only (and indexes its tables with the byte).
  static std::string printable(const std::string& s) {
    std::string t = s;
    for (char& ch : t)
      if (static_cast<unsigned char>(ch) < 32 || static_cast<unsigned char>(ch) > 126) ch = '?';
    return t;
  }
  int w_, h_;
  std::vector<std::uint8_t> px_;
};

// A "nice" step (1, 2 or 5 x 10^k) giving about `target` intervals over `span`.
double nice_step(double span, int target) {
  const double raw = span / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  return (f < 1.5 ? 1.0 : f < 3.5 ? 2.0 : f < 7.5 ? 5.0 : 10.0) * mag;
}

std::string tick_label(double v, double step) {
  if (std::abs(v) < step * 1e-9) v = 0;  // no "-0" or "1e-17"
  char buf[32];
  const double a = std::abs(v);
  if ((a >= 1e6 || (a > 0 && a < 1e-4)) || step < 1e-4)
    std::snprintf(buf, sizeof buf, "%.3g", v);
  else
    std::snprintf(buf, sizeof buf, "%.*f", std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9))), v);
  return buf;
}

}  // namespace

Image render_loss_plot(const std::map<std::string, std::vector<double>>& series, const std::string& title,
                       const PlotOptions& options) {
  STRIDER_CHECK(options.width >= 160 && options.height >= 120 && options.width <= 8192 && options.height <= 8192,
                ValueError,
                "save_loss_plot: size " << options.width << " x " << options.height
                                        << " is outside [160, 8192] x [120, 8192] pixels");
  // Data ranges: x is the index, y over every finite value.
  std::size_t longest = 0;
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& [name, v] : series) {
    longest = std::max(longest, v.size());
    for (double y : v)
      if (std::isfinite(y)) {
        lo = std::min(lo, y);
        hi = std::max(hi, y);
      }
  }
  if (!(lo <= hi)) lo = 0, hi = 1;
  constexpr double kLimit = 1e300;  // keeps hi - lo finite
  lo = std::clamp(lo, -kLimit, kLimit);
  hi = std::clamp(hi, -kLimit, kLimit);
  if (hi - lo < 1e-12 * std::max(1.0, std::abs(hi))) {
    const double pad = std::abs(hi) > 0 ? std::abs(hi) * 0.1 : 0.5;
    lo -= pad;
    hi += pad;
  }
  const double ystep = nice_step(hi - lo, 5);
  const double ymin = std::floor(lo / ystep) * ystep, ymax = std::ceil(hi / ystep) * ystep;
  const double xmax = std::max<double>(1.0, static_cast<double>(longest) - 1.0);
  const double xstep = std::max(1.0, nice_step(xmax, 6));

  std::vector<std::pair<double, std::string>> yticks;
  int label_w = 0;
  const auto ny = static_cast<int>(std::lround((ymax - ymin) / ystep));  // about 5
  for (int k = 0; k <= ny; ++k) {
    const double t = ymin + k * ystep;
    yticks.emplace_back(t, tick_label(t, ystep));
    label_w = std::max(label_w, Canvas::text_width(yticks.back().second));
  }

  Canvas cv(options.width, options.height);
  const int th = Canvas::kTextHeight;
  const int left = label_w + 14, right = options.width - 16;
  const int top = th * 3 + 12, bottom = options.height - (th * 2 + 16);
  const int pw = right - left, ph = bottom - top;
  auto px = [&](double x) { return left + static_cast<int>(std::lround(x / xmax * pw)); };
  auto py = [&](double y) {
    const double f = std::clamp((std::clamp(y, -kLimit, kLimit) - ymin) / (ymax - ymin), -0.1, 1.1);
    return bottom - static_cast<int>(std::lround(f * ph));
  };

  // grid, ticks and their numbers
  for (const auto& [t, label] : yticks) {
    const int y = py(t);
    cv.hline(left + 1, right - 1, y, kGrid);
    cv.hline(left - 4, left, y, kAxis);
    cv.text(left - 7 - Canvas::text_width(label), y - 4, label, kBlack);
  }
  const auto nx = static_cast<std::int64_t>(std::floor(xmax / xstep + 1e-9));
  for (std::int64_t k = 0; k <= nx; ++k) {
    const double t = static_cast<double>(k) * xstep;
    const int x = px(t);
    const std::string label = tick_label(t, xstep);
    cv.vline(x, top + 1, bottom - 1, kGrid);
    cv.vline(x, bottom, bottom + 4, kAxis);
    cv.text(x - Canvas::text_width(label) / 2, bottom + 7, label, kBlack);
  }
  cv.rect(left, top, right, bottom, kAxis);

  // labels and title
  cv.text(left + (pw - Canvas::text_width(options.x_label)) / 2, options.height - th - 4, options.x_label, kBlack);
  cv.text(4, top - th - 7, options.y_label, kBlack);
  const int title_scale = Canvas::text_width(title, 2) <= options.width - 8 ? 2 : 1;
  cv.text((options.width - Canvas::text_width(title, title_scale)) / 2, 4, title, kBlack, title_scale);

  // the series
  std::size_t k = 0;
  for (const auto& [name, v] : series) {
    const Rgb c = kPalette[k++ % std::size(kPalette)];
    bool have_prev = false;
    int x0 = 0, y0 = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (!std::isfinite(v[i])) {
        have_prev = false;
        continue;
      }
      const int x = px(static_cast<double>(i)), y = py(v[i]);
      if (have_prev)
        cv.line(x0, y0, x, y, c, 2);
      else
        cv.fill(x - 1, y - 1, x + 2, y + 2, c);
      x0 = x, y0 = y, have_prev = true;
    }
  }

  // legend, top right inside the plot
  if (!series.empty()) {
    int name_w = 0;
    for (const auto& [name, v] : series) name_w = std::max(name_w, Canvas::text_width(name));
    const int row = th + 5, lw = 28 + name_w + 8, lh = row * static_cast<int>(series.size()) + 6;
    // the inside corner that hides the fewest drawn data pixels (top right on a tie)
    int lx = right - lw - 6, ly = top + 6;
    long best = -1;
    for (const auto& [cx, cy] : {std::pair{right - lw - 6, top + 6}, std::pair{left + 6, top + 6},
                                 std::pair{right - lw - 6, bottom - lh - 6}, std::pair{left + 6, bottom - lh - 6}}) {
      const long covered = cv.count_data(cx, cy, cx + lw, cy + lh);
      if (best < 0 || covered < best) best = covered, lx = cx, ly = cy;
    }
    cv.fill(lx, ly, lx + lw, ly + lh, kWhite);
    cv.rect(lx, ly, lx + lw, ly + lh, kFrame);
    k = 0;
    for (const auto& [name, v] : series) {
      const int y = ly + 4 + row * static_cast<int>(k);
      cv.fill(lx + 6, y + 3, lx + 22, y + 5, kPalette[k % std::size(kPalette)]);
      cv.text(lx + 28, y, name, kBlack);
      ++k;
    }
  }
  return std::move(cv).image();
}

void save_loss_plot(const std::string& path, const std::map<std::string, std::vector<double>>& series,
                    const std::string& title, const PlotOptions& options) {
  write_png(path, render_loss_plot(series, title, options));
}

// ---- CSV ---------------------------------------------------------------------------------------

std::string csv_escape(const std::string& field) {
  if (field.find_first_of(",\"\r\n") == std::string::npos) return field;
  std::string out = "\"";
  for (char ch : field) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + "\"";
}

std::string csv_number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

namespace {
std::string csv_line(const std::vector<std::string>& fields) {
  std::string line;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) line += ',';
    line += csv_escape(fields[i]);
  }
  line += '\n';
  return line;
}
}  // namespace

CsvWriter::CsvWriter(std::string path, std::vector<std::string> columns, bool sync)
    : path_(std::move(path)), columns_(std::move(columns)), sync_(sync) {
  STRIDER_CHECK(!columns_.empty(), ValueError, "CsvWriter: no columns for " << path_ << "; give the header names");
  const std::string header = csv_line(columns_);
  std::string existing = path_exists(path_) ? read_file(path_) : std::string();
  if (existing.empty()) {
    append_file(path_, header, sync_);
    return;
  }
  STRIDER_CHECK(existing.compare(0, header.size(), header) == 0, IoError,
                "CsvWriter: " << path_ << " starts with the header \""
                              << existing.substr(0, std::min(existing.find('\n'), std::size_t{200}))
                              << "\", not \"" << header.substr(0, header.size() - 1)
                              << "\": write to a new file or move the old one away");
  if (existing.back() != '\n') {  // a partial row left by a crash: drop it
    existing.resize(existing.find_last_of('\n') + 1);
    write_file_atomic(path_, existing);
  }
}

void CsvWriter::write_row(const std::vector<std::string>& values) {
  STRIDER_CHECK(values.size() == columns_.size(), ValueError,
                "CsvWriter " << path_ << ": " << values.size() << " values for " << columns_.size()
                             << " columns; give one value per column");
  append_file(path_, csv_line(values), sync_);
}

void CsvWriter::write_row(const std::vector<double>& values) {
  std::vector<std::string> s;
  s.reserve(values.size());
  for (double v : values) s.push_back(csv_number(v));
  write_row(s);
}

void append_csv_row(const std::string& path, const std::vector<std::string>& columns,
                    const std::vector<double>& values, bool sync) {
  CsvWriter(path, columns, sync).write_row(values);
}

}  // namespace strider::models
