// BatchNorm2d (batchnorm.hpp).
#include <cmath>
#include <strider/core/autograd.hpp>
#include <strider/core/nn.hpp>
#include <strider/layers/batchnorm.hpp>
#include <strider/layers/init.hpp>

namespace strider::nn {

BatchNorm2d::BatchNorm2d(const BatchNorm2dOptions& options) : Module("BatchNorm2d"), options_(options) {
  const std::int64_t c = options.num_features();
  const auto m = options.momentum();
  STRIDER_CHECK(c >= 1, ValueError,
                spec().str() << ": num_features = " << c << " must be at least 1 (the input's channels)");
  STRIDER_CHECK(std::isfinite(options.eps()) && options.eps() >= 0, ValueError,
                spec().str() << ": eps = " << options.eps() << " must be finite and >= 0 (default 1e-5)");
  STRIDER_CHECK(!m || (*m >= 0 && *m <= 1), ValueError,
                spec().str() << ": momentum = " << *m
                             << " must be in [0, 1] (default 0.1), or nullopt for a cumulative moving average");
  if (options.affine()) {
    weight = register_parameter("weight", Tensor::empty({c}));
    bias = register_parameter("bias", Tensor::empty({c}));
  }
  if (options.track_running_stats()) {
    running_mean = register_buffer("running_mean", Tensor::zeros({c}));
    running_var = register_buffer("running_var", Tensor::ones({c}));
    num_batches_tracked = register_buffer("num_batches_tracked", Tensor::zeros({}, DType::Float64), true);
  }
  reset_parameters();
}

void BatchNorm2d::reset_running_stats() {
  if (!options_.track_running_stats()) return;
  init::zeros_(running_mean);
  init::ones_(running_var);
  init::zeros_(num_batches_tracked);
}

void BatchNorm2d::reset_parameters() {
  reset_running_stats();
  if (options_.affine()) {
    init::ones_(weight);
    init::zeros_(bias);
  }
}

LayerSpec BatchNorm2d::spec() const {
  BatchNormSpec b;
  b.num_features = options_.num_features();
  b.eps = options_.eps();
  b.momentum = options_.momentum();
  b.affine = options_.affine();
  b.track_running_stats = options_.track_running_stats();
  b.training = is_training();
  return make_spec(b);
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  x.check_defined("BatchNorm2d::forward");
  check_input(x.shape());
  const bool track = options_.track_running_stats();
  double momentum = options_.momentum().value_or(0.0);
  if (is_training() && track) {
    NoGradGuard no_grad;
    const double n = num_batches_tracked.item() + 1;
    num_batches_tracked.fill_(n);
    if (!options_.momentum()) momentum = 1.0 / n;  // cumulative moving average
  }
  // Batch statistics in training, and always without running statistics (as PyTorch).
  const bool batch_stats = is_training() || !track;
  return batch_norm(x, weight, bias, track ? running_mean : Tensor(), track ? running_var : Tensor(), batch_stats,
                    momentum, options_.eps());
}

}  // namespace strider::nn
