// Helpers shared by the layers suites: the DCGAN models of the seed cases, and applying fixes.
#pragma once

#include <memory>
#include <strider/strider.hpp>
#include <string>
#include <vector>

#include "common/test_util.hpp"

namespace strider::testing {

// The 64x64 DCGAN discriminator (PyTorch's DCGAN tutorial): indices 0..12, the last conv at 11.
inline std::shared_ptr<nn::Sequential> dcgan_discriminator(int nc = 3, int ndf = 64, std::uint64_t seed = 1) {
  Generator gen(seed);
  using nn::Conv2d, nn::Conv2dOptions;
  auto conv = [&](int in, int out, int k, int s, int p) {
    return std::make_shared<Conv2d>(Conv2dOptions(in, out, k).stride(s).padding(p).bias(false), gen);
  };
  auto d = std::make_shared<nn::Sequential>(conv(nc, ndf, 4, 2, 1), std::make_shared<nn::LeakyReLU>(0.2),  // 0, 1
                                            conv(ndf, ndf * 2, 4, 2, 1), std::make_shared<nn::BatchNorm2d>(ndf * 2),
                                            std::make_shared<nn::LeakyReLU>(0.2),  // 2-4
                                            conv(ndf * 2, ndf * 4, 4, 2, 1), std::make_shared<nn::BatchNorm2d>(ndf * 4),
                                            std::make_shared<nn::LeakyReLU>(0.2),  // 5-7
                                            conv(ndf * 4, ndf * 8, 4, 2, 1), std::make_shared<nn::BatchNorm2d>(ndf * 8),
                                            std::make_shared<nn::LeakyReLU>(0.2),                         // 8-10
                                            conv(ndf * 8, 1, 4, 1, 0), std::make_shared<nn::Sigmoid>());  // 11, 12
  d->set_name("discriminator");
  return d;
}

// Whether applying `f` to `model`'s chain (input `input`) makes the whole plan succeed; for a
// layer-input fix, whether the failing layer takes that input.
inline ::testing::AssertionResult fix_works(const nn::Fix& f, const std::vector<nn::LayerSpec>& layers,
                                            const Shape& input, const nn::LayerSpec& failing) {
  if (f.kind == nn::Fix::Kind::kLayerInput) {
    const auto c = nn::check_shape(failing, f.input);
    if (c.ok()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "layer still fails on " << shape_str(f.input) << ": " << c.arithmetic
                                         << "\n  fix: " << f.text;
  }
  std::vector<nn::LayerSpec> l = layers;
  Shape in = input;
  f.apply(l, in);
  const nn::Plan p = nn::plan(l, in, "model");
  if (p.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "plan still fails after the fix \"" << f.text << "\":\n" << p.str();
}

}  // namespace strider::testing
