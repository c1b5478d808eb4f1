// Conv2d and ConvTranspose2d: PyTorch's layers, weights initialised as PyTorch does
// (kaiming_uniform_(a = sqrt(5)), bias uniform(+-1/sqrt(fan_in))).
//
//   auto c = std::make_shared<nn::Conv2d>(nn::Conv2dOptions(3, 64, 4).stride(2).padding(1).bias(false));
//   auto t = std::make_shared<nn::ConvTranspose2d>(nn::ConvTranspose2dOptions(100, 512, 4).bias(false));
//
// Options are checked when the layer is built (ValueError naming the layer and the fix); forward()
// checks the input's rank, channels and size against the layer before any kernel runs and throws
// the diagnosed ShapeError (diagnose.hpp).
#pragma once

#include <cstdint>
#include <strider/core/random.hpp>
#include <strider/layers/module.hpp>
#include <strider/layers/options.hpp>

namespace strider::nn {

template <bool Transposed>
class ConvOptions {
 public:
  ConvOptions(std::int64_t in_channels, std::int64_t out_channels, IntPair kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}

  STRIDER_ARG(std::int64_t, in_channels, 1);
  STRIDER_ARG(std::int64_t, out_channels, 1);
  STRIDER_ARG(IntPair, kernel_size, 1);
  STRIDER_ARG(IntPair, stride, 1);
  STRIDER_ARG(IntPair, padding, 0);
  STRIDER_ARG(IntPair, dilation, 1);
  STRIDER_ARG(int, groups, 1);
  STRIDER_ARG(bool, bias, true);

 public:
  // Transposed convolutions only: extra rows/columns added to one side of the output.
  auto& output_padding(const IntPair& v) requires Transposed {
    output_padding_ = v;
    return *this;
  }
  const IntPair& output_padding() const { return output_padding_; }

 private:
  IntPair output_padding_ = 0;
};

using Conv2dOptions = ConvOptions<false>;
using ConvTranspose2dOptions = ConvOptions<true>;

// Shared by both: options, parameters, spec, checks.
template <bool Transposed>
class ConvNd : public Module {
 public:
  ConvNd(const ConvOptions<Transposed>& options, Generator& gen);
  // PyTorch's default initialisation, drawing from `gen`.
  void reset_parameters(Generator& gen = default_generator());
  const ConvOptions<Transposed>& options() const { return options_; }
  LayerSpec spec() const override;

  Tensor weight;  // Conv2d (out, in/groups, kH, kW); ConvTranspose2d (in, out/groups, kH, kW)
  Tensor bias;    // (out), undefined when bias = false

 protected:
  ConvSpec conv_spec() const;

  ConvOptions<Transposed> options_;
};

class Conv2d : public ConvNd<false> {
 public:
  explicit Conv2d(const Conv2dOptions& options, Generator& gen = default_generator()) : ConvNd(options, gen) {}
  // x (N, in, H, W) -> (N, out, P, Q)
  Tensor forward(const Tensor& x) override;
};

class ConvTranspose2d : public ConvNd<true> {
 public:
  explicit ConvTranspose2d(const ConvTranspose2dOptions& options, Generator& gen = default_generator())
      : ConvNd(options, gen) {}
  // x (N, in, H, W) -> (N, out, P, Q), P = (H - 1) stride - 2 padding + dilation (kH - 1) + output_padding + 1
  Tensor forward(const Tensor& x) override;
};

extern template class ConvNd<false>;
extern template class ConvNd<true>;

}  // namespace strider::nn
