// Elementwise activation layers: ReLU, LeakyReLU, Tanh, Sigmoid. Output shape = input shape.
#pragma once

#include <strider/layers/module.hpp>

namespace strider::nn {

class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& x) override;
  LayerSpec spec() const override;
};

class LeakyReLU : public Module {
 public:
  // y = x for x >= 0, negative_slope * x otherwise (DCGAN's discriminator uses 0.2).
  explicit LeakyReLU(double negative_slope = 0.01);
  Tensor forward(const Tensor& x) override;
  LayerSpec spec() const override;
  double negative_slope() const { return slope_; }

 private:
  double slope_;
};

class Tanh : public Module {
 public:
  Tanh() : Module("Tanh") {}
  Tensor forward(const Tensor& x) override;
  LayerSpec spec() const override;
};

class Sigmoid : public Module {
 public:
  Sigmoid() : Module("Sigmoid") {}
  Tensor forward(const Tensor& x) override;
  LayerSpec spec() const override;
};

}  // namespace strider::nn
