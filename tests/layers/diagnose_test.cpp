// The seed cases of issue 5 and every diagnostic's content: which layer (by path), what it got, how
// the layers before it produced that shape, the violated arithmetic, and fixes that provably work.
#include <gtest/gtest.h>

#include <string>

#include "layers/layers_test_util.hpp"

namespace strider {
namespace {

using testing::dcgan_discriminator;
using testing::fix_works;

std::shared_ptr<nn::Sequential> two_transposed(int k2, int s2, int p2) {
  Generator gen(3);
  auto g = std::make_shared<nn::Sequential>(
      std::make_shared<nn::ConvTranspose2d>(nn::ConvTranspose2dOptions(100, 256, 4).stride(1).padding(0).bias(false),
                                            gen),
      std::make_shared<nn::ConvTranspose2d>(nn::ConvTranspose2dOptions(256, 128, k2).stride(s2).padding(p2).bias(false),
                                            gen));
  g->set_name("generator");
  return g;
}

// Every fix a diagnosis offers, applied, makes the plan succeed (or the layer take the input).
void expect_fixes_work(const nn::Diagnosis& d, const std::vector<nn::LayerSpec>& layers, const Shape& input) {
  ASSERT_FALSE(d.fixes.empty()) << d.str();
  for (const nn::Fix& f : d.fixes) EXPECT_TRUE(fix_works(f, layers, input, d.layer));
}

// Runs forward and returns the thrown diagnosis (failing the test when nothing is thrown).
nn::Diagnosis forward_diagnosis(nn::Module& m, const Tensor& x) {
  try {
    (void)m.forward(x);
  } catch (const nn::LayerShapeError& e) {
    EXPECT_EQ(std::string(e.what()), e.diagnosis().str());
    return e.diagnosis();
  }
  ADD_FAILURE() << "forward did not throw LayerShapeError";
  return {};
}

void expect_contains(const std::string& text, const std::vector<std::string>& parts) {
  for (const auto& p : parts) EXPECT_NE(text.find(p), std::string::npos) << "lacks \"" << p << "\" in:\n" << text;
}

// ---- seed case 1: the generator's transposed convolutions are fine ------------------------------

TEST(SeedCases, TransposedConvsOn1x1GiveTheTextbookSizes) {
  struct Case {
    int k, s, p;
    std::int64_t out;
  };
  for (const Case c : {Case{4, 2, 1, 8}, Case{2, 2, 1, 6}, Case{4, 1, 1, 5}}) {
    auto g = two_transposed(c.k, c.s, c.p);
    const nn::Plan p = nn::plan(*g, {2, 100, 1, 1});
    ASSERT_TRUE(p.ok()) << p.str();
    EXPECT_EQ(p.output, (Shape{2, 128, c.out, c.out})) << "k" << c.k << " s" << c.s << " p" << c.p;
    EXPECT_EQ(p.rows.at(0).output, (Shape{2, 256, 4, 4}));
    // The real forward agrees with the plan: the "kernel larger than the input" story is wrong here.
    Generator gen(4);
    const Tensor y = g->forward(Tensor::randn({2, 100, 1, 1}, gen));
    EXPECT_EQ(y.shape(), p.output);
  }
}

// ---- seed case 2: a 28x28 image into the 64x64 DCGAN discriminator --------------------------------

TEST(SeedCases, Discriminator28x28FailsAtItsLastConvWithTheWholeStory) {
  auto d = dcgan_discriminator();
  const Shape in{2, 3, 28, 28};
  const nn::Plan p = nn::plan(*d, in);
  ASSERT_FALSE(p.ok());
  ASSERT_EQ(p.rows.size(), 12u);
  EXPECT_EQ(p.failed_row()->path, "discriminator.11");
  EXPECT_EQ(p.rows[8].output, (Shape{2, 512, 1, 1}));
  const nn::Diagnosis& dg = *p.diagnosis;
  EXPECT_EQ(dg.layer.path, "discriminator.11");
  EXPECT_EQ(dg.check.issue, nn::ShapeIssue::kSpatial);
  ASSERT_TRUE(dg.model_expects.has_value());
  EXPECT_EQ(*dg.model_expects, (Shape{2, 3, 64, 64}));
  const std::string msg = dg.str();
  expect_contains(
      msg,
      {
          "discriminator.11: Conv2d(512 -> 1, kernel 4, stride 1, padding 0, bias=false) got input [2, 512, 1, 1]",
          "padded input 1x1 (input 1x1, padding 0x0) is smaller than the dilated 4x4 kernel",
          "28x28 -> discriminator.0 -> 14x14 -> discriminator.2 -> 7x7 -> discriminator.5 -> 3x3 -> discriminator.8 -> "
          "1x1 -> discriminator.11",
          "discriminator expects 64x64 images and got 28x28",
          "resize the inputs to 64x64: [2, 3, 64, 64]",
          "build it for 28x28 instead, e.g. change discriminator.11 to kernel 1, stride 1, padding 0 (1x1 -> 1x1, as "
          "at "
          "64x64)",
          "kernel 1 is also the largest that fits this input",
          "discriminator.11: padding 2 (the smallest that fits the 4x4 kernel) gives 2x2",
          "discriminator.11 needs an input of at least 4x4 (it got 1x1)",
      });
  // The generator's transposed convolutions are not mentioned: they are not the cause.
  EXPECT_EQ(msg.find("ConvTranspose2d"), std::string::npos);
  expect_fixes_work(dg, d->layer_specs(), in);
}

TEST(SeedCases, Discriminator28x28ForwardThrowsTheSameDiagnosisBeforeAnyKernelOfThatLayer) {
  auto d = dcgan_discriminator();
  Generator gen(5);
  const Tensor x = Tensor::randn({2, 3, 28, 28}, gen);
  const nn::Diagnosis fd = forward_diagnosis(*d, x);
  const nn::Plan p = nn::plan(*d, x.shape());
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(fd.str(), p.diagnosis->str());
  EXPECT_EQ(fd.trail.size(), 11u);  // discriminator.0 .. discriminator.10 ran
  // It is a ShapeError like every other shape problem.
  EXPECT_THROW((void)d->forward(x), ShapeError);
}

TEST(SeedCases, TheProposedKernelFixWorksOnTheRealModel) {
  auto d = dcgan_discriminator(3, 8);
  const nn::Plan p = nn::plan(*d, {2, 3, 28, 28});
  ASSERT_FALSE(p.ok());
  const nn::Fix* design = nullptr;
  for (const auto& f : p.diagnosis->fixes) {
    if (f.text.rfind("build it for 28x28", 0) == 0) design = &f;
  }
  ASSERT_NE(design, nullptr) << p.str();
  ASSERT_EQ(design->changes.size(), 1u);
  const nn::ConvSpec c = *design->changes[0].layer.conv();
  // Rebuild the model with that layer changed and run it for real.
  auto fixed = std::make_shared<nn::Sequential>();
  for (std::size_t i = 0; i < d->size(); ++i) {
    if (i == 11) {
      fixed->append(std::make_shared<nn::Conv2d>(
          nn::Conv2dOptions(c.in_channels, c.out_channels, c.kernel).stride(c.stride).padding(c.padding).bias(c.bias)));
    } else {
      fixed->append((*d)[i]);
    }
  }
  Generator gen(6);
  const Tensor y = fixed->forward(Tensor::randn({2, 3, 28, 28}, gen));
  EXPECT_EQ(y.shape(), (Shape{2, 1, 1, 1}));
}

TEST(SeedCases, FixCheckingCanFail) {
  // The harness that checks fixes is not vacuous: a wrong fix is caught.
  auto d = dcgan_discriminator(3, 8);
  const nn::Plan p = nn::plan(*d, {2, 3, 28, 28});
  ASSERT_FALSE(p.ok());
  nn::Fix wrong;
  wrong.kind = nn::Fix::Kind::kModelInput;
  wrong.input = {2, 3, 32, 32};
  wrong.text = "resize to 32x32";
  EXPECT_FALSE(fix_works(wrong, d->layer_specs(), {2, 3, 28, 28}, p.diagnosis->layer));
  nn::Fix too_small;
  too_small.kind = nn::Fix::Kind::kLayerInput;
  too_small.input = {2, 512, 3, 3};
  EXPECT_FALSE(fix_works(too_small, d->layer_specs(), {2, 3, 28, 28}, p.diagnosis->layer));
}

// ---- channels ------------------------------------------------------------------------------------------

TEST(Diagnose, ChannelMismatchNamesProducerAndConsumer) {
  Generator gen(7);
  auto d = std::make_shared<nn::Sequential>(
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions(3, 64, 4).stride(2).padding(1).bias(false), gen),
      std::make_shared<nn::BatchNorm2d>(64), std::make_shared<nn::LeakyReLU>(0.2),
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions(128, 256, 4).stride(2).padding(1).bias(false), gen));
  d->set_name("discriminator");
  const nn::Diagnosis dg = forward_diagnosis(*d, Tensor::randn({2, 3, 32, 32}, gen));
  const std::string msg = dg.str();
  expect_contains(
      msg, {
               "discriminator.3: Conv2d(128 -> 256, kernel 4, stride 2, padding 1, bias=false) expects 128 input "
               "channels but "
               "got 64 from discriminator.0: Conv2d(3 -> 64, kernel 4, stride 2, padding 1, bias=false) (input [2, 64, "
               "16, 16])",
               "discriminator.3: build it for 64 input channels: Conv2d(64 -> 256, kernel 4, stride 2, padding 1, "
               "bias=false)",
               "discriminator.0: output 128 channels: Conv2d(3 -> 128, kernel 4, stride 2, padding 1, bias=false), and "
               "discriminator.1: BatchNorm2d(128, eps=1e-05, momentum=0.1)",
           });
  EXPECT_EQ(dg.fixes.size(), 2u);
  expect_fixes_work(dg, d->layer_specs(), {2, 3, 32, 32});
}

TEST(Diagnose, GreyImagesIntoAnRgbModelBlameTheModelInput) {
  auto d = dcgan_discriminator(3, 8);
  Generator gen(8);
  const nn::Diagnosis dg = forward_diagnosis(*d, Tensor::randn({2, 1, 64, 64}, gen));
  expect_contains(dg.str(), {"discriminator.0: Conv2d(3 -> 8, kernel 4, stride 2, padding 1, bias=false) expects 3 "
                             "input channels but got 1 from the model's input (input [2, 1, 64, 64])",
                             "discriminator.0: build it for 1 input channels",
                             "feed the model inputs with 3 channels: [2, 3, 64, 64]", "repeat the channel"});
  expect_fixes_work(dg, d->layer_specs(), {2, 1, 64, 64});
}

// ---- features, rank, batch statistics, transposed output, standalone layers ------------------------------

TEST(Diagnose, LinearAfterFlattenNamesFlattenAndTheImageSize) {
  Generator gen(9);
  auto m = std::make_shared<nn::Sequential>(
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions(1, 4, 4).stride(2).padding(1), gen),
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(4 * 16 * 16, 1, gen));
  m->set_name("critic");
  const nn::Diagnosis dg = forward_diagnosis(*m, Tensor::randn({2, 1, 28, 28}, gen));
  expect_contains(dg.str(),
                  {"critic.2: Linear(1024 -> 1) expects 1024 input features (the last dim) but got 784 "
                   "from critic.1: Flatten(start_dim=1, end_dim=-1) (input [2, 784])",
                   "shape trail: [2, 1, 28, 28] -> critic.0 -> [2, 4, 14, 14] -> critic.1 -> [2, 784] -> critic.2",
                   "critic expects 32x32 images and got 28x28", "resize the inputs to 32x32",
                   "critic.2: build it for 784 input features: Linear(784 -> 1)"});
  expect_fixes_work(dg, m->layer_specs(), {2, 1, 28, 28});
}

TEST(Diagnose, MissingFlattenBeforeLinear) {
  Generator gen(10);
  auto m = std::make_shared<nn::Sequential>(std::make_shared<nn::Conv2d>(nn::Conv2dOptions(1, 8, 3).padding(1), gen),
                                            std::make_shared<nn::Linear>(8 * 4 * 4, 1, gen));
  const nn::Diagnosis dg = forward_diagnosis(*m, Tensor::randn({2, 1, 4, 4}, gen));
  expect_contains(dg.str(),
                  {"1: Linear(128 -> 1) expects 128 input features (the last dim) but got 4",
                   "insert Flatten() before 1: it turns [2, 8, 4, 4] into [2, 128], the 128 features it expects"});
  expect_fixes_work(dg, m->layer_specs(), {2, 1, 4, 4});
}

TEST(Diagnose, UnbatchedImageIntoConv) {
  Generator gen(11);
  auto conv = std::make_shared<nn::Conv2d>(nn::Conv2dOptions(3, 8, 3), gen);
  const nn::Diagnosis dg = forward_diagnosis(*conv, Tensor::randn({3, 8, 8}, gen));
  expect_contains(dg.str(), {"Conv2d(3 -> 8, kernel 3, stride 1, padding 0) got input [3, 8, 8]: expects a 4-D input "
                             "(N, C, H, W), got a 3-D one [3, 8, 8]",
                             "add the batch dimension: x.unsqueeze(0) gives [1, 3, 8, 8]"});
  expect_fixes_work(dg, {conv->spec()}, {3, 8, 8});
}

TEST(Diagnose, FeaturesIntoConvNeedAReshape) {
  Generator gen(12);
  auto conv = std::make_shared<nn::ConvTranspose2d>(nn::ConvTranspose2dOptions(128, 64, 4).stride(2).padding(1), gen);
  const nn::Diagnosis dg = forward_diagnosis(*conv, Tensor::randn({2, 128 * 7 * 7}, gen));
  expect_contains(dg.str(), {"expects a 4-D input (N, C, H, W), got a 2-D one [2, 6272]",
                             "reshape the [2, 6272] features to [2, 128, 7, 7]"});
  expect_fixes_work(dg, {conv->spec()}, {2, 128 * 7 * 7});
}

TEST(Diagnose, BatchNormWithOneValuePerChannel) {
  auto bn = std::make_shared<nn::BatchNorm2d>(4);
  bn->set_name("bn");
  Generator gen(13);
  const nn::Diagnosis dg = forward_diagnosis(*bn, Tensor::randn({1, 4, 1, 1}, gen));
  expect_contains(dg.str(), {"bn: BatchNorm2d(4, eps=1e-05, momentum=0.1) got input [1, 4, 1, 1]: expected more than 1 "
                             "value per channel when training",
                             "a batch of at least 2 samples: [2, 4, 1, 1]", "run bn in eval mode (model->eval())"});
  expect_fixes_work(dg, {bn->spec()}, {1, 4, 1, 1});
  bn->eval();
  EXPECT_EQ(bn->forward(Tensor::randn({1, 4, 1, 1}, gen)).shape(), (Shape{1, 4, 1, 1}));
}

TEST(Diagnose, TransposedConvWithTooMuchPadding) {
  Generator gen(14);
  auto t = std::make_shared<nn::ConvTranspose2d>(nn::ConvTranspose2dOptions(8, 4, 2).stride(1).padding(2), gen);
  const nn::Diagnosis dg = forward_diagnosis(*t, Tensor::randn({1, 8, 1, 1}, gen));
  expect_contains(dg.str(), {"ConvTranspose2d(8 -> 4, kernel 2, stride 1, padding 2) got input [1, 8, 1, 1]: output",
                             "must be at least 1x1", "padding 0 (the largest that gives an output) gives 2x2",
                             "kernel 5 (the smallest that gives an output) gives 1x1",
                             "needs an input of at least 4x4 (it got 1x1)"});
  expect_fixes_work(dg, {t->spec()}, {1, 8, 1, 1});
}

TEST(Diagnose, StandaloneLayerHasNoTrailAndNoModelLine) {
  Generator gen(15);
  auto conv = std::make_shared<nn::Conv2d>(nn::Conv2dOptions(3, 8, {5, 3}).padding({0, 1}), gen);
  const nn::Diagnosis dg = forward_diagnosis(*conv, Tensor::randn({1, 3, 4, 9}, gen));
  const std::string msg = dg.str();
  expect_contains(msg, {"Conv2d(3 -> 8, kernel 5x3, stride 1, padding 0x1) got input [1, 3, 4, 9]",
                        "Conv2d: kernel 4x3 (the largest that fits this input) gives 1x9",
                        "Conv2d: padding 1 (the smallest that fits the 5x3 kernel) gives 2x9",
                        "Conv2d needs an input of at least 5x9 (it got 4x9)"});
  EXPECT_EQ(msg.find("shape trail"), std::string::npos);
  EXPECT_EQ(msg.find("expects"), std::string::npos);
  expect_fixes_work(dg, {conv->spec()}, {1, 3, 4, 9});
}

TEST(Diagnose, NestedSequentialsShareOneTrail) {
  Generator gen(16);
  auto block = [&](int in, int out) {
    return std::make_shared<nn::Sequential>(
        std::make_shared<nn::Conv2d>(nn::Conv2dOptions(in, out, 4).stride(2).padding(1), gen),
        std::make_shared<nn::ReLU>());
  };
  auto net = std::make_shared<nn::Sequential>();
  net->append("features", std::make_shared<nn::Sequential>(block(1, 4), block(4, 8)));
  net->append("head", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(8, 1, 4), gen));
  net->set_name("net");
  const nn::Diagnosis dg = forward_diagnosis(*net, Tensor::randn({1, 1, 8, 8}, gen));
  expect_contains(dg.str(), {"net.head: Conv2d(8 -> 1, kernel 4, stride 1, padding 0)",
                             "8x8 -> net.features.0.0 -> 4x4 -> net.features.1.0 -> 2x2 -> net.head",
                             "net expects 16x16 images and got 8x8"});
  expect_fixes_work(dg, net->layer_specs(), {1, 1, 8, 8});
}

}  // namespace
}  // namespace strider
