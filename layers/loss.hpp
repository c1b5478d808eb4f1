// Loss functions as objects, PyTorch-style (nn::BCELoss, nn::BCEWithLogitsLoss, nn::MSELoss): thin
// wrappers over core/nn.hpp that remember the reduction.
//
//   nn::BCELoss criterion;
//   Tensor loss = criterion(discriminator->forward(x), Tensor::ones({n, 1, 1, 1}));
#pragma once

#include <strider/core/nn.hpp>
#include <strider/core/tensor.hpp>

namespace strider::nn {

class BCELoss {
 public:
  explicit BCELoss(Reduction reduction = Reduction::Mean) : reduction_(reduction) {}
  // input: probabilities in [0, 1]; target: same shape.
  Tensor forward(const Tensor& input, const Tensor& target) const {
    return binary_cross_entropy(input, target, reduction_);
  }
  Tensor operator()(const Tensor& input, const Tensor& target) const { return forward(input, target); }

 private:
  Reduction reduction_;
};

class BCEWithLogitsLoss {
 public:
  explicit BCEWithLogitsLoss(Reduction reduction = Reduction::Mean) : reduction_(reduction) {}
  // input: logits; target: same shape.
  Tensor forward(const Tensor& input, const Tensor& target) const {
    return binary_cross_entropy_with_logits(input, target, reduction_);
  }
  Tensor operator()(const Tensor& input, const Tensor& target) const { return forward(input, target); }

 private:
  Reduction reduction_;
};

class MSELoss {
 public:
  explicit MSELoss(Reduction reduction = Reduction::Mean) : reduction_(reduction) {}
  Tensor forward(const Tensor& input, const Tensor& target) const { return mse_loss(input, target, reduction_); }
  Tensor operator()(const Tensor& input, const Tensor& target) const { return forward(input, target); }

 private:
  Reduction reduction_;
};

}  // namespace strider::nn
