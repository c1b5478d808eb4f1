// Linear and Flatten (linear.hpp).
#include <cmath>
#include <strider/core/ops.hpp>
#include <strider/layers/init.hpp>
#include <strider/layers/linear.hpp>

namespace strider::nn {

Linear::Linear(const LinearOptions& options, Generator& gen) : Module("Linear"), options_(options) {
  const auto in = options.in_features(), out = options.out_features();
  STRIDER_CHECK(in >= 1 && out >= 1, ValueError,
                "Linear(" << in << " -> " << out << "): in_features and out_features must be at least 1");
  weight = register_parameter("weight", Tensor::empty({out, in}));
  if (options.bias()) bias = register_parameter("bias", Tensor::empty({out}));
  reset_parameters(gen);
}

void Linear::reset_parameters(Generator& gen) {
  init::kaiming_uniform_(weight, std::sqrt(5.0), init::FanMode::kFanIn, init::Nonlinearity::kLeakyReLU, gen);
  if (bias.defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(options_.in_features()));
    init::uniform_(bias, -bound, bound, gen);
  }
}

LayerSpec Linear::spec() const {
  return make_spec(LinearSpec{options_.in_features(), options_.out_features(), options_.bias()});
}

Tensor Linear::forward(const Tensor& x) {
  x.check_defined("Linear::forward");
  check_input(x.shape());
  const Tensor y = matmul(x, weight.t());
  return bias.defined() ? y + bias : y;
}

Flatten::Flatten(const FlattenOptions& options) : Module("Flatten"), options_(options) {}

LayerSpec Flatten::spec() const { return make_spec(FlattenSpec{options_.start_dim(), options_.end_dim()}); }

Tensor Flatten::forward(const Tensor& x) {
  x.check_defined("Flatten::forward");
  check_input(x.shape());
  if (x.dim() == 0) return x.reshape({1});
  return x.flatten(options_.start_dim(), options_.end_dim());
}

}  // namespace strider::nn
