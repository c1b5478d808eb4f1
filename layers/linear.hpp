// Linear (y = x W^T + b, W of shape (out, in) as PyTorch) and Flatten.
//
//   auto fc = std::make_shared<nn::Linear>(nn::LinearOptions(256 * 4 * 4, 1).bias(false));
//   auto flat = std::make_shared<nn::Flatten>();        // (N, C, H, W) -> (N, C*H*W)
#pragma once

#include <cstdint>
#include <strider/core/random.hpp>
#include <strider/layers/module.hpp>
#include <strider/layers/options.hpp>

namespace strider::nn {

class LinearOptions {
 public:
  LinearOptions(std::int64_t in_features, std::int64_t out_features)
      : in_features_(in_features), out_features_(out_features) {}

  STRIDER_ARG(std::int64_t, in_features, 1);
  STRIDER_ARG(std::int64_t, out_features, 1);
  STRIDER_ARG(bool, bias, true);
};

class Linear : public Module {
 public:
  explicit Linear(const LinearOptions& options, Generator& gen = default_generator());
  Linear(std::int64_t in_features, std::int64_t out_features, Generator& gen = default_generator())
      : Linear(LinearOptions(in_features, out_features), gen) {}
  // x (..., in) -> (..., out)
  Tensor forward(const Tensor& x) override;
  LayerSpec spec() const override;
  // kaiming_uniform_(a = sqrt(5)) and bias uniform(+-1/sqrt(in)), as PyTorch.
  void reset_parameters(Generator& gen = default_generator());
  const LinearOptions& options() const { return options_; }

  Tensor weight;  // (out, in)
  Tensor bias;    // (out), undefined when bias = false

 private:
  LinearOptions options_;
};

class FlattenOptions {
 public:
  STRIDER_ARG(int, start_dim, 1);
  STRIDER_ARG(int, end_dim, -1);
};

class Flatten : public Module {
 public:
  explicit Flatten(const FlattenOptions& options = {});
  Flatten(int start_dim, int end_dim = -1) : Flatten(FlattenOptions().start_dim(start_dim).end_dim(end_dim)) {}
  // Merges dims start_dim..end_dim (negative counts from the end) into one.
  Tensor forward(const Tensor& x) override;
  LayerSpec spec() const override;

 private:
  FlattenOptions options_;
};

}  // namespace strider::nn
