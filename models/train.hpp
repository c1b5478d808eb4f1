// DCGAN training as in pytorch/examples/dcgan: the loop, its progress line, samples, metrics,
// the loss curve and checkpoints that resume bit-identically on the CPU.
//
// Output directory (--outf):
//   real_samples.png            a grid of real training images (written once)
//   fake_samples_iter_NNNNNN.png  the fixed-noise samples every --sample-every iterations
//   fake_samples.png            the latest of those
//   metrics.csv                 iteration, epoch, Loss_D, Loss_G, D(x), D(G(z)) before/after, img/s
//   loss_curve.png              Loss_D and Loss_G so far
//   checkpoint.safetensors      G, D, both optimizers, step, RNG and data-order state, config
// Every file is written atomically (temp file, fsync, rename): a kill at any moment leaves the
// previous version whole. Checkpoint layout: docs in models/README.md.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include <strider/core/random.hpp>
#include <strider/layers/optim.hpp>
#include <strider/layers/sequential.hpp>
#include <strider/models/data.hpp>
#include <strider/models/dcgan.hpp>

namespace strider::models {

struct TrainConfig {
  DcganConfig model;
  std::string dataset = "fashion-mnist";
  std::string dataroot;            // empty: the dataset's default location
  std::int64_t batch_size = 64;
  std::int64_t epochs = 1;         // used when iterations == 0
  std::int64_t iterations = 0;     // total iterations to reach (0: run `epochs` epochs)
  double lr = 2e-4;
  double beta1 = 0.5;
  std::uint64_t seed = 999;
  std::string outf = "out/dcgan";
  std::string device = "cpu";
  std::string conv_backend = "native";
  bool resume = false;
  bool overwrite = false;          // start over in an outf that holds a checkpoint
  std::int64_t sample_every = 100;
  std::int64_t checkpoint_every = 100;
  std::int64_t log_every = 10;     // metrics rows and (on a non-terminal) progress lines
  bool progress = true;
};

struct StepStats {
  double loss_d = 0, loss_g = 0, d_x = 0, d_g_z1 = 0, d_g_z2 = 0;
};

class Trainer {
 public:
  // Validates everything (dataset, image size vs architecture, output directory, checkpoint when
  // resuming) before writing anything; throws strider errors that say what to change.
  explicit Trainer(TrainConfig config);

  // One D step and one G step on a batch of real images (on the CPU; moved to the device).
  StepStats step(const Tensor& real);
  // Trains until the configured iteration/epoch count, printing progress to `out`.
  void run(std::ostream& out);

  void save_checkpoint() const;
  std::int64_t iteration() const { return iteration_; }
  const TrainConfig& config() const { return config_; }
  nn::Sequential& generator() { return *g_; }
  nn::Sequential& discriminator() { return *d_; }
  std::string checkpoint_path() const;

 private:
  void load_checkpoint(const std::string& path);
  void write_samples() const;
  void write_loss_curve() const;
  std::int64_t target_iterations() const;

  TrainConfig config_;
  Device device_;
  std::shared_ptr<Dataset> data_;
  std::unique_ptr<DataLoader> loader_;
  std::shared_ptr<nn::Sequential> g_, d_;
  std::unique_ptr<optim::Adam> opt_g_, opt_d_;
  Generator noise_gen_;
  Tensor fixed_noise_;
  std::int64_t iteration_ = 0;
  std::vector<double> history_d_, history_g_;
};

// Loads a checkpoint's generator (for `dcgan sample`): the config it was trained with and the
// module in eval mode on `device`.
std::shared_ptr<nn::Sequential> load_generator(const std::string& checkpoint, Device device, DcganConfig* config);

// Config fields <-> checkpoint metadata.
std::map<std::string, std::string> config_metadata(const TrainConfig& c);
// The differences between the architecture in `metadata` and `c`, as "ngf: checkpoint 64, now 32".
std::vector<std::string> architecture_mismatches(const std::map<std::string, std::string>& metadata,
                                                 const DcganConfig& c);

}  // namespace strider::models
