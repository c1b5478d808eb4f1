// Module mechanics: children and paths, parameters and buffers, modes, in-place moves, state dicts
// and their errors, printing, Sequential, option validation.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "layers/layers_test_util.hpp"

namespace strider {
namespace {

using testing::dcgan_discriminator;

std::vector<std::string> names(const nn::NamedTensors& v) {
  std::vector<std::string> out;
  for (const auto& [n, t] : v) out.push_back(n);
  return out;
}

// A user model in PyTorch-C++ style: children registered in the constructor.
struct Net : nn::Module {
  Net() : Module("Net") {
    features = register_module("features", std::make_shared<nn::Sequential>(
                                               std::make_shared<nn::Conv2d>(nn::Conv2dOptions(1, 2, 3)),
                                               std::make_shared<nn::BatchNorm2d>(2), std::make_shared<nn::ReLU>()));
    head = register_module("head", std::make_shared<nn::Linear>(2, 1));
    scale = register_parameter("scale", Tensor::ones({1}));
  }
  Tensor forward(const Tensor& x) override { return head->forward(features->forward(x).mean({2, 3})) * scale; }
  std::shared_ptr<nn::Sequential> features;
  std::shared_ptr<nn::Linear> head;
  Tensor scale;
};

TEST(Module, NamesPathsParametersAndBuffersInRegistrationOrder) {
  auto net = std::make_shared<Net>();
  EXPECT_EQ(names(net->named_parameters()),
            (std::vector<std::string>{"scale", "features.0.weight", "features.0.bias", "features.1.weight",
                                      "features.1.bias", "head.weight", "head.bias"}));
  EXPECT_EQ(names(net->named_buffers()), (std::vector<std::string>{"features.1.running_mean", "features.1.running_var",
                                                                   "features.1.num_batches_tracked"}));
  EXPECT_EQ(names(net->named_parameters(false)), (std::vector<std::string>{"scale"}));
  EXPECT_EQ(net->features->path(), "features");
  EXPECT_EQ((*net->features)[1]->path(), "features.1");
  net->set_name("model");
  EXPECT_EQ((*net->features)[1]->path(), "model.features.1");
  EXPECT_EQ((*net->features)[1]->name(), "1");
  EXPECT_EQ(net->child("head")->type(), "Linear");
  STRIDER_EXPECT_THROW_MSG((void)net->child("tail"), IndexError, "model has no child \"tail\"", "features, head");
  std::vector<std::string> mods;
  for (const auto& [n, m] : net->named_modules()) mods.push_back(n + ":" + m->type());
  EXPECT_EQ(mods, (std::vector<std::string>{":Net", "features:Sequential", "features.0:Conv2d",
                                            "features.1:BatchNorm2d", "features.2:ReLU", "head:Linear"}));
  // Handles are shared: the registered tensor is the layer's member.
  EXPECT_TRUE(net->parameters()[5].same(net->head->weight));
  EXPECT_EQ(net->num_parameters(), 1 + (2 * 1 * 9 + 2) + (2 + 2) + (2 + 1));
}

TEST(Module, RegistrationErrors) {
  auto seq = std::make_shared<nn::Sequential>();
  seq->set_name("m");
  seq->append("a", std::make_shared<nn::ReLU>());
  STRIDER_EXPECT_THROW_MSG(seq->append("a", std::make_shared<nn::ReLU>()), ValueError,
                           "m: cannot register module \"a\"", "already used");
  STRIDER_EXPECT_THROW_MSG(seq->append("b.c", std::make_shared<nn::ReLU>()), ValueError,
                           "must be non-empty and contain no '.'");
  STRIDER_EXPECT_THROW_MSG(seq->append("x", nullptr), ValueError, "null module");
  STRIDER_EXPECT_THROW_MSG((void)(*seq)[3], IndexError, "m[3]: index out of range; it has 1 layers, indices 0..0");
  STRIDER_EXPECT_THROW_MSG((void)seq->at<nn::Conv2d>(0), ValueError, "m[0] is a ReLU");
  EXPECT_NE(seq->at<nn::ReLU>(0), nullptr);
}

TEST(Module, SequentialIteratesInOrder) {
  auto d = dcgan_discriminator(1, 4);
  std::vector<std::string> types;
  for (const auto& m : *d) types.push_back(m->type());
  EXPECT_EQ(types.size(), 13u);
  EXPECT_EQ(types.front(), "Conv2d");
  EXPECT_EQ(types.back(), "Sigmoid");
  EXPECT_EQ(d->size(), 13u);
  EXPECT_EQ(d->at<nn::Conv2d>(11)->path(), "discriminator.11");
}

TEST(Module, TrainEvalRecurse) {
  auto net = std::make_shared<Net>();
  EXPECT_TRUE((*net->features)[1]->is_training());
  net->eval();
  EXPECT_FALSE(net->is_training());
  EXPECT_FALSE((*net->features)[1]->is_training());
  net->train();
  EXPECT_TRUE((*net->features)[1]->is_training());
}

TEST(Module, ToMovesInPlaceKeepingIdentity) {
  auto net = std::make_shared<Net>();
  const Tensor w = net->head->weight;  // a handle held elsewhere (as an optimizer would)
  Generator gen(1);
  net->forward(Tensor::randn({2, 1, 5, 5}, gen)).sum().backward();
  ASSERT_TRUE(w.grad().defined());
  const auto before = w.to_vector<double>();
  net->to(DType::Float64);
  EXPECT_EQ(w.dtype(), DType::Float64);
  EXPECT_EQ(w.grad().dtype(), DType::Float64);
  EXPECT_TRUE(w.requires_grad());
  EXPECT_TRUE(testing::all_close(w.to_vector<double>(), before, 1e-7, 0));
  auto bn = net->features->at<nn::BatchNorm2d>(1);
  EXPECT_EQ(bn->running_mean.dtype(), DType::Float64);
  EXPECT_EQ(bn->num_batches_tracked.dtype(), DType::Float64);
  net->to(DType::Float32);
  EXPECT_EQ(bn->num_batches_tracked.dtype(), DType::Float64);  // a counter keeps its dtype
  EXPECT_EQ(w.dtype(), DType::Float32);
  // The model still runs after the round trip.
  EXPECT_EQ(net->forward(Tensor::randn({2, 1, 5, 5}, gen)).shape(), (Shape{2, 1}));
  if (cuda_is_available()) {
    net->to(Device::cuda());
    EXPECT_TRUE(w.device().is_cuda());
    EXPECT_TRUE(bn->running_var.device().is_cuda());
    EXPECT_TRUE(net->parameters()[5].same(w));
    EXPECT_EQ(net->forward(Tensor::randn({2, 1, 5, 5}, gen).cuda()).device(), Device::cuda());
  }
}

TEST(Module, ZeroGrad) {
  auto net = std::make_shared<Net>();
  Generator gen(2);
  net->forward(Tensor::randn({2, 1, 5, 5}, gen)).sum().backward();
  for (const auto& p : net->parameters()) ASSERT_TRUE(p.grad().defined());
  net->zero_grad(false);
  for (const auto& p : net->parameters()) EXPECT_EQ(p.grad().abs().sum().item(), 0.0);
  net->zero_grad();
  for (const auto& p : net->parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(Module, StateDictRoundTrip) {
  auto a = std::make_shared<Net>();
  Generator gen(3);
  const Tensor x = Tensor::randn({3, 1, 6, 6}, gen);
  (void)a->forward(x);  // updates the running statistics
  a->eval();
  auto b = std::make_shared<Net>();
  b->eval();
  const auto state = a->state_dict();
  EXPECT_EQ(names(state).size(), 10u);
  EXPECT_EQ(state[0].first, "scale");
  EXPECT_FALSE(state[1].second.requires_grad());
  const nn::LoadResult r = b->load_state_dict(state);
  EXPECT_TRUE(r.missing.empty() && r.unexpected.empty());
  EXPECT_TRUE(testing::all_close(b->forward(x).to_vector<double>(), a->forward(x).to_vector<double>(), 0, 0));
  EXPECT_EQ(b->features->at<nn::BatchNorm2d>(1)->num_batches_tracked.item(), 1.0);
  // Copies, not aliases: changing a does not change b.
  {
    NoGradGuard g;
    a->head->bias.fill_(5);
  }
  EXPECT_NE(b->head->bias.item(), 5.0);
}

TEST(Module, LoadStateDictNamesEveryProblemAtOnce) {
  auto net = std::make_shared<Net>();
  net->set_name("net");
  auto state = net->state_dict();
  state.erase(state.begin() + 1);                               // features.0.weight missing
  state.emplace_back("features.9.weight", Tensor::zeros({1}));  // unexpected
  state.emplace_back("extra", Tensor::zeros({1}));              // unexpected
  for (auto& [n, t] : state) {
    if (n == "head.weight") t = Tensor::zeros({3, 2});  // mis-shaped
  }
  const auto before = net->head->bias.to_vector<double>();
  STRIDER_EXPECT_THROW_MSG(net->load_state_dict(state), ValueError, "load_state_dict into net (Net)",
                           "1 missing (in the module, not in the state dict): features.0.weight",
                           "2 unexpected (in the state dict, not in the module): features.9.weight, extra",
                           "1 mis-shaped: head.weight: state dict [3, 2], module [1, 2]", "nothing was loaded",
                           "strict = false");
  EXPECT_EQ(net->head->bias.to_vector<double>(), before);
  // strict = false skips names but never shapes.
  STRIDER_EXPECT_THROW_MSG(net->load_state_dict(state, false), ShapeError, "1 mis-shaped: head.weight");
  for (auto& [n, t] : state) {
    if (n == "head.weight") t = Tensor::zeros({1, 2});
  }
  const nn::LoadResult r = net->load_state_dict(state, false);
  EXPECT_EQ(r.missing, (std::vector<std::string>{"features.0.weight"}));
  EXPECT_EQ(r.unexpected, (std::vector<std::string>{"features.9.weight", "extra"}));
  EXPECT_EQ(net->head->weight.abs().sum().item(), 0.0);
}

TEST(Module, Printing) {
  auto d = dcgan_discriminator(3, 64);
  const std::string s = d->str();
  EXPECT_EQ(s.substr(0, s.find("(2)")),
            "Sequential(\n  (0): Conv2d(3 -> 64, kernel 4, stride 2, padding 1, bias=false)\n"
            "  (1): LeakyReLU(negative_slope=0.2)\n  ");
  EXPECT_NE(s.find("  (3): BatchNorm2d(128, eps=1e-05, momentum=0.1)\n"), std::string::npos) << s;
  EXPECT_NE(s.find("  (12): Sigmoid()\n)"), std::string::npos) << s;
  auto net = std::make_shared<Net>();
  EXPECT_EQ(net->str(),
            "Net(\n  (features): Sequential(\n    (0): Conv2d(1 -> 2, kernel 3, stride 1, padding 0)\n"
            "    (1): BatchNorm2d(2, eps=1e-05, momentum=0.1)\n    (2): ReLU()\n  )\n  (head): Linear(2 -> 1)\n)");
  EXPECT_EQ(
      nn::ConvTranspose2d(nn::ConvTranspose2dOptions(8, 4, {3, 2}).stride(2).output_padding(1).groups(2).dilation(2))
          .str(),
      "ConvTranspose2d(8 -> 4, kernel 3x2, stride 2, padding 0, output_padding 1, dilation 2, groups 2)");
  EXPECT_EQ(
      nn::BatchNorm2d(nn::BatchNorm2dOptions(3).momentum(std::nullopt).affine(false).track_running_stats(false)).str(),
      "BatchNorm2d(3, eps=1e-05, momentum=None, affine=false, track_running_stats=false)");
  EXPECT_EQ(nn::Flatten(0).str(), "Flatten(start_dim=0, end_dim=-1)");
  EXPECT_EQ(nn::Linear(nn::LinearOptions(3, 4).bias(false)).str(), "Linear(3 -> 4, bias=false)");
}

TEST(Module, OptionsAreValidatedWhenBuilt) {
  STRIDER_EXPECT_THROW_MSG(nn::Conv2d(nn::Conv2dOptions(3, 64, 0)), ValueError,
                           "Conv2d(3 -> 64, kernel 0, stride 1, padding 0): invalid options",
                           "kernel 0x0 must be at least 1x1");
  STRIDER_EXPECT_THROW_MSG(nn::Conv2d(nn::Conv2dOptions(3, 64, 3).groups(2)), ValueError, "not divisible by groups=2",
                           "groups that divide both: 1");
  STRIDER_EXPECT_THROW_MSG(nn::Conv2d(nn::Conv2dOptions(3, 64, 3).stride(0)), ValueError,
                           "stride 0x0 must be at least 1x1");
  STRIDER_EXPECT_THROW_MSG(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(3, 4, 3).stride(2).output_padding(2)),
                           ValueError, "output_padding 2 (height) must be smaller than the stride 2");
  STRIDER_EXPECT_THROW_MSG(nn::Conv2d(nn::Conv2dOptions(0, 4, 3)), ValueError, "channels must be in [1, 2^24]");
  STRIDER_EXPECT_THROW_MSG(nn::Linear(0, 3), ValueError, "Linear(0 -> 3)");
  STRIDER_EXPECT_THROW_MSG(nn::BatchNorm2d(nn::BatchNorm2dOptions(4).momentum(2.0)), ValueError,
                           "momentum = 2 must be in [0, 1]");
  STRIDER_EXPECT_THROW_MSG(nn::BatchNorm2d(0), ValueError, "num_features = 0");
  STRIDER_EXPECT_THROW_MSG((void)std::make_shared<nn::LeakyReLU>(std::nan("")), ValueError, "negative_slope");
}

TEST(Module, ParameterCountsMatchHandCounts) {
  EXPECT_EQ(nn::Conv2d(nn::Conv2dOptions(3, 64, 4)).num_parameters(), 64 * 3 * 16 + 64);
  EXPECT_EQ(nn::Conv2d(nn::Conv2dOptions(4, 8, {3, 2}).groups(2).bias(false)).num_parameters(), 8 * 2 * 3 * 2);
  EXPECT_EQ(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(100, 512, 4).bias(false)).num_parameters(), 100 * 512 * 16);
  EXPECT_EQ(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(4, 6, 3).groups(2)).weight.shape(), (Shape{4, 3, 3, 3}));
  EXPECT_EQ(nn::BatchNorm2d(128).num_parameters(), 256);
  EXPECT_EQ(nn::BatchNorm2d(nn::BatchNorm2dOptions(128).affine(false)).num_parameters(), 0);
  EXPECT_EQ(nn::BatchNorm2d(nn::BatchNorm2dOptions(128).track_running_stats(false)).named_buffers().size(), 0u);
  EXPECT_EQ(nn::Linear(10, 3).num_parameters(), 33);
  EXPECT_EQ(nn::Linear(10, 3).weight.shape(), (Shape{3, 10}));
  EXPECT_EQ(nn::LeakyReLU(0.2).num_parameters(), 0);
}

}  // namespace
}  // namespace strider
