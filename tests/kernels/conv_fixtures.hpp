// Loads the PyTorch golden fixtures written by tests/make_conv_fixtures.py (format described
// there) from STRIDER_CONV_FIXTURE_DIR, a compile definition set in tests/kernels/CMakeLists.txt.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "conv_test_util.hpp"

namespace strider::test {

struct ConvFixture {
  std::string name;
  Conv2dProblem p;
  std::vector<float> x, w, b, dy;     // inputs (float32)
  std::vector<double> y, dx, dw, db;  // PyTorch's float64 results
};

inline std::string conv_fixture_dir() { return STRIDER_CONV_FIXTURE_DIR; }

// The fixture names listed in MANIFEST (lines not starting with '#').
inline std::vector<std::string> conv_fixture_names() {
  std::ifstream in(conv_fixture_dir() + "/MANIFEST");
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] != '#') names.push_back(line);
  }
  return names;
}

// Throws std::runtime_error naming the file when it is missing, truncated or foreign.
inline ConvFixture load_conv_fixture(const std::string& name) {
  const std::string path = conv_fixture_dir() + "/" + name + ".bin";
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open fixture " + path + " (regenerate: tests/make_conv_fixtures.py)");
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t pos = 0;
  auto take = [&](void* dst, std::size_t n) {
    if (pos + n > bytes.size()) throw std::runtime_error("fixture " + path + " is truncated");
    std::memcpy(dst, bytes.data() + pos, n);
    pos += n;
  };
  char magic[8];
  take(magic, 8);
  if (std::memcmp(magic, "STRCONV1", 8) != 0) throw std::runtime_error("fixture " + path + " has a foreign header");
  std::int32_t h[18];
  take(h, sizeof h);
  ConvFixture f;
  f.name = name;
  Conv2dProblem& p = f.p;
  p.N = h[0]; p.C = h[1]; p.H = h[2]; p.W = h[3]; p.K = h[4]; p.R = h[5]; p.S = h[6];
  p.stride_h = h[7]; p.stride_w = h[8]; p.pad_h = h[9]; p.pad_w = h[10]; p.dil_h = h[11]; p.dil_w = h[12];
  p.groups = h[13]; p.out_pad_h = h[14]; p.out_pad_w = h[15]; p.transposed = h[16] != 0; p.has_bias = h[17] != 0;
  p.validate();
  auto floats = [&](std::vector<float>& v, Idx n) { v.resize(n); take(v.data(), sizeof(float) * n); };
  auto doubles = [&](std::vector<double>& v, Idx n) { v.resize(n); take(v.data(), sizeof(double) * n); };
  floats(f.x, p.input_size());
  floats(f.w, p.weight_size());
  if (p.has_bias) floats(f.b, p.bias_size());
  floats(f.dy, p.output_size());
  doubles(f.y, p.output_size());
  doubles(f.dx, p.input_size());
  doubles(f.dw, p.weight_size());
  if (p.has_bias) doubles(f.db, p.bias_size());
  if (pos != bytes.size()) throw std::runtime_error("fixture " + path + " has trailing bytes: wrong problem header?");
  return f;
}

// A ConvCase whose inputs and reference results are the fixture's (PyTorch's), so the backend
// checks of conv_backends.hpp run against PyTorch directly.
inline ConvCase fixture_case(const ConvFixture& f) {
  ConvCase c(f.p, 0, /*integers=*/false, /*run_reference=*/false);
  c.x = cast<double>(f.x);
  c.w = cast<double>(f.w);
  c.b = f.p.has_bias ? cast<double>(f.b) : std::vector<double>(f.p.bias_size(), 0.0);
  c.dy = cast<double>(f.dy);
  c.y = f.y;
  c.dx = f.dx;
  c.dw = f.dw;
  if (f.p.has_bias) c.db = f.db;
  return c;
}

}  // namespace strider::test
