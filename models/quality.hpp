// Sample quality as a number: the Fréchet distance between the features of generated and real
// images, measured with a small Fashion-MNIST classifier that strider itself trains (the idea of
// FID, Heusel et al. 2017, with this classifier in place of Inception-v3 — so the numbers are
// comparable with each other, not with published FIDs).
//
//   auto clf = models::train_classifier({.epochs = 2}, std::cout);       // ~91% test accuracy
//   models::save_classifier("out/classifier.safetensors", *clf);
//   FeatureStats real = feature_stats(classifier_features(*clf, test_images));
//   FeatureStats fake = feature_stats(classifier_features(*clf, generator_images));
//   double fd = frechet_distance(real, fake);                            // lower is better, 0 = same
//
// The classifier (kClassifierArchitecture): three 3x3/4x4 convolutions with batch norm and ReLU
// (28 -> 28 -> 14 -> 7), a linear layer to kFeatureDim features, ReLU, a linear layer to the 10
// classes. Its features are the kFeatureDim outputs of the first linear layer (before the ReLU).
// Images of another size or with 3 channels are converted to 28x28 grey first (luma, then the
// centre-crop/area resampling of models/image.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include <strider/core/tensor.hpp>
#include <strider/layers/sequential.hpp>

namespace strider::models {

// ---- Fréchet distance --------------------------------------------------------------------------

// Mean and covariance (unbiased, divided by count - 1) of the rows of a feature matrix.
struct FeatureStats {
  std::int64_t count = 0;
  int dim = 0;
  std::vector<double> mean;  // dim
  std::vector<double> cov;   // dim x dim, row-major, symmetric
};
// features: (N, D) on any device, float32 or float64, N >= 2. ShapeError otherwise.
FeatureStats feature_stats(const Tensor& features);

// |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a^1/2 S_b S_a^1/2)^1/2): the Fréchet (2-Wasserstein)
// distance between the Gaussians N(mu_a, S_a) and N(mu_b, S_b). Square roots through symmetric
// eigendecompositions, negative eigenvalues of the (numerically) semi-definite matrices clamped
// to 0. ValueError when the dimensions differ.
double frechet_distance(const FeatureStats& a, const FeatureStats& b);

// Eigen-decomposition of a symmetric n x n matrix (row-major; only symmetric input is meaningful)
// by cyclic Jacobi rotations: values ascending, vectors[i * n + k] = component i of eigenvector k.
void symmetric_eigen(const std::vector<double>& a, int n, std::vector<double>& values, std::vector<double>& vectors);

// ---- the feature classifier -------------------------------------------------------------------

inline constexpr int kClassifierImageSize = 28;
inline constexpr int kFeatureDim = 64;
inline constexpr int kClasses = 10;
extern const char* const kClassifierArchitecture;  // the text-architecture format of dcgan.hpp
inline constexpr const char* kClassifierFormat = "strider-fashion-classifier-v1";

// The classifier (named "classifier"), initialised from `gen` as the layers' defaults do.
std::shared_ptr<nn::Sequential> make_classifier(Generator& gen);

// images (N, C, S, S), C 1 or 3, any S, values in [-1, 1] -> (N, 1, 28, 28) float32 on the CPU.
Tensor to_classifier_input(const Tensor& images);
// Features (N, kFeatureDim) of images (converted by to_classifier_input), in the classifier's
// current mode and on its device, in batches of `batch` images, without autograd. (N, 10) logits
// when `logits` is true.
Tensor classifier_features(nn::Sequential& classifier, const Tensor& images, std::int64_t batch = 500,
                           bool logits = false);

struct ClassifierTrainConfig {
  std::string dataroot;        // Fashion-MNIST IDX files; empty: kFashionMnistRoot
  std::int64_t epochs = 2;
  std::int64_t batch_size = 128;
  double lr = 1e-3;            // Adam
  std::uint64_t seed = 1;
  std::int64_t max_train_images = 0;  // 0: all 60000
};
// Trains on the training set, prints a line per epoch (loss, test accuracy) to `log`, and returns
// the classifier in eval mode (its final test accuracy in *test_accuracy when given). IoError when
// the dataset is missing (naming the package).
std::shared_ptr<nn::Sequential> train_classifier(const ClassifierTrainConfig& config, std::ostream& log,
                                                 double* test_accuracy = nullptr);

// f(start, k) for k = min(batch, n - start) at start = 0, batch, 2 batch, ... under NoGradGuard, each
// result (k, ...) moved to the CPU as float32 and the pieces joined along dim 0 into (n, ...).
Tensor map_batches(std::int64_t n, std::int64_t batch, const std::function<Tensor(std::int64_t, std::int64_t)>& f);

// Top-1 accuracy of the classifier (in its current mode) on images (N, 1, 28, 28) and labels.
double classifier_accuracy(nn::Sequential& classifier, const Tensor& images, const std::vector<std::int32_t>& labels);

// Safetensors with metadata format = kClassifierFormat, test accuracy; written atomically.
void save_classifier(const std::string& path, nn::Sequential& classifier, double test_accuracy);
// IoError when the file is not a strider classifier; returns it in eval mode on the CPU.
std::shared_ptr<nn::Sequential> load_classifier(const std::string& path, double* test_accuracy = nullptr);

// The Fashion-MNIST test (t10k, 10000 images) or training set as (N, 1, 28, 28) in [-1, 1], and
// its labels; the first `limit` images when limit > 0.
Tensor fashion_mnist_images(const std::string& dataroot, bool train, std::int64_t limit,
                            std::vector<std::int32_t>* labels = nullptr);

}  // namespace strider::models
