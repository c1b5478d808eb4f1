// A tiny conv net trained a few steps: the loss goes down on the CPU, and on the CUDA device (real
// or emulated) the same seeds give the same losses.
#include <gtest/gtest.h>

#include "layers/layers_test_util.hpp"

namespace strider {
namespace {

std::shared_ptr<nn::Sequential> tiny_model() {
  Generator gen(31);
  auto m = std::make_shared<nn::Sequential>(
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions(1, 4, 4).stride(2).padding(1).bias(false), gen),
      std::make_shared<nn::BatchNorm2d>(4), std::make_shared<nn::LeakyReLU>(0.2),
      std::make_shared<nn::ConvTranspose2d>(nn::ConvTranspose2dOptions(4, 2, 4).stride(2).padding(1), gen),
      std::make_shared<nn::Tanh>(), std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(2 * 8 * 8, 1, gen),
      std::make_shared<nn::Sigmoid>());
  m->set_name("tiny");
  return m;
}

// Trains for `steps` Adam steps on fixed data and returns the losses.
std::vector<double> train(Device device, int steps) {
  auto m = tiny_model();
  m->to(device);
  optim::Adam opt(m->parameters(), optim::AdamOptions(0.01).betas(0.5, 0.999));
  Generator gen(32);
  const Tensor x = Tensor::randn({8, 1, 8, 8}, gen).to(device);
  const Tensor y = Tensor::from_vector(std::vector<float>{1, 0, 1, 0, 1, 1, 0, 0}, {8, 1}).to(device);
  const nn::BCELoss criterion;
  std::vector<double> losses;
  for (int i = 0; i < steps; ++i) {
    opt.zero_grad();
    const Tensor loss = criterion(m->forward(x), y);
    loss.backward();
    opt.step();
    losses.push_back(loss.item());
  }
  return losses;
}

TEST(Train, TinyModelLearnsOnCpu) {
  const auto losses = train(Device::cpu(), 8);
  EXPECT_LT(losses.back(), 0.8 * losses.front()) << "first " << losses.front() << ", last " << losses.back();
}

TEST(Train, CudaLossesMatchCpu) {
  if (!cuda_is_available()) GTEST_SKIP() << cuda_unavailable_reason();
  const auto cpu = train(Device::cpu(), 5);
  const auto cuda = train(Device::cuda(), 5);
  EXPECT_TRUE(testing::all_close(cuda, cpu, 1e-3, 1e-5));
}

}  // namespace
}  // namespace strider
