// BatchNorm2d: PyTorch's layer. Training normalises with the batch statistics and updates the
// running ones (momentum, or a cumulative average when momentum is nullopt); eval uses the running
// statistics. Buffers: running_mean, running_var, num_batches_tracked (float64, kept by to(DType)).
//
//   auto bn = std::make_shared<nn::BatchNorm2d>(nn::BatchNorm2dOptions(128).momentum(0.1));
#pragma once

#include <cstdint>
#include <optional>
#include <strider/layers/module.hpp>
#include <strider/layers/options.hpp>

namespace strider::nn {

class BatchNorm2dOptions {
 public:
  BatchNorm2dOptions(std::int64_t num_features) : num_features_(num_features) {}  // NOLINT: implicit

  STRIDER_ARG(std::int64_t, num_features, 1);
  STRIDER_ARG(double, eps, 1e-5);
  STRIDER_ARG(std::optional<double>, momentum, 0.1);  // nullopt: cumulative moving average
  STRIDER_ARG(bool, affine, true);
  STRIDER_ARG(bool, track_running_stats, true);
};

class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(const BatchNorm2dOptions& options);
  // x (N, C, H, W) -> same shape.
  Tensor forward(const Tensor& x) override;
  LayerSpec spec() const override;
  // weight 1, bias 0, and the running statistics reset.
  void reset_parameters();
  void reset_running_stats();
  const BatchNorm2dOptions& options() const { return options_; }

  Tensor weight, bias;               // (C), undefined when affine = false
  Tensor running_mean, running_var;  // (C), undefined when track_running_stats = false
  Tensor num_batches_tracked;        // () float64

 private:
  BatchNorm2dOptions options_;
};

}  // namespace strider::nn
