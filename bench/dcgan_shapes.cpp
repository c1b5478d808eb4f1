// The two DCGAN configurations of the benchmarks, their conv layers, and the plumbing to run one
// pass of a layer on host buffers (bench/bench.hpp).
#include "bench.hpp"

#include <algorithm>
#include <random>
#include <sstream>

#include <strider/core/error.hpp>

namespace strider::bench {

const std::vector<DcganConfig>& dcgan_configs() {
  static const std::vector<DcganConfig> configs = {
      {"A", /*batch=*/128, /*image=*/64, /*channels=*/3, /*nz=*/100, /*ngf=*/64, /*ndf=*/64},
      {"B", /*batch=*/64, /*image=*/32, /*channels=*/1, /*nz=*/100, /*ngf=*/64, /*ndf=*/64},
  };
  return configs;
}

const DcganConfig& dcgan_config(const std::string& name) {
  for (const DcganConfig& c : dcgan_configs())
    if (c.name == name) return c;
  STRIDER_THROW(ValueError, "unknown DCGAN configuration '" << name << "': use A (64x64 RGB, batch 128) or B "
                                                               "(32x32 grey, batch 64)");
}

namespace {

int stride2_layers(int image) {
  int d = 0;
  for (int s = image; s > 4; s /= 2) ++d;
  return d;  // 64 -> 4, 32 -> 3
}

kernels::Conv2dProblem conv4x4(int n, int c, int size, int k, bool transposed, bool stride2) {
  kernels::Conv2dProblem p;
  p.N = n;
  p.C = c;
  p.H = p.W = size;
  p.K = k;
  p.R = p.S = 4;
  p.stride_h = p.stride_w = stride2 ? 2 : 1;
  p.pad_h = p.pad_w = stride2 ? 1 : 0;
  p.transposed = transposed;
  p.has_bias = false;
  p.validate();
  return p;
}

}  // namespace

std::string ConvLayer::describe() const {
  std::ostringstream os;
  const auto& p = problem;
  os << (p.transposed ? "ConvT(" : "Conv(") << p.C << "->" << p.K << ", k" << p.R << " s" << p.stride_h << " p"
     << p.pad_h << ") " << p.H << "->" << p.P();
  return os.str();
}

std::vector<ConvLayer> dcgan_conv_layers(const DcganConfig& c) {
  std::vector<ConvLayer> out;
  const int d = stride2_layers(c.image);
  const int n = c.batch;
  // Generator: 1x1 -> 4x4 (s1 p0), then d stride-2 layers doubling the size.
  int ch = c.ngf << (d - 1), size = 4;
  out.push_back({c.name, "G.1", conv4x4(n, c.nz, 1, ch, true, false)});
  for (int i = 0; i < d; ++i) {
    const int next = i + 1 == d ? c.channels : ch / 2;
    out.push_back({c.name, "G." + std::to_string(i + 2), conv4x4(n, ch, size, next, true, true)});
    ch = next;
    size *= 2;
  }
  // Discriminator: d stride-2 layers halving the size, then 4x4 -> 1x1 (s1 p0) to one logit.
  ch = c.channels;
  size = c.image;
  for (int i = 0; i < d; ++i) {
    const int next = c.ndf << i;
    out.push_back({c.name, "D." + std::to_string(i + 1), conv4x4(n, ch, size, next, false, true)});
    ch = next;
    size /= 2;
  }
  out.push_back({c.name, "D." + std::to_string(d + 1), conv4x4(n, ch, size, 1, false, false)});
  return out;
}

std::vector<ConvLayer> all_dcgan_conv_layers() {
  std::vector<ConvLayer> out;
  for (const DcganConfig& c : dcgan_configs()) {
    auto layers = dcgan_conv_layers(c);
    out.insert(out.end(), layers.begin(), layers.end());
  }
  return out;
}

std::int64_t pass_bytes(const kernels::Conv2dProblem& p, kernels::Conv2dPass pass) {
  const std::int64_t bias = p.has_bias ? p.bias_size() : 0;
  std::int64_t floats = 0;
  switch (pass) {
    case kernels::Conv2dPass::kForward: floats = p.input_size() + p.weight_size() + bias + p.output_size(); break;
    case kernels::Conv2dPass::kBackwardData: floats = p.output_size() + p.weight_size() + p.input_size(); break;
    case kernels::Conv2dPass::kBackwardWeight:
      floats = p.input_size() + p.output_size() + p.weight_size() + bias;
      break;
  }
  return floats * static_cast<std::int64_t>(sizeof(float));
}

const char* pass_short_name(kernels::Conv2dPass pass) {
  switch (pass) {
    case kernels::Conv2dPass::kForward: return "fwd";
    case kernels::Conv2dPass::kBackwardData: return "bwd_data";
    case kernels::Conv2dPass::kBackwardWeight: return "bwd_weight";
  }
  return "?";
}

std::vector<std::pair<std::string, double>> conv_counters(const kernels::Conv2dProblem& p, kernels::Conv2dPass pass,
                                                          double seconds, double peak_flops, double peak_bytes) {
  const double flops = static_cast<double>(p.flops());
  const double bytes = static_cast<double>(pass_bytes(p, pass));
  std::vector<std::pair<std::string, double>> c = {{"GFLOP/s", flops / seconds / 1e9}, {"GB/s", bytes / seconds / 1e9}};
  if (peak_flops > 0) c.emplace_back("%peak", 100.0 * flops / seconds / peak_flops);
  if (peak_bytes > 0) c.emplace_back("%bw", 100.0 * bytes / seconds / peak_bytes);
  if (peak_flops > 0 && peak_bytes > 0) {
    const double floor = std::max(flops / peak_flops, bytes / peak_bytes);
    c.emplace_back("floor_us", floor * 1e6);
    c.emplace_back("%roofline", 100.0 * floor / seconds);
  }
  return c;
}

PassSizes pass_sizes(const kernels::Conv2dProblem& p, kernels::Conv2dPass pass) {
  switch (pass) {
    case kernels::Conv2dPass::kForward: return {p.input_size(), p.weight_size(), p.output_size()};
    case kernels::Conv2dPass::kBackwardData: return {p.output_size(), p.weight_size(), p.input_size()};
    case kernels::Conv2dPass::kBackwardWeight: return {p.input_size(), p.output_size(), p.weight_size()};
  }
  return {};
}

void run_cpu_pass(const kernels::Conv2dProblem& p, kernels::Conv2dPass pass, const float* in0, const float* in1,
                  float* out) {
  namespace c = kernels::cpu;
  switch (pass) {
    case kernels::Conv2dPass::kForward:
      if (p.transposed) c::conv_transpose2d_forward(p, in0, in1, nullptr, out);
      else c::conv2d_forward(p, in0, in1, nullptr, out);
      return;
    case kernels::Conv2dPass::kBackwardData:
      if (p.transposed) c::conv_transpose2d_backward_data(p, in0, in1, out);
      else c::conv2d_backward_data(p, in0, in1, out);
      return;
    case kernels::Conv2dPass::kBackwardWeight:
      if (p.transposed) c::conv_transpose2d_backward_weight(p, in0, in1, out, nullptr);
      else c::conv2d_backward_weight(p, in0, in1, out, nullptr);
      return;
  }
}

std::vector<float> random_floats(std::int64_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& f : v) f = dist(gen);
  return v;
}

}  // namespace strider::bench
