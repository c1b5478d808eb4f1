// dcgan: train a DCGAN, sample from a checkpoint, or plan an architecture.
//
//   dcgan train [--dataset fashion-mnist] [--image-size 64] [--iterations 500] [--outf out/dcgan] ...
//   dcgan sample --checkpoint out/dcgan/checkpoint.safetensors --count 64 --output samples.png
//   dcgan plan --image-size 64 [--input-size 28]
//   dcgan classifier --output out/classifier.safetensors      (the feature classifier for `score`)
//   dcgan score --checkpoint out/dcgan/checkpoint.safetensors --classifier out/classifier.safetensors
//
// Exit codes: 0 success, 1 a strider error (the message says what to change), 2 bad usage.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iomanip>
#include <iostream>

#include <strider/core/autograd.hpp>
#include <strider/core/nn.hpp>
#include <strider/core/random.hpp>
#include <strider/layers/plan.hpp>
#include <strider/models/data.hpp>
#include <strider/models/dcgan.hpp>
#include <strider/models/image.hpp>
#include <strider/models/quality.hpp>
#include <strider/models/train.hpp>

namespace {

using namespace strider;

void add_model_options(CLI::App* app, models::DcganConfig& m) {
  app->add_option("--image-size,--imageSize", m.image_size, "height/width of the images (recipe: 28, 32, 64, 128, ...; 0 for train: the dataset's own size)")
      ->capture_default_str();
  app->add_option("--nc", m.nc, "image channels (0: take them from the dataset)")->capture_default_str();
  app->add_option("--nz", m.nz, "size of the latent vector z")->capture_default_str();
  app->add_option("--ngf", m.ngf, "generator width")->capture_default_str();
  app->add_option("--ndf", m.ndf, "discriminator width")->capture_default_str();
  app->add_option("--generator", m.generator_text,
                  "custom generator layers, ';'-separated, e.g. \"convT 100->256 k7 s1 p0; bn; relu; convT 256->1 k4 s2 "
                  "p1; tanh\"");
  app->add_option("--discriminator", m.discriminator_text, "custom discriminator layers, same format");
}

int run_plan(models::DcganConfig m, std::int64_t input_size, std::int64_t batch) {
  if (m.nc == 0) m.nc = 1;
  Generator gen(0);
  auto g = models::make_generator(m, gen);
  auto d = models::make_discriminator(m, gen);
  const nn::Plan pg = nn::plan(*g, {batch, m.nz, 1, 1});
  const std::int64_t s = input_size > 0 ? input_size : m.image_size;
  const nn::Plan pd = nn::plan(*d, {batch, m.nc, s, s});
  std::cout << "generator, noise (" << batch << ", " << m.nz << ", 1, 1):\n" << pg.str() << "\n";
  std::cout << "discriminator, images (" << batch << ", " << m.nc << ", " << s << ", " << s << "):\n" << pd.str() << "\n";
  return pg.ok() && pd.ok() ? 0 : 1;
}

// `count` images from generator g (in its current mode), in batches of 500, on the CPU.
Tensor generate(nn::Sequential& g, const models::DcganConfig& c, std::int64_t count, std::uint64_t seed, Device dev) {
  Generator gen(seed);
  return models::map_batches(count, 500, [&](std::int64_t, std::int64_t k) {
    return g.forward(Tensor::randn({k, c.nz, 1, 1}, gen, dev));
  });
}

int run_score(const std::string& checkpoint, const std::string& classifier_path, const std::string& dataroot,
              std::int64_t count, std::uint64_t seed, const std::string& device, bool batch_stats) {
  STRIDER_CHECK(count >= 2, ValueError, "--count " << count << " must be >= 2 (a covariance needs two samples)");
  STRIDER_CHECK(std::filesystem::exists(classifier_path), IoError,
                "no feature classifier at " << classifier_path << "; train one first (2-3 minutes): dcgan classifier --output "
                                            << classifier_path);
  double accuracy = 0;
  auto clf = models::load_classifier(classifier_path, &accuracy);
  const Device dev(device);
  clf->to(dev);
  models::DcganConfig c;
  auto trained = models::load_generator(checkpoint, dev, &c);
  Generator init(seed + 1);
  auto untrained = models::make_generator(c, init);
  untrained->to(dev);
  untrained->eval();
  if (batch_stats) {  // normalise each batch of 500 by its own statistics, as the trainer's grids do
    trained->train();
    untrained->train();
  }

  const Tensor test = models::fashion_mnist_images(dataroot, false, count);
  const Tensor train = models::fashion_mnist_images(dataroot, true, count);
  const models::FeatureStats ref = models::feature_stats(models::classifier_features(*clf, test));
  const auto score = [&](const Tensor& images) {
    return models::frechet_distance(ref, models::feature_stats(models::classifier_features(*clf, images)));
  };
  std::cout << "Frechet distance to " << test.size(0) << " Fashion-MNIST test images, on the " << models::kFeatureDim
            << " features of the strider classifier " << classifier_path << " (test accuracy " << std::fixed
            << std::setprecision(1) << 100 * accuracy << "%); lower is better:\n";
  std::cout << "  " << std::left << std::setw(44) << ("real training images (" + std::to_string(train.size(0)) + ")")
            << std::right << std::setw(10) << std::setprecision(2) << score(train) << "   the floor\n";
  std::cout << "  " << std::left << std::setw(44) << ("trained generator (" + std::to_string(count) + " samples)")
            << std::right << std::setw(10) << score(generate(*trained, c, count, seed, dev)) << "   " << checkpoint
            << "\n";
  std::cout << "  " << std::left << std::setw(44) << ("untrained generator (" + std::to_string(count) + " samples)")
            << std::right << std::setw(10) << score(generate(*untrained, c, count, seed, dev))
            << "   same architecture, DCGAN init\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"strider DCGAN: train on Fashion-MNIST (default), MNIST, CIFAR-10 or a folder of images; sample; plan"};
  app.require_subcommand(1);

  models::TrainConfig tc;
  tc.model.nc = 0;
  tc.model.image_size = 0;
  auto* train = app.add_subcommand("train", "train a DCGAN (pictures and checkpoints go to --outf)");
  train->add_option("--dataset", tc.dataset, "fashion-mnist | mnist | cifar10 | folder")->capture_default_str();
  train->add_option("--dataroot", tc.dataroot, "where the dataset lives (default for fashion-mnist: " +
                                                   std::string(models::kFashionMnistRoot) + ")");
  add_model_options(train, tc.model);
  train->add_option("--batch-size,--batchSize", tc.batch_size, "images per batch")->capture_default_str();
  train->add_option("--epochs,--niter", tc.epochs, "epochs to train (when --iterations is 0)")->capture_default_str();
  train->add_option("--iterations", tc.iterations, "iterations to reach in total (overrides --epochs)")->capture_default_str();
  train->add_option("--lr", tc.lr, "Adam learning rate")->capture_default_str();
  train->add_option("--beta1", tc.beta1, "Adam beta1")->capture_default_str();
  train->add_option("--seed,--manualSeed", tc.seed, "random seed")->capture_default_str();
  train->add_option("--outf", tc.outf, "output directory")->capture_default_str();
  train->add_option("--device", tc.device, "cpu | cuda | cuda:N")->capture_default_str();
  train->add_option("--conv-backend", tc.conv_backend, "native (hand-written kernels) | cudnn")->capture_default_str();
  train->add_flag("--resume", tc.resume, "continue from --outf/checkpoint.safetensors");
  train->add_flag("--overwrite", tc.overwrite, "start over in an --outf that already holds a checkpoint");
  train->add_option("--sample-every", tc.sample_every, "write the fixed-noise sample grid every N iterations")
      ->capture_default_str();
  train->add_option("--checkpoint-every", tc.checkpoint_every, "write the checkpoint every N iterations")
      ->capture_default_str();
  train->add_option("--log-every", tc.log_every, "metrics row (and log line off a terminal) every N iterations")
      ->capture_default_str();

  std::string ckpt, sample_out = "samples.png", sample_device = "cpu";
  std::int64_t count = 64;
  std::uint64_t sample_seed = 0;
  auto* sample = app.add_subcommand("sample", "draw an image grid from a checkpoint's generator");
  sample->add_option("--checkpoint", ckpt, "a checkpoint written by `dcgan train`")->required();
  sample->add_option("--count", count, "number of images")->capture_default_str();
  sample->add_option("--seed", sample_seed, "noise seed")->capture_default_str();
  sample->add_option("--output,-o", sample_out, "PNG to write")->capture_default_str();
  sample->add_option("--device", sample_device, "cpu | cuda")->capture_default_str();

  models::DcganConfig pc;
  pc.nc = 0;
  std::int64_t input_size = 0, plan_batch = 64;
  auto* plan = app.add_subcommand("plan", "print the generator's and discriminator's shape tables, or the diagnosis of "
                                          "the first layer that cannot run (exit 1 then)");
  add_model_options(plan, pc);
  plan->add_option("--input-size", input_size, "size of the images fed to the discriminator (default: --image-size)");
  plan->add_option("--batch-size,--batchSize", plan_batch, "batch size to plan for")->capture_default_str();

  models::ClassifierTrainConfig cc;
  std::string clf_out = "out/classifier.safetensors";
  auto* classifier = app.add_subcommand(
      "classifier", "train the small Fashion-MNIST classifier whose features `score` compares (2-3 minutes on 2 cores)");
  classifier->add_option("--dataroot", cc.dataroot, "Fashion-MNIST IDX files (default " + std::string(models::kFashionMnistRoot) + ")");
  classifier->add_option("--epochs", cc.epochs, "epochs")->capture_default_str();
  classifier->add_option("--seed", cc.seed, "random seed")->capture_default_str();
  classifier->add_option("--output,-o", clf_out, "safetensors file to write")->capture_default_str();

  std::string score_ckpt, score_clf = "out/classifier.safetensors", score_root, score_device = "cpu";
  std::int64_t score_count = 10000;
  std::uint64_t score_seed = 0;
  auto* score = app.add_subcommand("score", "sample quality as a number: the Frechet distance between the classifier "
                                            "features of generated and real Fashion-MNIST images, for a checkpoint's "
                                            "generator and an untrained one");
  score->add_option("--checkpoint", score_ckpt, "a checkpoint written by `dcgan train` (grey images)")->required();
  score->add_option("--classifier", score_clf, "written by `dcgan classifier`")->capture_default_str();
  score->add_option("--dataroot", score_root, "Fashion-MNIST IDX files (default " + std::string(models::kFashionMnistRoot) + ")");
  score->add_option("--count", score_count, "images per set")->capture_default_str();
  score->add_option("--seed", score_seed, "noise seed")->capture_default_str();
  score->add_option("--device", score_device, "cpu | cuda")->capture_default_str();
  bool score_batch_stats = false;
  score->add_flag("--batch-stats", score_batch_stats,
                  "generators normalise with batch statistics (as the trainer's sample grids), not running ones");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    if (*train) {
      models::Trainer trainer(tc);
      trainer.run(std::cout);
      return 0;
    }
    if (*sample) {
      STRIDER_CHECK(count >= 1, ValueError, "--count " << count << " must be >= 1");
      models::DcganConfig c;
      const Device dev(sample_device);
      auto g = models::load_generator(ckpt, dev, &c);
      Generator gen(sample_seed);
      const Tensor z = Tensor::randn({count, c.nz, 1, 1}, gen, dev);
      NoGradGuard ng;
      models::save_image_grid(sample_out, g->forward(z), 8);
      std::cout << "wrote " << count << " samples of " << models::describe(c) << " to " << sample_out << "\n";
      return 0;
    }
    if (*plan) return run_plan(pc, input_size, plan_batch);
    if (*classifier) {
      double acc = 0;
      auto clf = models::train_classifier(cc, std::cout, &acc);
      const auto parent = std::filesystem::path(clf_out).parent_path();
      if (!parent.empty()) std::filesystem::create_directories(parent);
      models::save_classifier(clf_out, *clf, acc);
      std::cout << "wrote the classifier (test accuracy " << std::fixed << std::setprecision(2) << 100 * acc
                << "%) to " << clf_out << "\n";
      return 0;
    }
    if (*score) return run_score(score_ckpt, score_clf, score_root, score_count, score_seed, score_device, score_batch_stats);
  } catch (const Error& e) {
    std::cerr << "dcgan: error: " << e.what() << "\n";
    return 1;
  }
  return 2;
}
