// Parameter initialisers, as torch.nn.init: each fills a tensor IN PLACE (under a NoGradGuard, so
// parameters that require grad can be filled) and returns it. Random ones draw from `gen`
// (default: the global generator, see manual_seed), with the same numbers on every device.
//
//   nn::init::normal_(conv->weight, 0.0, 0.02, gen);   // the DCGAN paper's init
//   nn::init::kaiming_uniform_(w, std::sqrt(5.0));      // PyTorch's Conv/Linear default
#pragma once

#include <cstdint>
#include <strider/core/random.hpp>
#include <strider/core/tensor.hpp>
#include <utility>

namespace strider::nn::init {

enum class FanMode { kFanIn, kFanOut };
enum class Nonlinearity { kLinear, kConv, kSigmoid, kTanh, kReLU, kLeakyReLU, kSELU };

// torch.nn.init.calculate_gain: 1 for linear/conv/sigmoid, 5/3 for tanh, sqrt(2) for relu,
// sqrt(2 / (1 + slope^2)) for leaky_relu (param = negative slope, default 0.01), 3/4 for selu.
double calculate_gain(Nonlinearity nonlinearity, double param = 0.01);

// (fan_in, fan_out): size(1) and size(0) times the receptive field (the product of dims 2..).
// ValueError for tensors with fewer than 2 dims.
std::pair<std::int64_t, std::int64_t> calculate_fan_in_and_fan_out(const Tensor& t);

Tensor& uniform_(Tensor& t, double a = 0, double b = 1, Generator& gen = default_generator());
Tensor& normal_(Tensor& t, double mean = 0, double std = 1, Generator& gen = default_generator());
Tensor& constant_(Tensor& t, double value);
Tensor& zeros_(Tensor& t);
Tensor& ones_(Tensor& t);

// std = gain(nonlinearity, a) / sqrt(fan); uniform bound = sqrt(3) std. Defaults as PyTorch
// (a = 0, fan_in, leaky_relu).
Tensor& kaiming_uniform_(Tensor& t, double a = 0, FanMode mode = FanMode::kFanIn,
                         Nonlinearity nonlinearity = Nonlinearity::kLeakyReLU, Generator& gen = default_generator());
Tensor& kaiming_normal_(Tensor& t, double a = 0, FanMode mode = FanMode::kFanIn,
                        Nonlinearity nonlinearity = Nonlinearity::kLeakyReLU, Generator& gen = default_generator());

// std = gain sqrt(2 / (fan_in + fan_out)); uniform bound = sqrt(3) std.
Tensor& xavier_uniform_(Tensor& t, double gain = 1, Generator& gen = default_generator());
Tensor& xavier_normal_(Tensor& t, double gain = 1, Generator& gen = default_generator());

}  // namespace strider::nn::init
