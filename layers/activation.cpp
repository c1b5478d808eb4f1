// Activation layers (activation.hpp).
#include <cmath>
#include <sstream>
#include <strider/core/ops.hpp>
#include <strider/layers/activation.hpp>

namespace strider::nn {

Tensor ReLU::forward(const Tensor& x) { return relu(x); }
LayerSpec ReLU::spec() const { return make_spec(ElementwiseSpec{"", 1}); }

LeakyReLU::LeakyReLU(double negative_slope) : Module("LeakyReLU"), slope_(negative_slope) {
  STRIDER_CHECK(std::isfinite(negative_slope), ValueError,
                "LeakyReLU: negative_slope = " << negative_slope << " must be finite (DCGAN uses 0.2)");
}
Tensor LeakyReLU::forward(const Tensor& x) { return leaky_relu(x, slope_); }
LayerSpec LeakyReLU::spec() const {
  std::ostringstream os;
  os << "negative_slope=" << slope_;
  return make_spec(ElementwiseSpec{os.str(), 2});
}

Tensor Tanh::forward(const Tensor& x) { return tanh(x); }
LayerSpec Tanh::spec() const { return make_spec(ElementwiseSpec{"", 1}); }

Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }
LayerSpec Sigmoid::spec() const { return make_spec(ElementwiseSpec{"", 1}); }

}  // namespace strider::nn
