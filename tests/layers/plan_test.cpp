// Shape planning without tensors (shapes, parameter counts, FLOPs against hand counts), the summary
// table, and the convolution solver.
#include <gtest/gtest.h>

#include <string>

#include "layers/layers_test_util.hpp"

namespace strider {
namespace {

using testing::dcgan_discriminator;

TEST(Plan, DiscriminatorAt64x64MatchesHandCounts) {
  auto d = dcgan_discriminator();
  const nn::Plan p = nn::plan(*d, {64, 3, 64, 64});
  ASSERT_TRUE(p.ok()) << p.str();
  ASSERT_EQ(p.rows.size(), 13u);
  EXPECT_EQ(p.output, (Shape{64, 1, 1, 1}));
  const Shape outs[] = {{64, 64, 32, 32}, {64, 64, 32, 32}, {64, 128, 16, 16}, {64, 128, 16, 16}, {64, 128, 16, 16},
                        {64, 256, 8, 8},  {64, 256, 8, 8},  {64, 256, 8, 8},   {64, 512, 4, 4},   {64, 512, 4, 4},
                        {64, 512, 4, 4},  {64, 1, 1, 1},    {64, 1, 1, 1}};
  for (size_t i = 0; i < 13; ++i) {
    EXPECT_EQ(p.rows[i].output, outs[i]) << i;
    EXPECT_EQ(p.rows[i].path, "discriminator." + std::to_string(i));
  }
  // Parameters by hand: conv weights out*in*4*4 (no bias), BatchNorm weight+bias.
  const std::int64_t conv = 64 * 3 * 16 + 128 * 64 * 16 + 256 * 128 * 16 + 512 * 256 * 16 + 1 * 512 * 16;
  const std::int64_t bn = 2 * (128 + 256 + 512);
  EXPECT_EQ(p.total_params, conv + bn);
  EXPECT_EQ(p.total_params, 2765568);
  EXPECT_EQ(d->num_parameters(), 2765568);
  EXPECT_EQ(p.rows[0].params, 64 * 3 * 16);
  EXPECT_EQ(p.rows[3].params, 256);
  EXPECT_EQ(p.rows[1].params, 0);
  // FLOPs by hand: 2 * output elements * in_channels * kernel area.
  EXPECT_EQ(p.rows[0].flops, std::int64_t{2} * 64 * 64 * 32 * 32 * 3 * 16);
  EXPECT_EQ(p.rows[11].flops, std::int64_t{2} * 64 * 1 * 1 * 1 * 512 * 16);
  EXPECT_EQ(p.rows[12].flops, 64);  // sigmoid: one per element
}

TEST(Plan, LinearAndFlattenCounts) {
  Generator gen(1);
  auto m = std::make_shared<nn::Sequential>(std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(12, 5, gen),
                                            std::make_shared<nn::Tanh>(),
                                            std::make_shared<nn::Linear>(nn::LinearOptions(5, 2).bias(false), gen));
  const nn::Plan p = nn::plan(*m, {7, 3, 2, 2});
  ASSERT_TRUE(p.ok()) << p.str();
  EXPECT_EQ(p.rows[0].output, (Shape{7, 12}));
  EXPECT_EQ(p.output, (Shape{7, 2}));
  EXPECT_EQ(p.rows[1].params, 12 * 5 + 5);
  EXPECT_EQ(p.rows[3].params, 5 * 2);
  EXPECT_EQ(p.rows[1].flops, 2 * 7 * 12 * 5);
  EXPECT_EQ(p.total_params, 12 * 5 + 5 + 10);
}

TEST(Plan, GeneratorTransposedConvCounts) {
  Generator gen(2);
  auto g = std::make_shared<nn::Sequential>(
      std::make_shared<nn::ConvTranspose2d>(nn::ConvTranspose2dOptions(100, 512, 4).bias(false), gen),
      std::make_shared<nn::BatchNorm2d>(512), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::ConvTranspose2d>(nn::ConvTranspose2dOptions(512, 3, 4).stride(2).padding(1).bias(false),
                                            gen),
      std::make_shared<nn::Tanh>());
  const nn::Plan p = nn::plan(*g, {8, 100, 1, 1});
  ASSERT_TRUE(p.ok()) << p.str();
  EXPECT_EQ(p.output, (Shape{8, 3, 8, 8}));
  EXPECT_EQ(p.rows[0].params, 100 * 512 * 16);
  // Transposed conv FLOPs: every input element meets every weight of its channel once.
  EXPECT_EQ(p.rows[0].flops, std::int64_t{2} * 8 * 100 * 1 * 1 * 512 * 16);
  EXPECT_EQ(p.rows[3].flops, std::int64_t{2} * 8 * 512 * 4 * 4 * 3 * 16);
}

TEST(Plan, SummaryTableMarksTheFailingRowAndAppendsTheDiagnosis) {
  auto d = dcgan_discriminator(1, 8);
  const std::string ok = nn::summary(*d, {2, 1, 64, 64});
  EXPECT_NE(ok.find("discriminator (Sequential), input [2, 1, 64, 64]"), std::string::npos) << ok;
  EXPECT_NE(ok.find("discriminator.11  Conv2d"), std::string::npos) << ok;
  EXPECT_NE(ok.find("output: [2, 1, 1, 1]"), std::string::npos) << ok;
  EXPECT_EQ(ok.find(">>"), std::string::npos) << ok;
  const std::string bad = nn::summary(*d, {2, 1, 28, 28});
  EXPECT_NE(bad.find(">> discriminator.11  Conv2d       FAILS, see below"), std::string::npos) << bad;
  EXPECT_EQ(bad.find("discriminator.12"), std::string::npos) << bad;  // the table stops at the failing layer
  EXPECT_NE(bad.find("[2, 64, 1, 1]"), std::string::npos) << bad;     // discriminator.8 (ndf 8: 64 channels)
  const nn::Plan p = nn::plan(*d, {2, 1, 28, 28});
  EXPECT_NE(bad.find(p.diagnosis->str()), std::string::npos);
  EXPECT_NE(bad.find("total params: " + nn::thousands(d->num_parameters())), std::string::npos) << bad;
}

TEST(Plan, NeverThrowsForShapeProblemsAndStopsAtUnknownLayers) {
  struct Opaque : nn::Module {
    Opaque() : Module("Opaque") {}
    Tensor forward(const Tensor& x) override { return x; }
  };
  auto m = std::make_shared<nn::Sequential>(std::make_shared<nn::ReLU>(), std::make_shared<Opaque>(),
                                            std::make_shared<nn::ReLU>());
  nn::Plan p;
  EXPECT_NO_THROW(p = nn::plan(*m, {1, 2}));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.rows.size(), 2u);
  EXPECT_EQ(p.diagnosis->check.issue, nn::ShapeIssue::kUnknown);
  EXPECT_NE(p.str().find("1: Opaque() got input [1, 2]: has no shape function"), std::string::npos) << p.str();
  // A custom layer with a shape function plans through.
  struct Doubler : nn::Module {
    Doubler() : Module("Doubler") {}
    Tensor forward(const Tensor& x) override { return x; }
    nn::ShapeCheck output_shape(const Shape& in) const override {
      nn::ShapeCheck c;
      c.output = in;
      c.output.back() *= 2;
      return c;
    }
  };
  auto m2 = std::make_shared<nn::Sequential>(std::make_shared<Doubler>(), std::make_shared<nn::Linear>(6, 1));
  const nn::Plan p2 = nn::plan(*m2, {4, 3});
  ASSERT_TRUE(p2.ok()) << p2.str();
  EXPECT_EQ(p2.output, (Shape{4, 1}));
}

TEST(Plan, ModelSizeSearchPicksTheNearestWorkingSize) {
  // Flatten + Linear after four halvings: exactly the sizes 64..79 work; 128 is too big.
  Generator gen(3);
  auto m = std::make_shared<nn::Sequential>();
  for (int i = 0; i < 4; ++i)
    m->append(std::make_shared<nn::Conv2d>(nn::Conv2dOptions(1, 1, 4).stride(2).padding(1), gen));
  m->append(std::make_shared<nn::Flatten>());
  m->append(std::make_shared<nn::Linear>(16, 1, gen));
  m->set_name("critic");
  const nn::Plan p = nn::plan(*m, {1, 1, 128, 128});
  ASSERT_FALSE(p.ok());
  ASSERT_TRUE(p.diagnosis->model_expects);
  EXPECT_EQ(*p.diagnosis->model_expects, (Shape{1, 1, 64, 64}));
  EXPECT_NE(p.str().find("critic expects 64x64 images and got 128x128"), std::string::npos) << p.str();
}

// ---- solver ------------------------------------------------------------------------------------------------

// The textbook formulas, written independently of kernels::Conv2dProblem, as the test's reference.
std::int64_t conv_out(std::int64_t in, const nn::ConvChoice& c) {
  const std::int64_t span = in + 2 * c.padding - c.kernel;
  return span < 0 ? 0 : span / c.stride + 1;
}
std::int64_t transposed_out(std::int64_t in, const nn::ConvChoice& c) {
  return (in - 1) * c.stride - 2 * c.padding + c.kernel + c.output_padding;
}

TEST(Solve, CommonChoicesComeFirst) {
  EXPECT_EQ(nn::solve_conv(64, 32).at(0), (nn::ConvChoice{4, 2, 1, 0, false}));
  EXPECT_EQ(nn::solve_conv(32, 32).at(0), (nn::ConvChoice{3, 1, 1, 0, false}));
  EXPECT_EQ(nn::solve_conv(4, 1).at(0), (nn::ConvChoice{4, 1, 0, 0, false}));
  EXPECT_EQ(nn::solve_conv(1, 1).at(0), (nn::ConvChoice{1, 1, 0, 0, false}));
  EXPECT_EQ(nn::solve_conv_transpose(32, 64).at(0), (nn::ConvChoice{4, 2, 1, 0, true}));
  EXPECT_EQ(nn::solve_conv_transpose(1, 4).at(0), (nn::ConvChoice{4, 1, 0, 0, true}));
  EXPECT_EQ(nn::solve_conv_transpose(7, 14).at(0), (nn::ConvChoice{4, 2, 1, 0, true}));
  EXPECT_EQ(nn::solve_conv(64, 32).at(0).str(), "kernel 4, stride 2, padding 1");
  EXPECT_EQ((nn::ConvChoice{3, 2, 1, 1, true}).str(), "kernel 3, stride 2, padding 1, output_padding 1");
}

TEST(Solve, EveryChoiceIsCorrectAndNoneIsMissing) {
  for (std::int64_t in : {1, 3, 7, 14, 28, 64}) {
    for (std::int64_t out : {1, 2, 4, 7, 8, 14, 32, 64}) {
      for (bool transposed : {false, true}) {
        const auto found = transposed ? nn::solve_conv_transpose(in, out) : nn::solve_conv(in, out);
        std::size_t expected = 0;
        for (int k = 1; k <= 7; ++k)
          for (int s = 1; s <= 4; ++s)
            for (int p = 0; p <= k; ++p)
              for (int op = 0; op < (transposed ? s : 1); ++op) {
                const nn::ConvChoice c{k, s, p, op, transposed};
                if ((transposed ? transposed_out(in, c) : conv_out(in, c)) == out) ++expected;
              }
        EXPECT_EQ(found.size(), expected) << in << " -> " << out << (transposed ? " transposed" : "");
        for (const auto& c : found) {
          EXPECT_EQ(transposed ? transposed_out(in, c) : conv_out(in, c), out) << c.str();
          EXPECT_EQ(nn::conv_choice_output(c, in), out) << c.str();
        }
      }
    }
  }
  EXPECT_TRUE(nn::solve_conv(0, 1).empty());
  EXPECT_TRUE(nn::solve_conv(8, 0).empty());
}

TEST(Solve, CleanChoicesComeBeforeWastefulOnes) {
  // Wasteful: padding over half the kernel, a kernel narrower than its stride, input rows dropped by
  // the floor or a kernel wider than the input (conv), output_padding (transposed).
  auto wasteful = [](const nn::ConvChoice& c, std::int64_t in) {
    if (2 * c.padding > c.kernel || c.kernel < c.stride) return true;
    if (c.transposed) return c.output_padding > 0;
    return (in + 2 * c.padding - c.kernel) % c.stride != 0 || c.kernel > in;
  };
  int lists = 0;
  for (std::int64_t in = 1; in <= 20; ++in) {
    for (std::int64_t out = 1; out <= 40; ++out) {
      for (bool transposed : {false, true}) {
        const auto found = transposed ? nn::solve_conv_transpose(in, out) : nn::solve_conv(in, out);
        bool seen = false, mixed = false;
        for (const auto& c : found) {
          if (wasteful(c, in)) {
            seen = true;
          } else {
            mixed = mixed || seen;
            EXPECT_FALSE(seen) << in << " -> " << out << ": " << c.str() << " comes after a wasteful choice";
          }
        }
        lists += !found.empty() && !mixed;
      }
    }
  }
  EXPECT_GT(lists, 100);
}

}  // namespace
}  // namespace strider
