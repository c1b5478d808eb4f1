// Parameter initialisers (init.hpp), following torch.nn.init's formulas.
#include <cmath>
#include <strider/core/autograd.hpp>
#include <strider/core/error.hpp>
#include <strider/layers/init.hpp>

namespace strider::nn::init {
namespace {

Tensor& fill_from(Tensor& t, const Tensor& values) {
  NoGradGuard no_grad;
  t.copy_(values);
  return t;
}

double fan(const Tensor& t, FanMode mode) {
  const auto [in, out] = calculate_fan_in_and_fan_out(t);
  const auto f = mode == FanMode::kFanIn ? in : out;
  STRIDER_CHECK(f > 0, ValueError,
                "kaiming init of a tensor of shape " << shape_str(t.shape()) << ": "
                                                     << (mode == FanMode::kFanIn ? "fan_in" : "fan_out")
                                                     << " is 0 (an empty dim); initialise non-empty tensors only");
  return static_cast<double>(f);
}

}  // namespace

double calculate_gain(Nonlinearity nonlinearity, double param) {
  switch (nonlinearity) {
    case Nonlinearity::kLinear:
    case Nonlinearity::kConv:
    case Nonlinearity::kSigmoid:
      return 1.0;
    case Nonlinearity::kTanh:
      return 5.0 / 3.0;
    case Nonlinearity::kReLU:
      return std::sqrt(2.0);
    case Nonlinearity::kLeakyReLU:
      STRIDER_CHECK(std::isfinite(param), ValueError,
                    "calculate_gain(leaky_relu): negative slope " << param << " must be finite");
      return std::sqrt(2.0 / (1.0 + param * param));
    case Nonlinearity::kSELU:
      return 3.0 / 4.0;
  }
  return 1.0;
}

std::pair<std::int64_t, std::int64_t> calculate_fan_in_and_fan_out(const Tensor& t) {
  t.check_defined("calculate_fan_in_and_fan_out");
  STRIDER_CHECK(t.dim() >= 2, ValueError,
                "fan in and fan out cannot be computed for a tensor of shape "
                    << shape_str(t.shape()) << " (fewer than 2 dims); use uniform_/normal_/constant_ for biases");
  std::int64_t receptive = 1;
  for (int d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

Tensor& uniform_(Tensor& t, double a, double b, Generator& gen) {
  t.check_defined("init::uniform_");
  return fill_from(t, Tensor::rand(t.shape(), gen, t.options(), a, b));
}

Tensor& normal_(Tensor& t, double mean, double std, Generator& gen) {
  t.check_defined("init::normal_");
  STRIDER_CHECK(std >= 0 && std::isfinite(std), ValueError,
                "init::normal_: std = " << std << " must be finite and >= 0");
  return fill_from(t, Tensor::randn(t.shape(), gen, t.options(), mean, std));
}

Tensor& constant_(Tensor& t, double value) {
  t.check_defined("init::constant_");
  NoGradGuard no_grad;
  t.fill_(value);
  return t;
}

Tensor& zeros_(Tensor& t) { return constant_(t, 0.0); }
Tensor& ones_(Tensor& t) { return constant_(t, 1.0); }

Tensor& kaiming_uniform_(Tensor& t, double a, FanMode mode, Nonlinearity nonlinearity, Generator& gen) {
  const double bound = std::sqrt(3.0) * calculate_gain(nonlinearity, a) / std::sqrt(fan(t, mode));
  return uniform_(t, -bound, bound, gen);
}

Tensor& kaiming_normal_(Tensor& t, double a, FanMode mode, Nonlinearity nonlinearity, Generator& gen) {
  return normal_(t, 0.0, calculate_gain(nonlinearity, a) / std::sqrt(fan(t, mode)), gen);
}

Tensor& xavier_uniform_(Tensor& t, double gain, Generator& gen) {
  const auto [in, out] = calculate_fan_in_and_fan_out(t);
  const double bound = std::sqrt(3.0) * gain * std::sqrt(2.0 / static_cast<double>(in + out));
  return uniform_(t, -bound, bound, gen);
}

Tensor& xavier_normal_(Tensor& t, double gain, Generator& gen) {
  const auto [in, out] = calculate_fan_in_and_fan_out(t);
  return normal_(t, 0.0, gain * std::sqrt(2.0 / static_cast<double>(in + out)), gen);
}

}  // namespace strider::nn::init
