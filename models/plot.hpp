// Training curves as a PNG line chart, and a metrics CSV: no plotting library needed.
//
//   save_loss_plot("out/losses.png", {{"D", d_losses}, {"G", g_losses}}, "DCGAN losses");
//   CsvWriter csv("out/metrics.csv", {"epoch", "iter", "loss_D", "loss_G"});
//   csv.write_row({epoch, i, d, g});
//
// The chart is drawn by hand into an RGB image: axes, grid lines at "nice" ticks (1, 2, 5 x 10^k)
// with their numbers, one colour per series (matplotlib's tab10 palette, series in name order),
// a legend in the top-right corner and the title on top. Text uses stb_easy_font (a tiny
// bitmap font compiled in, no font files). x is the index in each series (0, 1, ...); non-finite
// values are skipped and break the line. Written atomically (write_file_atomic).
//
// CsvWriter appends: each row is one write() on an O_APPEND descriptor followed by fdatasync
// (with sync on), so a finished row survives a crash and rows never interleave, while a long run
// costs O(1) per row (an atomic rewrite would copy the whole file every row). The header is
// written once, when the file is new or empty. Opening an existing file checks its header
// matches the columns (IoError otherwise) and drops a partial last line left by a crash
// (rewriting the file atomically), so appending resumes cleanly. Fields with a comma, quote or
// line break are quoted (RFC 4180); numbers use the shortest text that reads back exactly.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <strider/models/image.hpp>

namespace strider::models {

struct PlotOptions {
  int width = 640, height = 400;  // pixels; at least 160 x 120
  std::string x_label = "iteration";
  std::string y_label = "loss";
};

// The chart as an RGB image (what save_loss_plot writes).
Image render_loss_plot(const std::map<std::string, std::vector<double>>& series, const std::string& title,
                       const PlotOptions& options = {});
void save_loss_plot(const std::string& path, const std::map<std::string, std::vector<double>>& series,
                    const std::string& title, const PlotOptions& options = {});

// One CSV field, quoted when needed.
std::string csv_escape(const std::string& field);
// A number as the shortest decimal text that parses back to the same double ("nan", "inf").
std::string csv_number(double v);

class CsvWriter {
 public:
  // Opens (or creates) `path`; see the top of this file. ValueError for no columns.
  CsvWriter(std::string path, std::vector<std::string> columns, bool sync = true);
  // One row: exactly one value per column (ValueError otherwise).
  void write_row(const std::vector<std::string>& values);
  void write_row(const std::vector<double>& values);
  const std::string& path() const { return path_; }
  const std::vector<std::string>& columns() const { return columns_; }

 private:
  std::string path_;
  std::vector<std::string> columns_;
  bool sync_;
};

// Opens `path` as a CsvWriter with `columns` and appends one row.
void append_csv_row(const std::string& path, const std::vector<std::string>& columns,
                    const std::vector<double>& values, bool sync = true);

}  // namespace strider::models
