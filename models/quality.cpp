#include <strider/models/quality.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <map>
#include <ostream>
#include <sstream>

#include <strider/core/autograd.hpp>
#include <strider/core/error.hpp>
#include <strider/core/nn.hpp>
#include <strider/core/ops.hpp>
#include <strider/core/random.hpp>
#include <strider/core/serialize.hpp>
#include <strider/layers/conv.hpp>
#include <strider/layers/linear.hpp>
#include <strider/layers/optim.hpp>
#include <strider/models/data.hpp>
#include <strider/models/dcgan.hpp>
#include <strider/models/image.hpp>

namespace strider::models {

// ---- Fréchet distance --------------------------------------------------------------------------

FeatureStats feature_stats(const Tensor& features) {
  STRIDER_CHECK(features.defined() && features.dim() == 2 && features.size(0) >= 2 && features.size(1) >= 1,
                ShapeError,
                "feature_stats: features must be (N, D) with N >= 2 rows; got "
                    << (features.defined() ? shape_str(features.shape()) : std::string("an undefined tensor")));
  const Tensor f = features.detach().to(Device::cpu(), DType::Float64).contiguous();
  const std::int64_t n = f.size(0);
  const int d = static_cast<int>(f.size(1));
  const double* x = static_cast<const double*>(f.data_ptr());
  FeatureStats s;
  s.count = n;
  s.dim = d;
  s.mean.assign(static_cast<std::size_t>(d), 0.0);
  s.cov.assign(static_cast<std::size_t>(d) * d, 0.0);
  for (std::int64_t r = 0; r < n; ++r)
    for (int i = 0; i < d; ++i) s.mean[i] += x[r * d + i];
  for (double& m : s.mean) m /= static_cast<double>(n);
  std::vector<double> c(static_cast<std::size_t>(d));
  for (std::int64_t r = 0; r < n; ++r) {
    for (int i = 0; i < d; ++i) c[i] = x[r * d + i] - s.mean[i];
    for (int i = 0; i < d; ++i)
      for (int j = i; j < d; ++j) s.cov[static_cast<std::size_t>(i) * d + j] += c[i] * c[j];
  }
  for (int i = 0; i < d; ++i)
    for (int j = i; j < d; ++j) {
      double& v = s.cov[static_cast<std::size_t>(i) * d + j];
      v /= static_cast<double>(n - 1);
      s.cov[static_cast<std::size_t>(j) * d + i] = v;
    }
  return s;
}

void symmetric_eigen(const std::vector<double>& a_in, int n, std::vector<double>& values,
                     std::vector<double>& vectors) {
  STRIDER_CHECK(n >= 1 && a_in.size() == static_cast<std::size_t>(n) * n, ShapeError,
                "symmetric_eigen: a has " << a_in.size() << " entries, not n * n = " << n << " * " << n);
  const auto N = static_cast<std::size_t>(n);
  std::vector<double> a = a_in;
  vectors.assign(N * N, 0.0);
  for (std::size_t i = 0; i < N; ++i) vectors[i * N + i] = 1.0;
  // Cyclic Jacobi: each rotation zeroes a[p][q]; converges quadratically, ~6-10 sweeps for n = 64.
  double scale = 0;
  for (double v : a) scale = std::max(scale, std::abs(v));
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0;
    for (std::size_t p = 0; p < N; ++p)
      for (std::size_t q = p + 1; q < N; ++q) off += a[p * N + q] * a[p * N + q];
    if (off <= 1e-30 * scale * scale * static_cast<double>(N * N) || off == 0) break;
    for (std::size_t p = 0; p < N; ++p)
      for (std::size_t q = p + 1; q < N; ++q) {
        const double apq = a[p * N + q];
        if (std::abs(apq) <= 1e-300) continue;
        const double theta = (a[q * N + q] - a[p * N + p]) / (2 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (std::size_t k = 0; k < N; ++k) {  // columns p, q
          const double akp = a[k * N + p], akq = a[k * N + q];
          a[k * N + p] = c * akp - s * akq;
          a[k * N + q] = s * akp + c * akq;
        }
        for (std::size_t k = 0; k < N; ++k) {  // rows p, q
          const double apk = a[p * N + k], aqk = a[q * N + k];
          a[p * N + k] = c * apk - s * aqk;
          a[q * N + k] = s * apk + c * aqk;
        }
        for (std::size_t k = 0; k < N; ++k) {
          const double vkp = vectors[k * N + p], vkq = vectors[k * N + q];
          vectors[k * N + p] = c * vkp - s * vkq;
          vectors[k * N + q] = s * vkp + c * vkq;
        }
      }
  }
  // Sort ascending, permuting the eigenvector columns alike.
  std::vector<std::size_t> order(N);
  for (std::size_t i = 0; i < N; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return a[x * N + x] < a[y * N + y]; });
  values.resize(N);
  std::vector<double> sorted(N * N);
  for (std::size_t k = 0; k < N; ++k) {
    values[k] = a[order[k] * N + order[k]];
    for (std::size_t i = 0; i < N; ++i) sorted[i * N + k] = vectors[i * N + order[k]];
  }
  vectors = std::move(sorted);
}

namespace {

// V diag(f(values)) V^T for the symmetric matrix m.
std::vector<double> symmetric_function(const std::vector<double>& m, int n, double (*f)(double)) {
  std::vector<double> w, v;
  symmetric_eigen(m, n, w, v);
  const auto N = static_cast<std::size_t>(n);
  std::vector<double> out(N * N, 0.0);
  for (std::size_t k = 0; k < N; ++k) {
    const double fk = f(w[k]);
    for (std::size_t i = 0; i < N; ++i)
      for (std::size_t j = 0; j < N; ++j) out[i * N + j] += v[i * N + k] * fk * v[j * N + k];
  }
  return out;
}

std::vector<double> matmul_square(const std::vector<double>& a, const std::vector<double>& b, std::size_t n) {
  std::vector<double> c(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t k = 0; k < n; ++k) {
      const double aik = a[i * n + k];
      for (std::size_t j = 0; j < n; ++j) c[i * n + j] += aik * b[k * n + j];
    }
  return c;
}

double sqrt_clamped(double x) { return std::sqrt(std::max(x, 0.0)); }

}  // namespace

double frechet_distance(const FeatureStats& a, const FeatureStats& b) {
  STRIDER_CHECK(a.dim == b.dim && a.dim >= 1, ValueError,
                "frechet_distance: the feature sets have " << a.dim << " and " << b.dim
                                                           << " dimensions; compare features of the same classifier");
  const int n = a.dim;
  const auto N = static_cast<std::size_t>(n);
  double d2 = 0, tr = 0;
  for (std::size_t i = 0; i < N; ++i) {
    d2 += (a.mean[i] - b.mean[i]) * (a.mean[i] - b.mean[i]);
    tr += a.cov[i * N + i] + b.cov[i * N + i];
  }
  // tr sqrt(S_a S_b) = tr sqrt(S_a^1/2 S_b S_a^1/2), the latter symmetric semi-definite.
  const std::vector<double> ra = symmetric_function(a.cov, n, sqrt_clamped);
  std::vector<double> m = matmul_square(matmul_square(ra, b.cov, N), ra, N);
  for (std::size_t i = 0; i < N; ++i)  // symmetrise away rounding
    for (std::size_t j = i + 1; j < N; ++j) m[i * N + j] = m[j * N + i] = 0.5 * (m[i * N + j] + m[j * N + i]);
  std::vector<double> w, v;
  symmetric_eigen(m, n, w, v);
  double tr_sqrt = 0;
  for (double x : w) tr_sqrt += sqrt_clamped(x);
  return std::max(0.0, d2 + tr - 2 * tr_sqrt);
}

// ---- the feature classifier -------------------------------------------------------------------

const char* const kClassifierArchitecture =
    "conv 1->32 k3 s1 p1; bn; relu;"
    "conv 32->64 k4 s2 p1; bn; relu;"
    "conv 64->64 k4 s2 p1; bn; relu;"
    "flatten; linear 3136->64 bias; relu; linear 64->10 bias";

std::shared_ptr<nn::Sequential> make_classifier(Generator& gen) {
  // parse_architecture initialises with the layers' defaults from the default generator; re-draw
  // everything from `gen` so that the classifier depends on the seed alone.
  auto c = parse_architecture(kClassifierArchitecture, "classifier");
  for (const auto& [name, m] : c->named_modules()) {
    if (auto conv = std::dynamic_pointer_cast<const nn::Conv2d>(m)) {
      std::const_pointer_cast<nn::Conv2d>(conv)->reset_parameters(gen);
    } else if (auto lin = std::dynamic_pointer_cast<const nn::Linear>(m)) {
      std::const_pointer_cast<nn::Linear>(lin)->reset_parameters(gen);
    }
  }
  return c;
}

Tensor to_classifier_input(const Tensor& images) {
  STRIDER_CHECK(images.defined() && images.dim() == 4 && (images.size(1) == 1 || images.size(1) == 3) &&
                    images.size(2) >= 1 && images.size(3) >= 1,
                ShapeError,
                "the feature classifier takes images (N, C, H, W) with C = 1 or 3; got "
                    << (images.defined() ? shape_str(images.shape()) : std::string("an undefined tensor")));
  Tensor x = images.detach().to(Device::cpu(), DType::Float32).contiguous();
  const std::int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  if (c == 3) {  // ITU-R 601 luma, as the datasets convert RGB to grey
    std::vector<float> grey(static_cast<std::size_t>(n * h * w));
    const float* p = static_cast<const float*>(x.data_ptr());
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t k = 0; k < h * w; ++k)
        grey[static_cast<std::size_t>(i * h * w + k)] =
            0.299f * p[(i * 3 + 0) * h * w + k] + 0.587f * p[(i * 3 + 1) * h * w + k] + 0.114f * p[(i * 3 + 2) * h * w + k];
    x = Tensor::from_vector(grey, {n, 1, h, w});
  }
  if (h == kClassifierImageSize && w == kClassifierImageSize) return x;
  const CropResize resize(static_cast<int>(h), static_cast<int>(w), kClassifierImageSize);
  constexpr std::int64_t S = kClassifierImageSize;
  Tensor out = Tensor::empty({n, 1, S, S});
  const float* src = static_cast<const float*>(x.data_ptr());
  float* dst = static_cast<float*>(out.data_ptr());
  for (std::int64_t i = 0; i < n; ++i) resize.apply(src + i * h * w, 1, dst + i * S * S);
  return out;
}

Tensor map_batches(std::int64_t n, std::int64_t batch, const std::function<Tensor(std::int64_t, std::int64_t)>& f) {
  STRIDER_CHECK(batch >= 1 && n >= 1, ValueError, "map_batches: " << n << " items in batches of " << batch
                                                                   << "; both must be >= 1");
  NoGradGuard ng;
  std::vector<float> all;
  Shape shape;
  for (std::int64_t s = 0; s < n; s += batch) {
    const Tensor piece = f(s, std::min(batch, n - s)).to(Device::cpu(), DType::Float32).contiguous();
    shape = piece.shape();
    const float* p = static_cast<const float*>(piece.data_ptr());
    all.insert(all.end(), p, p + piece.numel());
  }
  shape[0] = n;
  return Tensor::from_vector(all, shape);
}

Tensor classifier_features(nn::Sequential& classifier, const Tensor& images, std::int64_t batch, bool logits) {
  const Tensor x = to_classifier_input(images);
  const std::size_t stop = logits ? classifier.size() : classifier.size() - 2;  // before the last ReLU + linear
  const Device dev = classifier.parameters().front().device();
  return map_batches(x.size(0), batch, [&](std::int64_t s, std::int64_t k) {
    Tensor h = x.narrow(0, s, k).to(dev);
    for (std::size_t i = 0; i < stop; ++i) h = classifier[i]->forward(h);
    return h;
  });
}

Tensor fashion_mnist_images(const std::string& dataroot, bool train, std::int64_t limit,
                            std::vector<std::int32_t>* labels) {
  namespace fs = std::filesystem;
  const std::string root = dataroot.empty() ? kFashionMnistRoot : dataroot;
  const std::string stem = train ? "train" : "t10k";
  auto find = [&](const std::string& base) {
    for (const std::string& name : {base + ".gz", base}) {
      const fs::path p = fs::path(root) / name;
      if (fs::is_regular_file(p)) return p.string();
    }
    STRIDER_THROW(IoError, "no " << base << "[.gz] in " << root
                                 << (dataroot.empty() ? " (install Fashion-MNIST with `apt-get install dataset-fashion-mnist`)"
                                                      : " (the dataroot must hold the Fashion-MNIST IDX files)"));
  };
  const std::string images = find(stem + "-images-idx3-ubyte");  // named first when both are missing
  const std::string labels_path = find(stem + "-labels-idx1-ubyte");
  const auto data = make_idx_dataset(images, labels_path,
                                     kClassifierImageSize, 1, "fashion-mnist " + stem);
  const std::int64_t n = limit > 0 ? std::min(limit, data->size()) : data->size();
  std::vector<std::int64_t> idx(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) idx[static_cast<std::size_t>(i)] = i;
  Batch b = data->batch(idx);
  if (labels) *labels = b.labels;
  return b.images;
}

double classifier_accuracy(nn::Sequential& classifier, const Tensor& images, const std::vector<std::int32_t>& labels) {
  const Tensor logits = classifier_features(classifier, images, 500, /*logits=*/true).contiguous();
  STRIDER_CHECK(logits.size(0) == static_cast<std::int64_t>(labels.size()), ShapeError,
                "classifier_accuracy: " << logits.size(0) << " images but " << labels.size() << " labels");
  const float* p = static_cast<const float*>(logits.data_ptr());
  const std::int64_t c = logits.size(1);
  std::int64_t right = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const float* row = p + static_cast<std::int64_t>(i) * c;
    right += (std::max_element(row, row + c) - row) == labels[i];
  }
  return labels.empty() ? 0.0 : static_cast<double>(right) / static_cast<double>(labels.size());
}

std::shared_ptr<nn::Sequential> train_classifier(const ClassifierTrainConfig& config, std::ostream& log,
                                                 double* test_accuracy) {
  STRIDER_CHECK(config.epochs >= 1 && config.batch_size >= 1 && config.lr > 0, ValueError,
                "train_classifier: epochs " << config.epochs << ", batch size " << config.batch_size << ", lr "
                                            << config.lr << "; each must be positive");
  std::vector<std::int32_t> train_labels, test_labels;
  const Tensor train = fashion_mnist_images(config.dataroot, true, config.max_train_images, &train_labels);
  const Tensor test = fashion_mnist_images(config.dataroot, false, 0, &test_labels);
  Generator gen(config.seed);
  auto clf = make_classifier(gen);
  clf->train();
  optim::Adam opt(clf->parameters(), optim::AdamOptions(config.lr));
  const std::int64_t n = train.size(0);
  const auto start = std::chrono::steady_clock::now();
  for (std::int64_t e = 0; e < config.epochs; ++e) {
    // A seeded permutation per epoch (Fisher-Yates on Philox draws).
    std::vector<std::int64_t> order(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
    const Tensor u = Tensor::rand({n}, gen, TensorOptions(DType::Float64));
    const double* r = static_cast<const double*>(u.data_ptr());
    for (std::int64_t i = n - 1; i > 0; --i)
      std::swap(order[static_cast<std::size_t>(i)],
                order[static_cast<std::size_t>(std::min<std::int64_t>(i, static_cast<std::int64_t>(r[i] * (i + 1))))]);
    double loss_sum = 0;
    std::int64_t batches = 0;
    const std::int64_t s = train.size(2);
    for (std::int64_t b = 0; b + config.batch_size <= n; b += config.batch_size) {  // drop_last
      std::vector<float> xb(static_cast<std::size_t>(config.batch_size * s * s));
      std::vector<std::int32_t> yb(static_cast<std::size_t>(config.batch_size));
      const float* src = static_cast<const float*>(train.data_ptr());
      for (std::int64_t i = 0; i < config.batch_size; ++i) {
        const std::int64_t k = order[static_cast<std::size_t>(b + i)];
        std::copy(src + k * s * s, src + (k + 1) * s * s, xb.begin() + i * s * s);
        yb[static_cast<std::size_t>(i)] = train_labels[static_cast<std::size_t>(k)];
      }
      opt.zero_grad();
      Tensor loss = cross_entropy(clf->forward(Tensor::from_vector(xb, {config.batch_size, 1, s, s})), yb);
      loss.backward();
      opt.step();
      loss_sum += loss.item();
      ++batches;
    }
    clf->eval();
    const double acc = classifier_accuracy(*clf, test, test_labels);
    if (test_accuracy) *test_accuracy = acc;
    clf->train();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    log << "classifier epoch " << e + 1 << "/" << config.epochs << ": loss " << std::fixed << std::setprecision(4)
        << (batches ? loss_sum / static_cast<double>(batches) : 0.0) << ", test accuracy " << std::setprecision(2)
        << 100 * acc << "%, " << std::setprecision(0) << secs << " s" << std::defaultfloat << std::setprecision(6)
        << std::endl;
  }
  clf->eval();
  return clf;
}

void save_classifier(const std::string& path, nn::Sequential& classifier, double test_accuracy) {
  std::map<std::string, Tensor> tensors;
  for (const auto& [name, t] : classifier.state_dict()) tensors.emplace(name, t);
  std::ostringstream acc;
  acc << std::setprecision(17) << test_accuracy;
  save_safetensors(path, tensors,
                   {{"format", kClassifierFormat}, {"architecture", kClassifierArchitecture}, {"test_accuracy", acc.str()}});
}

std::shared_ptr<nn::Sequential> load_classifier(const std::string& path, double* test_accuracy) {
  const SafetensorsFile f = load_safetensors(path);
  auto fmt = f.metadata.find("format");
  STRIDER_CHECK(fmt != f.metadata.end() && fmt->second == kClassifierFormat, IoError,
                path << " is not a strider feature classifier (no format '" << kClassifierFormat
                     << "' in its metadata); make one with `dcgan classifier --output " << path << "`");
  Generator gen(0);
  auto clf = make_classifier(gen);
  nn::NamedTensors state(f.tensors.begin(), f.tensors.end());
  clf->load_state_dict(state);
  clf->eval();
  if (test_accuracy) {
    auto a = f.metadata.find("test_accuracy");
    *test_accuracy = a == f.metadata.end() ? 0.0 : std::stod(a->second);
  }
  return clf;
}

}  // namespace strider::models
