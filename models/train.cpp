#include <strider/models/train.hpp>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <strider/core/autograd.hpp>
#include <strider/core/file_io.hpp>
#include <strider/core/nn.hpp>
#include <strider/core/ops.hpp>
#include <strider/core/serialize.hpp>
#include <strider/layers/plan.hpp>
#include <strider/models/image.hpp>
#include <strider/models/plot.hpp>

namespace strider::models {

namespace {

constexpr const char* kFormat = "strider-dcgan-checkpoint-v1";
constexpr std::int64_t kFixedNoiseCount = 64;
const std::vector<std::string> kCsvColumns = {"iteration", "epoch", "loss_d", "loss_g", "d_x", "d_g_z1", "d_g_z2",
                                              "images_per_s"};

std::string exact(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string join(const std::string& dir, const std::string& file) { return (std::filesystem::path(dir) / file).string(); }

const std::string& meta_at(const std::map<std::string, std::string>& m, const std::string& key, const std::string& path) {
  auto it = m.find(key);
  STRIDER_CHECK(it != m.end(), IoError,
                path << " is not a complete strider DCGAN checkpoint: its metadata lacks '" << key
                     << "'; it may come from another program or an older strider");
  return it->second;
}

double meta_number(const std::map<std::string, std::string>& m, const std::string& key, const std::string& path) {
  const std::string& s = meta_at(m, key, path);
  try {
    return std::stod(s);
  } catch (const std::logic_error&) {
    STRIDER_THROW(IoError, path << ": metadata '" << key << "' = '" << s << "' is not a number; the file is corrupt");
  }
}

std::string fmt_time(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%02lld:%02lld", s / 60, s % 60);
  return buf;
}

// Plans the models on the sizes the data gives; any failure is the diagnosis of the first
// failing layer (what `dcgan plan` prints too).
void check_architecture(const nn::Sequential& g, const nn::Sequential& d, const DcganConfig& c, std::int64_t batch) {
  const Shape z{batch, c.nz, 1, 1}, img{batch, c.nc, c.image_size, c.image_size};
  const nn::Plan pg = nn::plan(g, z);
  STRIDER_CHECK(pg.ok(), ShapeError, "the generator cannot run on noise of shape " << shape_str(z) << ":\n" << pg.str());
  STRIDER_CHECK(pg.output == img, ShapeError,
                "the generator makes images of shape " << shape_str(pg.output) << " but the data has " << shape_str(img)
                    << " (image size " << c.image_size << ", " << c.nc
                    << " channels): change --image-size or the generator's layers\n"
                    << pg.str());
  const nn::Plan pd = nn::plan(d, img);
  STRIDER_CHECK(pd.ok(), ShapeError, "the discriminator cannot take images of shape " << shape_str(img) << ":\n" << pd.str());
  std::int64_t per_image = 1;
  for (size_t i = 1; i < pd.output.size(); ++i) per_image *= pd.output[i];
  STRIDER_CHECK(per_image == 1, ShapeError,
                "the discriminator gives " << per_image << " values per image (output " << shape_str(pd.output)
                                           << "); it must give one probability per image\n"
                                           << pd.str());
}

nn::NamedTensors with_prefix(const std::map<std::string, Tensor>& all, const std::string& prefix) {
  nn::NamedTensors out;
  for (const auto& [k, v] : all)
    if (k.rfind(prefix, 0) == 0) out.emplace_back(k.substr(prefix.size()), v);
  return out;
}

optim::OptimizerState optimizer_state(const SafetensorsFile& f, const std::string& prefix, const std::string& path) {
  optim::OptimizerState s;
  for (auto& [k, v] : with_prefix(f.tensors, prefix + ".")) s.tensors.emplace_back(k, v);
  const std::string sp = prefix + ".scalar.";
  for (const auto& [k, v] : f.metadata)
    if (k.rfind(sp, 0) == 0) s.scalars.emplace_back(k.substr(sp.size()), meta_number(f.metadata, k, path));
  return s;
}

}  // namespace

std::map<std::string, std::string> config_metadata(const TrainConfig& c) {
  return {{"format", kFormat},
          {"model.image_size", std::to_string(c.model.image_size)},
          {"model.nc", std::to_string(c.model.nc)},
          {"model.nz", std::to_string(c.model.nz)},
          {"model.ngf", std::to_string(c.model.ngf)},
          {"model.ndf", std::to_string(c.model.ndf)},
          {"model.generator_text", c.model.generator_text},
          {"model.discriminator_text", c.model.discriminator_text},
          {"train.dataset", c.dataset},
          {"train.batch_size", std::to_string(c.batch_size)},
          {"train.lr", exact(c.lr)},
          {"train.beta1", exact(c.beta1)},
          {"train.seed", std::to_string(c.seed)}};
}

std::vector<std::string> architecture_mismatches(const std::map<std::string, std::string>& m, const DcganConfig& c) {
  std::vector<std::string> out;
  auto cmp = [&](const char* key, const std::string& now) {
    auto it = m.find(std::string("model.") + key);
    const std::string then = it == m.end() ? "(missing)" : it->second;
    if (then != now) out.push_back(std::string(key) + ": checkpoint " + (then.empty() ? "(recipe)" : then) + ", now " +
                                   (now.empty() ? "(recipe)" : now));
  };
  cmp("image_size", std::to_string(c.image_size));
  cmp("nc", std::to_string(c.nc));
  cmp("nz", std::to_string(c.nz));
  cmp("ngf", std::to_string(c.ngf));
  cmp("ndf", std::to_string(c.ndf));
  cmp("generator_text", c.generator_text);
  cmp("discriminator_text", c.discriminator_text);
  return out;
}

Trainer::Trainer(TrainConfig config) : config_(std::move(config)), device_(Device(config_.device)) {
  const TrainConfig& c = config_;
  STRIDER_CHECK(c.batch_size >= 1, ValueError, "--batch-size " << c.batch_size << " must be >= 1");
  STRIDER_CHECK(c.epochs >= 1 || c.iterations >= 1, ValueError,
                "nothing to train: give --epochs >= 1 or --iterations >= 1");
  STRIDER_CHECK(c.lr > 0 && std::isfinite(c.lr), ValueError, "--lr " << c.lr << " must be a positive number (DCGAN: 0.0002)");
  STRIDER_CHECK(c.beta1 >= 0 && c.beta1 < 1, ValueError, "--beta1 " << c.beta1 << " must be in [0, 1) (DCGAN: 0.5)");
  STRIDER_CHECK(c.sample_every >= 1 && c.checkpoint_every >= 1 && c.log_every >= 1, ValueError,
                "--sample-every, --checkpoint-every and --log-every must be >= 1");
  if (device_.is_cuda()) (void)device_backend(device_);  // a clear DeviceError when there is none
  set_conv_backend(parse_conv_backend(c.conv_backend));

  // Image size 0: the dataset's own (28 for the MNIST family, 32 for CIFAR-10, 64 otherwise).
  if (config_.model.image_size == 0)
    config_.model.image_size = (c.dataset == "fashion-mnist" || c.dataset == "mnist") ? 28 : c.dataset == "cifar10" ? 32 : 64;
  // The data decides the channel count unless --nc was given.
  data_ = make_dataset(c.dataset, c.dataroot, static_cast<int>(c.model.image_size), static_cast<int>(c.model.nc));
  if (config_.model.nc == 0) config_.model.nc = data_->channels();
  STRIDER_CHECK(data_->size() >= 1, IoError, "the dataset " << data_->describe() << " holds no images");

  Generator init_gen(c.seed);
  g_ = make_generator(config_.model, init_gen);
  d_ = make_discriminator(config_.model, init_gen);
  check_architecture(*g_, *d_, config_.model, c.batch_size);

  // The output directory: usable, and not silently overwritten.
  ensure_directory(c.outf);
  const std::string probe = join(c.outf, ".strider-write-test");
  write_file_atomic(probe, "ok");
  std::filesystem::remove(probe);
  if (!c.resume && !c.overwrite && path_exists(checkpoint_path())) {
    STRIDER_THROW(IoError, c.outf << " already holds a checkpoint (" << checkpoint_path()
                                  << "): pass --resume to continue it, --overwrite to start over and replace it, or "
                                     "choose another --outf");
  }

  g_->to(device_);
  d_->to(device_);
  opt_g_ = std::make_unique<optim::Adam>(g_->parameters(), optim::AdamOptions(c.lr).betas(c.beta1, 0.999));
  opt_d_ = std::make_unique<optim::Adam>(d_->parameters(), optim::AdamOptions(c.lr).betas(c.beta1, 0.999));
  noise_gen_ = Generator(c.seed + 1);
  Generator fixed(c.seed + 2);
  fixed_noise_ = Tensor::randn({kFixedNoiseCount, config_.model.nz, 1, 1}, fixed, device_);
  DataLoaderOptions lo;
  lo.batch_size = c.batch_size;
  lo.shuffle = true;
  lo.drop_last = data_->size() >= c.batch_size;
  lo.seed = c.seed;
  loader_ = std::make_unique<DataLoader>(data_, lo);
  if (c.resume) {
    STRIDER_CHECK(path_exists(checkpoint_path()), IoError,
                  "--resume: no checkpoint at " << checkpoint_path() << "; train without --resume first, or point "
                                                                          "--outf at the run to continue");
    load_checkpoint(checkpoint_path());
  }
}

std::string Trainer::checkpoint_path() const { return join(config_.outf, "checkpoint.safetensors"); }

std::int64_t Trainer::target_iterations() const {
  if (config_.iterations > 0) return config_.iterations;
  return config_.epochs * loader_->batches_per_epoch();
}

StepStats Trainer::step(const Tensor& real_cpu) {
  const Tensor real = real_cpu.to(device_);
  const std::int64_t n = real.size(0);
  const TensorOptions opts = real.options();
  const Tensor ones = Tensor::ones({n}, opts), zeros = Tensor::zeros({n}, opts);
  StepStats s;
  // (1) D: maximise log(D(x)) + log(1 - D(G(z))).
  opt_d_->zero_grad();
  const Tensor out_real = d_->forward(real).view({-1});
  Tensor err_real = binary_cross_entropy(out_real, ones);
  err_real.backward();
  const Tensor noise = Tensor::randn({n, config_.model.nz, 1, 1}, noise_gen_, device_);
  const Tensor fake = g_->forward(noise);
  const Tensor out_fake = d_->forward(fake.detach()).view({-1});
  Tensor err_fake = binary_cross_entropy(out_fake, zeros);
  err_fake.backward();
  opt_d_->step();
  // (2) G: maximise log(D(G(z))).
  opt_g_->zero_grad();
  const Tensor out = d_->forward(fake).view({-1});
  Tensor err_g = binary_cross_entropy(out, ones);
  err_g.backward();
  opt_g_->step();
  NoGradGuard ng;
  s.loss_d = err_real.item() + err_fake.item();
  s.loss_g = err_g.item();
  s.d_x = out_real.mean().item();
  s.d_g_z1 = out_fake.mean().item();
  s.d_g_z2 = out.mean().item();
  ++iteration_;
  return s;
}

void Trainer::write_samples() const {
  NoGradGuard ng;
  const Tensor fake = g_->forward(fixed_noise_);
  char name[64];
  std::snprintf(name, sizeof name, "fake_samples_iter_%06lld.png", static_cast<long long>(iteration_));
  save_image_grid(join(config_.outf, name), fake, 8);
  save_image_grid(join(config_.outf, "fake_samples.png"), fake, 8);
}

void Trainer::write_loss_curve() const {
  if (history_d_.empty()) return;
  save_loss_plot(join(config_.outf, "loss_curve.png"), {{"Loss_D", history_d_}, {"Loss_G", history_g_}},
                 "DCGAN training losses (" + describe(config_.model) + ")");
}

void Trainer::run(std::ostream& out) {
  const std::int64_t target = target_iterations();
  const std::int64_t per_epoch = loader_->batches_per_epoch();
  const std::int64_t epochs_total = (target + per_epoch - 1) / per_epoch;
  const bool tty = config_.progress && (&out == &std::cout) && isatty(STDOUT_FILENO);
  out << "strider dcgan: " << describe(config_.model) << " on " << data_->describe() << ", device " << device_
      << ", batch " << config_.batch_size << ", " << target << " iterations (" << per_epoch << " per epoch)";
  if (iteration_ > 0) out << ", resuming at iteration " << iteration_;
  out << "\n  output: " << config_.outf << "/ (fake_samples.png, loss_curve.png, metrics.csv, checkpoint.safetensors)" << std::endl;
  if (iteration_ == 0) {
    Batch first;
    DataLoader peek(data_, loader_->options());
    if (peek.next(first)) {
      const std::int64_t k = std::min<std::int64_t>(first.images.size(0), 64);
      save_image_grid(join(config_.outf, "real_samples.png"), first.images.narrow(0, 0, k), 8);
    }
  }
  CsvWriter csv(join(config_.outf, "metrics.csv"), kCsvColumns);
  const auto start = std::chrono::steady_clock::now();
  const std::int64_t start_iter = iteration_;
  auto last_log = start;
  std::int64_t last_log_iter = iteration_;
  Batch batch;
  while (iteration_ < target) {
    if (!loader_->next(batch)) continue;  // epoch boundary: the loader starts the next epoch
    const StepStats s = step(batch.images);
    history_d_.push_back(s.loss_d);
    history_g_.push_back(s.loss_g);
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - start).count();
    const double rate = static_cast<double>(iteration_ - start_iter) * static_cast<double>(config_.batch_size) / std::max(elapsed, 1e-9);
    const double eta = static_cast<double>(target - iteration_) * elapsed / static_cast<double>(iteration_ - start_iter);
    const std::int64_t epoch = (iteration_ - 1) / per_epoch + 1, in_epoch = (iteration_ - 1) % per_epoch + 1;
    const bool log_now = iteration_ % config_.log_every == 0 || iteration_ == target;
    if (log_now) {
      const double window = std::chrono::duration<double>(now - last_log).count();
      const double window_rate = static_cast<double>(iteration_ - last_log_iter) * static_cast<double>(config_.batch_size) / std::max(window, 1e-9);
      csv.write_row({static_cast<double>(iteration_), static_cast<double>(epoch), s.loss_d, s.loss_g, s.d_x, s.d_g_z1,
                     s.d_g_z2, window_rate});
      last_log = now;
      last_log_iter = iteration_;
    }
    if (config_.progress && (tty || log_now)) {
      std::ostringstream line;
      line << std::fixed << std::setprecision(4) << "[" << epoch << "/" << epochs_total << "][" << in_epoch << "/"
           << per_epoch << "] iter " << iteration_ << "/" << target << "  Loss_D " << s.loss_d << "  Loss_G " << s.loss_g
           << "  D(x) " << s.d_x << "  D(G(z)) " << s.d_g_z1 << " / " << s.d_g_z2 << std::setprecision(1) << "  "
           << rate << " img/s  ETA " << fmt_time(eta);
      if (tty) out << "\r" << line.str() << "\033[K" << std::flush;
      else out << line.str() << std::endl;  // flushed: a log piped through tee shows it now
    }
    if (iteration_ % config_.sample_every == 0 || iteration_ == target) {
      write_samples();
      write_loss_curve();
    }
    if (iteration_ % config_.checkpoint_every == 0 || iteration_ == target) save_checkpoint();
  }
  if (tty) out << "\n";
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out << "done: " << iteration_ - start_iter << " iterations in " << fmt_time(total) << "; samples in " << config_.outf
      << "/fake_samples.png, losses in " << config_.outf << "/loss_curve.png\n";
}

void Trainer::save_checkpoint() const {
  std::map<std::string, Tensor> tensors;
  for (const auto& [k, v] : g_->state_dict()) tensors["generator." + k] = v;
  for (const auto& [k, v] : d_->state_dict()) tensors["discriminator." + k] = v;
  auto meta = config_metadata(config_);
  for (auto [opt, prefix] : {std::pair{opt_g_.get(), "optimizer_g"}, std::pair{opt_d_.get(), "optimizer_d"}}) {
    const optim::OptimizerState st = opt->state_dict();
    for (const auto& [k, v] : st.tensors) tensors[std::string(prefix) + "." + k] = v;
    for (const auto& [k, v] : st.scalars) meta[std::string(prefix) + ".scalar." + k] = exact(v);
  }
  tensors["fixed_noise"] = fixed_noise_;
  meta["iteration"] = std::to_string(iteration_);
  meta["rng.noise.seed"] = std::to_string(noise_gen_.seed());
  meta["rng.noise.offset"] = std::to_string(noise_gen_.offset());
  for (const auto& [k, v] : loader_->state().to_metadata()) meta["data." + k] = v;
  save_safetensors(checkpoint_path(), tensors, meta);
}

void Trainer::load_checkpoint(const std::string& path) {
  const SafetensorsFile f = load_safetensors(path);
  STRIDER_CHECK(f.metadata.count("format") && f.metadata.at("format") == kFormat, IoError,
                path << " is not a strider DCGAN checkpoint (its metadata has no format '" << kFormat
                     << "'); point --outf at a directory written by `dcgan train`");
  const auto diffs = architecture_mismatches(f.metadata, config_.model);
  if (!diffs.empty()) {
    std::ostringstream os;
    for (const auto& d : diffs) os << "\n  " << d;
    STRIDER_THROW(ValueError, path << " was trained with another architecture:" << os.str()
                                   << "\npass the options it was trained with to resume it, or choose another --outf");
  }
  g_->load_state_dict(with_prefix(f.tensors, "generator."));
  d_->load_state_dict(with_prefix(f.tensors, "discriminator."));
  opt_g_->load_state_dict(optimizer_state(f, "optimizer_g", path));
  opt_d_->load_state_dict(optimizer_state(f, "optimizer_d", path));
  auto noise = f.tensors.find("fixed_noise");
  STRIDER_CHECK(noise != f.tensors.end(), IoError, path << " lacks the 'fixed_noise' tensor; the file is incomplete");
  fixed_noise_ = noise->second.to(device_);
  iteration_ = static_cast<std::int64_t>(meta_number(f.metadata, "iteration", path));
  noise_gen_.set_state(std::stoull(meta_at(f.metadata, "rng.noise.seed", path)),
                       std::stoull(meta_at(f.metadata, "rng.noise.offset", path)));
  std::map<std::string, std::string> data_meta;
  for (const auto& [k, v] : f.metadata)
    if (k.rfind("data.", 0) == 0) data_meta[k.substr(5)] = v;
  loader_->set_state(DataLoaderState::from_metadata(data_meta));
  // The loss history up to the checkpoint, from metrics.csv (rows after it belong to a run that
  // was cut off and are dropped, atomically).
  const std::string csv_path = join(config_.outf, "metrics.csv");
  if (path_exists(csv_path)) {
    std::istringstream in(read_file(csv_path));
    std::string line, kept;
    std::getline(in, line);
    kept = line + "\n";
    while (std::getline(in, line)) {
      const double it = std::atof(line.c_str());
      if (it > static_cast<double>(iteration_)) continue;
      kept += line + "\n";
      std::istringstream fields(line);
      std::string field;
      std::vector<double> v;
      while (std::getline(fields, field, ',')) v.push_back(std::atof(field.c_str()));
      if (v.size() >= 4) {
        history_d_.push_back(v[2]);
        history_g_.push_back(v[3]);
      }
    }
    write_file_atomic(csv_path, kept);
  }
}

std::shared_ptr<nn::Sequential> load_generator(const std::string& checkpoint, Device device, DcganConfig* config) {
  const SafetensorsFile f = load_safetensors(checkpoint);
  STRIDER_CHECK(f.metadata.count("format") && f.metadata.at("format") == kFormat, IoError,
                checkpoint << " is not a strider DCGAN checkpoint (no format '" << kFormat << "' in its metadata)");
  DcganConfig c;
  c.image_size = static_cast<std::int64_t>(meta_number(f.metadata, "model.image_size", checkpoint));
  c.nc = static_cast<std::int64_t>(meta_number(f.metadata, "model.nc", checkpoint));
  c.nz = static_cast<std::int64_t>(meta_number(f.metadata, "model.nz", checkpoint));
  c.ngf = static_cast<std::int64_t>(meta_number(f.metadata, "model.ngf", checkpoint));
  c.ndf = static_cast<std::int64_t>(meta_number(f.metadata, "model.ndf", checkpoint));
  c.generator_text = meta_at(f.metadata, "model.generator_text", checkpoint);
  c.discriminator_text = meta_at(f.metadata, "model.discriminator_text", checkpoint);
  Generator gen(0);
  auto g = make_generator(c, gen);
  g->load_state_dict(with_prefix(f.tensors, "generator."));
  g->to(device);
  g->eval();
  if (config) *config = c;
  return g;
}

}  // namespace strider::models
