// Conv2dProblem: the shape arithmetic and the one validity check of kernels/conv2d.hpp. Every
// backend (ref, cpu, cuda, cudnn) calls validate() / lower() from here before any kernel runs, so
// an invalid problem gets the same exception and the same message everywhere.
//
// Host code only; it lives in cpu/ because cpu/ is built in every configuration.
#include <strider/kernels/conv2d.hpp>

#include <algorithm>
#include <climits>
#include <numeric>
#include <ostream>
#include <sstream>
#include <vector>

#include <strider/core/error.hpp>

namespace strider::kernels {
namespace {

constexpr std::int64_t kMaxElements = INT_MAX;  // kernels index with 32-bit ints

const char* op_name(const Conv2dProblem& p) { return p.transposed ? "conv_transpose2d" : "conv2d"; }

// "4x4"
std::string hw(std::int64_t h, std::int64_t w) { return std::to_string(h) + "x" + std::to_string(w); }

// Product of non-negative factors, saturating at INT64_MAX.
std::int64_t sat_mul(std::initializer_list<std::int64_t> factors) {
  std::int64_t r = 1;
  for (std::int64_t f : factors) {
    if (f == 0) return 0;
  }
  for (std::int64_t f : factors) {
    if (r > INT64_MAX / f) return INT64_MAX;
    r *= f;
  }
  return r;
}

// Both are total functions (str() prints invalid problems too): a stride below 1 gives 0.
std::int64_t conv_out(std::int64_t in, int k, int s, int pad, int dil) {
  if (s < 1) return 0;
  const std::int64_t span = in + 2 * std::int64_t{pad} - std::int64_t{dil} * (k - 1) - 1;
  return span < 0 ? 0 : span / s + 1;  // floor division for the non-negative span only
}
std::int64_t conv_transpose_out(std::int64_t in, int k, int s, int pad, int dil, int out_pad) {
  return (in - 1) * s - 2 * std::int64_t{pad} + std::int64_t{dil} * (k - 1) + out_pad + 1;
}

std::string divisors_list(int a, int b) {
  const int g = std::gcd(a, b);
  std::string out;
  for (int d = 1; d <= g; ++d) {
    if (g % d == 0) out += (out.empty() ? "" : ", ") + std::to_string(d);
  }
  return out;
}

void check_hyper_parameters(const Conv2dProblem& p) {
  const char* op = op_name(p);
  STRIDER_CHECK(p.R >= 1 && p.S >= 1, ValueError,
                op << ": kernel " << hw(p.R, p.S) << " must be at least 1x1");
  STRIDER_CHECK(p.stride_h >= 1 && p.stride_w >= 1, ValueError,
                op << ": stride " << hw(p.stride_h, p.stride_w)
                   << " must be at least 1x1 (1 keeps the resolution, 2 halves it)");
  STRIDER_CHECK(p.dil_h >= 1 && p.dil_w >= 1, ValueError,
                op << ": dilation " << hw(p.dil_h, p.dil_w)
                   << " must be at least 1x1 (1 is an ordinary, undilated kernel)");
  STRIDER_CHECK(p.groups >= 1, ValueError, op << ": groups=" << p.groups << " must be at least 1");
  STRIDER_CHECK(p.pad_h >= 0 && p.pad_w >= 0, ValueError,
                op << ": padding " << hw(p.pad_h, p.pad_w) << " must not be negative");
  STRIDER_CHECK(p.out_pad_h >= 0 && p.out_pad_w >= 0, ValueError,
                op << ": output_padding " << hw(p.out_pad_h, p.out_pad_w) << " must not be negative");
  if (!p.transposed) {
    STRIDER_CHECK(p.out_pad_h == 0 && p.out_pad_w == 0, ValueError,
                  "conv2d: output_padding " << hw(p.out_pad_h, p.out_pad_w)
                      << " is given, but only conv_transpose2d has an output_padding: set it to 0x0");
    return;
  }
  // PyTorch's rule: output_padding must be smaller than either stride or dilation.
  const struct { const char* dim; int op, s, d; } dims[2] = {
      {"height", p.out_pad_h, p.stride_h, p.dil_h}, {"width", p.out_pad_w, p.stride_w, p.dil_w}};
  for (const auto& d : dims) {
    STRIDER_CHECK(d.op < d.s || d.op < d.d, ValueError,
                  "conv_transpose2d: output_padding " << d.op << " (" << d.dim
                      << ") must be smaller than the stride " << d.s << " or the dilation " << d.d
                      << ": fixes: output_padding <= " << std::max(d.s, d.d) - 1 << ", or stride >= "
                      << d.op + 1);
  }
}

void check_sizes(const Conv2dProblem& p) {
  const char* op = op_name(p);
  STRIDER_CHECK(p.N >= 0, ShapeError, op << ": batch size N=" << p.N << " is negative");
  STRIDER_CHECK(p.C >= 1 && p.K >= 1, ShapeError,
                op << ": " << p.C << " input and " << p.K
                   << " output channels: both must be at least 1 (an empty channel dimension has "
                      "no weight to convolve with)");
  STRIDER_CHECK(p.H >= 1 && p.W >= 1, ShapeError,
                op << ": input " << hw(p.H, p.W) << " is empty: height and width must be at least 1");
  STRIDER_CHECK(p.C % p.groups == 0 && p.K % p.groups == 0, ShapeError,
                op << ": " << (p.C % p.groups != 0 ? "input" : "output") << " channels "
                   << (p.C % p.groups != 0 ? p.C : p.K) << " are not divisible by groups=" << p.groups
                   << " (input channels " << p.C << ", output channels " << p.K
                   << "): fixes: groups that divide both: " << divisors_list(p.C, p.K));
}

// conv2d: the padded input must hold the dilated kernel at least once.
void check_kernel_fits(const Conv2dProblem& p) {
  const std::int64_t ext_h = std::int64_t{p.dil_h} * (p.R - 1) + 1, ext_w = std::int64_t{p.dil_w} * (p.S - 1) + 1;
  const std::int64_t in_h = p.H + 2 * std::int64_t{p.pad_h}, in_w = p.W + 2 * std::int64_t{p.pad_w};
  const bool bad_h = in_h < ext_h, bad_w = in_w < ext_w;
  if (!bad_h && !bad_w) return;
  // Largest kernel / smallest padding / smallest input that fit, per violated dimension.
  const std::int64_t max_r = (in_h - 1) / p.dil_h + 1, max_s = (in_w - 1) / p.dil_w + 1;
  const std::int64_t min_ph = (ext_h - p.H + 1) / 2, min_pw = (ext_w - p.W + 1) / 2;
  const std::int64_t min_h = ext_h - 2 * std::int64_t{p.pad_h}, min_w = ext_w - 2 * std::int64_t{p.pad_w};
  std::ostringstream fixes;
  if (bad_h && bad_w) {
    fixes << "kernel <= " << hw(max_r, max_s) << ", or padding >= " << hw(min_ph, min_pw)
          << ", or input >= " << hw(min_h, min_w);
  } else if (bad_h) {
    fixes << "kernel height <= " << max_r << ", or padding height >= " << min_ph << ", or input height >= "
          << min_h;
  } else {
    fixes << "kernel width <= " << max_s << ", or padding width >= " << min_pw << ", or input width >= "
          << min_w;
  }
  if ((bad_h && p.dil_h > 1) || (bad_w && p.dil_w > 1)) fixes << ", or a smaller dilation";
  STRIDER_THROW(ShapeError, "conv2d: padded input " << hw(in_h, in_w) << " (input " << hw(p.H, p.W)
                                << ", padding " << hw(p.pad_h, p.pad_w) << ") is smaller than the dilated "
                                << hw(ext_h, ext_w) << " kernel (kernel " << hw(p.R, p.S) << ", dilation "
                                << hw(p.dil_h, p.dil_w) << "): the output would be empty: fixes: "
                                << fixes.str());
}

// conv_transpose2d: the output must be at least 1x1.
void check_transposed_output(const Conv2dProblem& p) {
  const std::int64_t P = p.P(), Q = p.Q();
  if (P >= 1 && Q >= 1) return;
  // Largest padding that still gives 1 row: 2 pad <= (H-1) s + d (R-1) + output_padding.
  const std::int64_t max_ph = ((p.H - 1) * std::int64_t{p.stride_h} + std::int64_t{p.dil_h} * (p.R - 1) + p.out_pad_h) / 2;
  const std::int64_t max_pw = ((p.W - 1) * std::int64_t{p.stride_w} + std::int64_t{p.dil_w} * (p.S - 1) + p.out_pad_w) / 2;
  STRIDER_THROW(ShapeError, "conv_transpose2d: output " << hw(P, Q)
                                << " = (input - 1) * stride - 2 * padding + dilation * (kernel - 1) + "
                                   "output_padding + 1 with input "
                                << hw(p.H, p.W) << ", stride " << hw(p.stride_h, p.stride_w) << ", padding "
                                << hw(p.pad_h, p.pad_w) << ", dilation " << hw(p.dil_h, p.dil_w) << ", kernel "
                                << hw(p.R, p.S) << ", output_padding " << hw(p.out_pad_h, p.out_pad_w)
                                << " must be at least 1x1: fixes: padding <= " << hw(max_ph, max_pw)
                                << ", or a larger kernel, stride or input");
}

void check_element_counts(const Conv2dProblem& p) {
  const struct { const char* name; std::int64_t n; } buffers[3] = {
      {"input", p.input_size()}, {"output", p.output_size()}, {"weight", p.weight_size()}};
  for (const auto& b : buffers) {
    STRIDER_CHECK(b.n <= kMaxElements, ShapeError,
                  op_name(p) << ": the " << b.name << " has " << (b.n == INT64_MAX ? "over 2^63" : std::to_string(b.n))
                             << " elements, more than the " << kMaxElements
                             << " the kernels can index with 32-bit ints: fixes: a smaller batch (split it "
                                "into several calls), fewer channels or a smaller image");
  }
}

}  // namespace

std::int64_t Conv2dProblem::P() const {
  return transposed ? conv_transpose_out(H, R, stride_h, pad_h, dil_h, out_pad_h)
                    : conv_out(H, R, stride_h, pad_h, dil_h);
}
std::int64_t Conv2dProblem::Q() const {
  return transposed ? conv_transpose_out(W, S, stride_w, pad_w, dil_w, out_pad_w)
                    : conv_out(W, S, stride_w, pad_w, dil_w);
}

std::int64_t Conv2dProblem::input_size() const { return sat_mul({N, C, H, W}); }
std::int64_t Conv2dProblem::output_size() const {
  return sat_mul({N, K, std::max<std::int64_t>(P(), 0), std::max<std::int64_t>(Q(), 0)});
}
std::int64_t Conv2dProblem::weight_size() const {
  return sat_mul({C, groups > 0 ? K / groups : 0, R, S});
}

std::int64_t Conv2dProblem::flops() const {
  // Multiply-adds of the plain convolution: every output position of the lowered conv times its
  // C/groups R S taps (see Conv2dLowered): the same for conv2d and conv_transpose2d.
  if (groups < 1) return 0;
  const std::int64_t per_group_in = transposed ? K / groups : C / groups;
  const std::int64_t lowered_out = transposed ? sat_mul({N, C, H, W}) : output_size();
  return 2 * sat_mul({lowered_out, per_group_in, R, S});
}

void Conv2dProblem::validate() const {
  check_hyper_parameters(*this);
  check_sizes(*this);
  if (transposed) {
    check_transposed_output(*this);
  } else {
    check_kernel_fits(*this);
  }
  check_element_counts(*this);
}

Conv2dProblem& Conv2dProblem::set_shapes(const std::int64_t in[4], const std::int64_t w[4]) {
  const char* op = op_name(*this);
  auto shape = [](const std::int64_t* s) {
    std::ostringstream os;
    os << '(' << s[0] << ", " << s[1] << ", " << s[2] << ", " << s[3] << ')';
    return os.str();
  };
  for (int i = 0; i < 4; ++i) {
    STRIDER_CHECK(in[i] >= 0 && in[i] <= INT_MAX && w[i] >= 0 && w[i] <= INT_MAX, ShapeError,
                  op << ": input " << shape(in) << " or weight " << shape(w)
                     << " has a negative size or one above " << INT_MAX);
  }
  STRIDER_CHECK(groups >= 1, ValueError, op << ": groups=" << groups << " must be at least 1");
  // conv2d weight (K, C/groups, R, S): input channels must be weight dim 1 times groups.
  // conv_transpose2d weight (C, K/groups, R, S): input channels must be weight dim 0.
  const std::int64_t expected_c = transposed ? w[0] : w[1] * groups;
  STRIDER_CHECK(in[1] == expected_c, ShapeError,
                op << ": the input " << shape(in) << " has " << in[1] << " channels but the weight "
                   << shape(w) << " expects " << expected_c
                   << (transposed ? " (weight dim 0 = in_channels)"
                                  : " (weight dim 1 x groups = in_channels / groups x " + std::to_string(groups) + ")")
                   << ": fixes: feed an input with " << expected_c << " channels, or make the layer's "
                   << "in_channels " << in[1]);
  N = static_cast<int>(in[0]);
  C = static_cast<int>(in[1]);
  H = static_cast<int>(in[2]);
  W = static_cast<int>(in[3]);
  K = static_cast<int>(transposed ? w[1] * groups : w[0]);
  R = static_cast<int>(w[2]);
  S = static_cast<int>(w[3]);
  return *this;
}

std::string Conv2dProblem::str() const {
  std::ostringstream os;
  os << op_name(*this) << "(N=" << N << ", C=" << C << ", H=" << H << ", W=" << W << " -> K=" << K
     << ", P=" << P() << ", Q=" << Q() << "; kernel " << hw(R, S) << ", stride " << hw(stride_h, stride_w)
     << ", padding " << hw(pad_h, pad_w) << ", dilation " << hw(dil_h, dil_w) << ", groups " << groups;
  if (transposed) os << ", output_padding " << hw(out_pad_h, out_pad_w);
  os << (has_bias ? ", bias)" : ", no bias)");
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Conv2dProblem& p) { return os << p.str(); }

Conv2dLowered lower(const Conv2dProblem& p) {
  p.validate();
  Conv2dLowered l;
  l.N = p.N;
  l.R = p.R;
  l.S = p.S;
  l.stride_h = p.stride_h;
  l.stride_w = p.stride_w;
  l.pad_h = p.pad_h;
  l.pad_w = p.pad_w;
  l.dil_h = p.dil_h;
  l.dil_w = p.dil_w;
  l.groups = p.groups;
  const int P = static_cast<int>(p.P()), Q = static_cast<int>(p.Q());
  if (!p.transposed) {
    l.Ci = p.C; l.Hi = p.H; l.Wi = p.W;
    l.Co = p.K; l.Ho = P;   l.Wo = Q;
  } else {
    l.Ci = p.K; l.Hi = P;   l.Wi = Q;
    l.Co = p.C; l.Ho = p.H; l.Wo = p.W;
  }
  return l;
}

Conv2dLowered conv2d_begin_pass(const Conv2dProblem& p, bool transposed, Conv2dPass pass, const char* backend,
                                std::initializer_list<const void*> buffers) {
  static const char* const kPassNames[3] = {"forward", "backward_data", "backward_weight"};
  static const char* const kBufferNames[3][4] = {{"x", "weight", "bias", "y"},
                                                 {"grad_y", "weight", "grad_x", nullptr},
                                                 {"x", "grad_y", "grad_weight", "grad_bias"}};
  const int pi = static_cast<int>(pass);
  const int optional = pass == Conv2dPass::kForward ? 2 : (pass == Conv2dPass::kBackwardWeight ? 3 : -1);
  const std::string fn = std::string(backend) + "::" + (transposed ? "conv_transpose2d_" : "conv2d_") + kPassNames[pi];
  p.validate();
  STRIDER_CHECK(p.transposed == transposed, ValueError,
                fn << ": got a " << op_name(p) << " problem (Conv2dProblem::transposed = "
                   << (p.transposed ? "true" : "false") << "): call " << backend << "::" << op_name(p) << "_"
                   << kPassNames[pi] << " for it, or set transposed = " << (transposed ? "true" : "false"));
  // Element counts in signature order; an empty buffer (N == 0) may be null.
  const std::int64_t kSizes[3][4] = {{p.input_size(), p.weight_size(), p.bias_size(), p.output_size()},
                                     {p.output_size(), p.weight_size(), p.input_size(), 0},
                                     {p.input_size(), p.output_size(), p.weight_size(), p.bias_size()}};
  int i = 0;
  for (const void* b : buffers) {
    STRIDER_CHECK(i < 4 && kBufferNames[pi][i] != nullptr, ValueError,
                  fn << ": " << buffers.size() << " buffers given; this pass takes "
                     << (pass == Conv2dPass::kBackwardData ? 3 : 4));
    if ((i != optional || p.has_bias) && kSizes[pi][i] > 0) {
      STRIDER_CHECK(b != nullptr, ValueError,
                    fn << ": buffer `" << kBufferNames[pi][i] << "` is null"
                       << (i == optional ? " but the problem has a bias (has_bias = true)" : ""));
    }
    ++i;
  }
  return lower(p);
}

}  // namespace strider::kernels
