// DCGAN (Radford et al., 2015) as in pytorch/examples/dcgan, for any square image size the
// recipe reaches, plus generator/discriminator architectures described as text.
//
// The recipe: the generator maps z (N, nz, 1, 1) to a base x base map with ConvTranspose2d(k=base,
// s1, p0), then doubles it L times with ConvTranspose2d(k4, s2, p1); each block is followed by
// BatchNorm2d + ReLU, the last by Tanh; channels ngf * 2^(L-1) at the base, halving each doubling,
// nc at the end. The discriminator mirrors it: Conv2d(k4, s2, p1) + LeakyReLU(0.2) (batch norm
// from the second block on) halving L times, then Conv2d(k=base, s1, p0) to one logit, then
// Sigmoid. image_size = base * 2^L with base in [4, 7] and L >= 1: 28 = 7 * 4, 32 = 4 * 8, 64 = 4 * 16,
// 48, 56, 80, 96, 112, 128, ... No biases; weights N(0, 0.02), batch-norm weights N(1, 0.02), biases 0.
//
// Text architectures (--generator / --discriminator), one layer per line or ';'-separated:
//   convT 100->256 k4 s1 p0      conv 3->64 k4 s2 p1      (optional: d<dil> g<groups> op<out_pad> bias)
//   bn [C]    relu    lrelu [slope]    tanh    sigmoid    flatten    linear 1024->1 [bias]
// `bn` without C takes the channels of the conv before it. Planning and diagnostics apply to these
// exactly as to the recipe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <strider/core/random.hpp>
#include <strider/layers/sequential.hpp>

namespace strider::models {

struct DcganConfig {
  std::int64_t image_size = 64;
  std::int64_t nc = 3;     // image channels
  std::int64_t nz = 100;   // latent size
  std::int64_t ngf = 64;   // generator width
  std::int64_t ndf = 64;   // discriminator width
  std::string generator_text;      // non-empty: a text architecture instead of the recipe
  std::string discriminator_text;  // same for the discriminator
};

// base * 2^doublings == image_size, base in [4, 7], doublings >= 1.
struct DcganLayout {
  int base = 4;
  int doublings = 4;
};

// Throws ShapeError for a size the recipe cannot reach, naming the nearest sizes that work and
// the text-architecture way out.
DcganLayout dcgan_layout(std::int64_t image_size);

// The generator (named "generator") and discriminator (named "discriminator"), initialised as in
// the paper from `gen`.
std::shared_ptr<nn::Sequential> make_generator(const DcganConfig& config, Generator& gen);
std::shared_ptr<nn::Sequential> make_discriminator(const DcganConfig& config, Generator& gen);

// DCGAN initialisation: conv weights N(0, 0.02), batch-norm weights N(1, 0.02) and biases 0.
void dcgan_init(nn::Module& model, Generator& gen);

// Builds a Sequential from the text format above; ValueError naming the line, the token and the
// accepted forms on a syntax error.
std::shared_ptr<nn::Sequential> parse_architecture(const std::string& text, const std::string& name);

// A one-line description of the config ("DCGAN 64x64x3, nz 100, ngf 64, ndf 64").
std::string describe(const DcganConfig& config);

}  // namespace strider::models
