// DCGAN: shapes for each image size, text architectures, a training step on every device,
// checkpoint round trip and bit-identical resume, and every bad-input case.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <strider/core/file_io.hpp>
#include <strider/core/serialize.hpp>
#include <strider/layers/plan.hpp>
#include <strider/models/dcgan.hpp>
#include <strider/models/train.hpp>

#include "common/test_util.hpp"

namespace strider::models {
namespace {

namespace fs = std::filesystem;

// A fresh scratch directory per test.
fs::path scratch(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("strider-dcgan-test-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

// Writes an uncompressed MNIST-format images file of n random 28x28 images.
void write_idx_images(const fs::path& dir, int n, std::uint64_t seed) {
  std::string bytes = {0, 0, 8, 3};
  for (int v : {n, 28, 28})
    for (int s = 24; s >= 0; s -= 8) bytes.push_back(static_cast<char>((v >> s) & 0xff));
  Generator g(seed);
  const auto px = Tensor::rand({n * 28 * 28}, g, {}, 0, 256).to_vector<float>();
  for (float v : px) bytes.push_back(static_cast<char>(static_cast<unsigned char>(v)));
  std::ofstream(dir / "train-images-idx3-ubyte", std::ios::binary) << bytes;
}

TrainConfig tiny_config(const fs::path& data, const fs::path& out) {
  TrainConfig c;
  c.dataset = "mnist";
  c.dataroot = data.string();
  c.model.image_size = 16;
  c.model.nc = 1;
  c.model.nz = 8;
  c.model.ngf = 4;
  c.model.ndf = 4;
  c.batch_size = 4;
  c.iterations = 6;
  c.outf = out.string();
  c.seed = 5;
  c.sample_every = 3;
  c.checkpoint_every = 3;
  c.log_every = 1;
  c.progress = false;
  return c;
}

std::string slurp(const fs::path& p) { return read_file(p.string()); }

TEST(Dcgan, RecipeReachesEverySizeItClaims) {
  for (std::int64_t size : {8, 16, 28, 32, 48, 56, 64, 80, 96, 128}) {
    DcganConfig c;
    c.image_size = size;
    c.nc = size == 28 ? 1 : 3;
    c.ngf = c.ndf = 8;  // widths do not change shapes; small ones keep the test fast
    Generator gen(0);
    auto g = make_generator(c, gen);
    auto d = make_discriminator(c, gen);
    const auto pg = nn::plan(*g, {2, c.nz, 1, 1});
    ASSERT_TRUE(pg.ok()) << size << "\n" << pg.str();
    EXPECT_EQ(pg.output, (Shape{2, c.nc, size, size})) << size;
    const auto pd = nn::plan(*d, {2, c.nc, size, size});
    ASSERT_TRUE(pd.ok()) << size << "\n" << pd.str();
    EXPECT_EQ(pd.output, (Shape{2, 1, 1, 1})) << size;
  }
  EXPECT_EQ(dcgan_layout(28).base, 7);
  EXPECT_EQ(dcgan_layout(28).doublings, 2);
  EXPECT_EQ(dcgan_layout(64).base, 4);
  EXPECT_EQ(dcgan_layout(64).doublings, 4);
  STRIDER_EXPECT_THROW_MSG(dcgan_layout(30), ShapeError, "image size 30", "28 or 32", "--generator");
  STRIDER_EXPECT_THROW_MSG(dcgan_layout(4), ShapeError, "Use image size 8");
}

TEST(Dcgan, PytorchExamplesParameterCounts) {
  // pytorch/examples dcgan at 64x64x3, nz 100, ngf = ndf = 64: 3,576,704 and 2,765,568 parameters.
  DcganConfig c;
  Generator gen(0);
  EXPECT_EQ(make_generator(c, gen)->num_parameters(), 3576704);
  EXPECT_EQ(make_discriminator(c, gen)->num_parameters(), 2765568);
}

TEST(Dcgan, InitialisationFollowsThePaper) {
  DcganConfig c;
  c.image_size = 32;
  Generator gen(1);
  auto g = make_generator(c, gen);
  for (const auto& [name, t] : g->named_parameters()) {
    const double mean = t.mean().item(), sd = std::sqrt(square(t - mean).mean().item());
    if (name.find("weight") != std::string::npos && t.dim() == 4) {
      EXPECT_NEAR(mean, 0.0, 0.005) << name;
      EXPECT_NEAR(sd, 0.02, 0.005) << name;
    } else if (name.find("weight") != std::string::npos) {  // batch norm
      EXPECT_NEAR(mean, 1.0, 0.02) << name;
    } else {
      EXPECT_EQ(t.abs().max().item(), 0.0) << name;
    }
  }
}

TEST(Dcgan, TextArchitectures) {
  auto g = parse_architecture("convT 100->256 k7 s1 p0; bn; relu\nconvT 256->1 k4 s2 p1 # 7 -> 14\ntanh", "generator");
  const auto p = nn::plan(*g, {3, 100, 1, 1});
  ASSERT_TRUE(p.ok()) << p.str();
  EXPECT_EQ(p.output, (Shape{3, 1, 14, 14}));
  EXPECT_EQ(g->path(), "generator");
  auto d = parse_architecture("conv 1->8 k4 s2 p1 d1 g1 bias; lrelu 0.2; flatten; linear 392->1; sigmoid", "discriminator");
  EXPECT_EQ(nn::plan(*d, {2, 1, 14, 14}).output, (Shape{2, 1}));
  STRIDER_EXPECT_THROW_MSG(parse_architecture("conv 1->8 s2", "d"), ValueError, "layer 1", "kernel size", "accepted layers");
  STRIDER_EXPECT_THROW_MSG(parse_architecture("relu; pool 2", "d"), ValueError, "layer 2", "unknown layer 'pool'");
  STRIDER_EXPECT_THROW_MSG(parse_architecture("conv 1=>8 k3", "d"), ValueError, "IN->OUT");
  STRIDER_EXPECT_THROW_MSG(parse_architecture("bn", "d"), ValueError, "channel count");
  STRIDER_EXPECT_THROW_MSG(parse_architecture(" ; ", "d"), ValueError, "empty");
  STRIDER_EXPECT_THROW_MSG(parse_architecture("conv 1->8 kx", "d"), ValueError, "'x' is not a number");
}

TEST(Dcgan, TrainsWritesEverythingAndResumesBitIdentically) {
  const fs::path data = scratch("data"), a = scratch("a"), b = scratch("b");
  write_idx_images(data, 10, 3);
  {
    Trainer t(tiny_config(data, a));
    std::ostringstream log;
    t.run(log);
    EXPECT_EQ(t.iteration(), 6);
    EXPECT_NE(log.str().find("done: 6 iterations"), std::string::npos) << log.str();
  }
  for (const char* f : {"checkpoint.safetensors", "fake_samples.png", "fake_samples_iter_000003.png", "real_samples.png",
                        "loss_curve.png", "metrics.csv"})
    EXPECT_TRUE(fs::exists(a / f)) << f;
  // Three iterations, stop, resume for three more: the same bytes as six in one go.
  {
    auto c = tiny_config(data, b);
    c.iterations = 3;
    Trainer t(c);
    std::ostringstream log;
    t.run(log);
  }
  {
    auto c = tiny_config(data, b);
    c.resume = true;
    Trainer t(c);
    EXPECT_EQ(t.iteration(), 3);
    std::ostringstream log;
    t.run(log);
  }
  const auto fa = load_safetensors((a / "checkpoint.safetensors").string());
  const auto fb = load_safetensors((b / "checkpoint.safetensors").string());
  ASSERT_EQ(fa.tensors.size(), fb.tensors.size());
  for (const auto& [name, ta] : fa.tensors) {
    ASSERT_TRUE(fb.tensors.count(name)) << name;
    EXPECT_EQ(ta.to_vector<double>(), fb.tensors.at(name).to_vector<double>()) << name << " differs after resume";
  }
  EXPECT_EQ(fa.metadata, fb.metadata);
  // metrics.csv: one row per iteration in both runs (the resumed run appends after row 3).
  auto rows = [](const std::string& s) { return std::count(s.begin(), s.end(), '\n'); };
  EXPECT_EQ(rows(slurp(a / "metrics.csv")), 7);
  EXPECT_EQ(rows(slurp(b / "metrics.csv")), 7);
  // The checkpoint's generator samples.
  DcganConfig cfg;
  auto g = load_generator((a / "checkpoint.safetensors").string(), Device::cpu(), &cfg);
  EXPECT_EQ(cfg.ngf, 4);
  EXPECT_EQ(cfg.image_size, 16);
  EXPECT_FALSE(g->is_training());
}

TEST(Dcgan, OneStepMatchesBetweenCpuAndCuda) {
  if (!cuda_is_available()) GTEST_SKIP() << "no CUDA device: " << cuda_unavailable_reason();
  const fs::path data = scratch("data2"), a = scratch("cpu"), b = scratch("cuda");
  write_idx_images(data, 8, 4);
  auto ca = tiny_config(data, a), cb = tiny_config(data, b);
  cb.device = "cuda";
  Trainer ta(ca), tb(cb);
  Generator g(9);
  const Tensor real = Tensor::rand({4, 1, 16, 16}, g, {}, -1, 1);
  for (int i = 0; i < 2; ++i) {
    const auto sa = ta.step(real), sb = tb.step(real);
    EXPECT_NEAR(sa.loss_d, sb.loss_d, 1e-3) << "step " << i;
    EXPECT_NEAR(sa.loss_g, sb.loss_g, 1e-3) << "step " << i;
    EXPECT_NEAR(sa.d_x, sb.d_x, 1e-4) << "step " << i;
  }
}

TEST(Dcgan, BadInputsFailClearlyAndOverwriteNothing) {
  const fs::path data = scratch("data3"), out = scratch("out");
  write_idx_images(data, 8, 5);
  {
    Trainer t(tiny_config(data, out));
    std::ostringstream log;
    t.run(log);
  }
  const std::string before = slurp(out / "checkpoint.safetensors");
  // A new run in the same outf without --resume: refused, checkpoint untouched.
  STRIDER_EXPECT_THROW_MSG(Trainer(tiny_config(data, out)), IoError, "already holds a checkpoint", "--resume", "--overwrite");
  // Resuming with another architecture.
  auto other = tiny_config(data, out);
  other.resume = true;
  other.model.ngf = 8;
  STRIDER_EXPECT_THROW_MSG(Trainer{other}, ValueError, "another architecture", "ngf: checkpoint 4, now 8");
  EXPECT_EQ(slurp(out / "checkpoint.safetensors"), before);
  // Missing dataset, unreachable image size, unwritable output directory.
  auto missing = tiny_config(scratch("empty"), scratch("out2"));
  EXPECT_THROW(Trainer{missing}, IoError);
  auto bad_size = tiny_config(data, scratch("out3"));
  bad_size.model.image_size = 30;
  STRIDER_EXPECT_THROW_MSG(Trainer{bad_size}, ShapeError, "image size 30");
  const fs::path file = scratch("file") / "plain";
  std::ofstream(file) << "x";
  auto unwritable = tiny_config(data, file / "sub");
  EXPECT_THROW(Trainer{unwritable}, IoError);
  // Truncated and foreign checkpoints.
  const fs::path trunc = scratch("trunc");
  write_file_atomic((trunc / "checkpoint.safetensors").string(), before.substr(0, before.size() / 2));
  auto rt = tiny_config(data, trunc);
  rt.resume = true;
  EXPECT_THROW(Trainer{rt}, IoError);
  const fs::path foreign = scratch("foreign");
  save_safetensors((foreign / "checkpoint.safetensors").string(), {{"w", Tensor::ones({2})}});
  auto rf = tiny_config(data, foreign);
  rf.resume = true;
  STRIDER_EXPECT_THROW_MSG(Trainer{rf}, IoError, "not a strider DCGAN checkpoint");
  auto nothing = tiny_config(data, scratch("none"));
  nothing.resume = true;
  STRIDER_EXPECT_THROW_MSG(Trainer{nothing}, IoError, "no checkpoint");
  auto bad_opts = tiny_config(data, scratch("opts"));
  bad_opts.lr = -1;
  STRIDER_EXPECT_THROW_MSG(Trainer{bad_opts}, ValueError, "--lr -1");
}

}  // namespace
}  // namespace strider::models
