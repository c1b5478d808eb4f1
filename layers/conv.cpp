// Conv2d and ConvTranspose2d (conv.hpp).
#include <cmath>
#include <strider/core/autograd.hpp>
#include <strider/core/nn.hpp>
#include <strider/kernels/conv2d.hpp>
#include <strider/layers/conv.hpp>
#include <strider/layers/init.hpp>

namespace strider::nn {
namespace {

constexpr const char* type_name(bool transposed) { return transposed ? "ConvTranspose2d" : "Conv2d"; }

strider::Conv2dOptions functional_options(const ConvSpec& c) {
  strider::Conv2dOptions o;
  o.stride = c.stride;
  o.padding = c.padding;
  o.dilation = c.dilation;
  o.output_padding = c.output_padding;
  o.groups = c.groups;
  return o;
}

}  // namespace

template <bool Transposed>
ConvNd<Transposed>::ConvNd(const ConvOptions<Transposed>& options, Generator& gen)
    : Module(type_name(Transposed)), options_(options) {
  const ConvSpec c = conv_spec();
  // The options alone, on an input large enough for any kernel: only option errors can fire here.
  try {
    STRIDER_CHECK(
        c.in_channels >= 1 && c.out_channels >= 1 && c.in_channels <= (1 << 24) && c.out_channels <= (1 << 24),
        ValueError, "channels must be in [1, 2^24]");
    const std::int64_t big = 2 * std::max(c.padding[0], c.padding[1]) +
                             std::max(c.dilation[0] * c.kernel[0], c.dilation[1] * c.kernel[1]) + 1;
    kernels::Conv2dProblem p =
        conv_problem(c, {1, c.in_channels, std::min<std::int64_t>(big, 1 << 20), std::min<std::int64_t>(big, 1 << 20)});
    p.validate();
  } catch (const Error& e) {
    LayerSpec s;
    s.type = type();
    s.detail = c;
    STRIDER_THROW(ValueError, s.str() << ": invalid options: " << e.what());
  }
  const std::int64_t kh = c.kernel[0], kw = c.kernel[1];
  weight = register_parameter("weight", Transposed ? Tensor::empty({c.in_channels, c.out_channels / c.groups, kh, kw})
                                                   : Tensor::empty({c.out_channels, c.in_channels / c.groups, kh, kw}));
  if (c.bias) bias = register_parameter("bias", Tensor::empty({c.out_channels}));
  reset_parameters(gen);
}

template <bool Transposed>
void ConvNd<Transposed>::reset_parameters(Generator& gen) {
  init::kaiming_uniform_(weight, std::sqrt(5.0), init::FanMode::kFanIn, init::Nonlinearity::kLeakyReLU, gen);
  if (bias.defined()) {
    const auto fan_in = init::calculate_fan_in_and_fan_out(weight).first;
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    init::uniform_(bias, -bound, bound, gen);
  }
}

template <bool Transposed>
ConvSpec ConvNd<Transposed>::conv_spec() const {
  ConvSpec c;
  c.in_channels = options_.in_channels();
  c.out_channels = options_.out_channels();
  c.kernel = options_.kernel_size().v;
  c.stride = options_.stride().v;
  c.padding = options_.padding().v;
  c.dilation = options_.dilation().v;
  c.output_padding = options_.output_padding().v;
  c.groups = options_.groups();
  c.bias = options_.bias();
  c.transposed = Transposed;
  return c;
}

template <bool Transposed>
LayerSpec ConvNd<Transposed>::spec() const {
  return make_spec(conv_spec());
}

template class ConvNd<false>;
template class ConvNd<true>;

Tensor Conv2d::forward(const Tensor& x) {
  x.check_defined("Conv2d::forward");
  check_input(x.shape());
  return strider::conv2d(x, weight, bias, functional_options(conv_spec()));
}

Tensor ConvTranspose2d::forward(const Tensor& x) {
  x.check_defined("ConvTranspose2d::forward");
  check_input(x.shape());
  return strider::conv_transpose2d(x, weight, bias, functional_options(conv_spec()));
}

}  // namespace strider::nn
