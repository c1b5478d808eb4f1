// models/quality: the symmetric eigensolver, the Fréchet distance against closed forms and its
// invariances, the feature classifier (shapes, input conversion, learning, save/load, errors).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <sstream>

#include <strider/core/nn.hpp>
#include <strider/core/serialize.hpp>
#include <strider/layers/optim.hpp>
#include <strider/models/quality.hpp>

#include "common/test_util.hpp"

namespace strider::models {
namespace {

namespace fs = std::filesystem;

std::vector<double> values(const Tensor& t) { return t.to(DType::Float64).to_vector<double>(); }

std::vector<double> random_matrix(int n, std::uint64_t seed) {
  Generator g(seed);
  return Tensor::randn({n, n}, g, DType::Float64).to_vector<double>();
}

// A A^T + shift I: symmetric positive definite.
std::vector<double> random_spd(int n, std::uint64_t seed, double shift = 0.1) {
  const auto a = random_matrix(n, seed);
  std::vector<double> s(static_cast<std::size_t>(n) * n, 0.0);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      for (int k = 0; k < n; ++k) s[i * n + j] += a[i * n + k] * a[j * n + k];
      if (i == j) s[i * n + j] += shift;
    }
  return s;
}

FeatureStats stats(std::vector<double> mean, std::vector<double> cov) {
  FeatureStats s;
  s.dim = static_cast<int>(mean.size());
  s.count = 100;
  s.mean = std::move(mean);
  s.cov = std::move(cov);
  return s;
}

TEST(Quality, SymmetricEigenReconstructsTheMatrix) {
  for (int n : {1, 2, 5, 17, 64}) {
    auto a = random_matrix(n, 100 + n);
    for (int i = 0; i < n; ++i)  // symmetrise
      for (int j = 0; j < i; ++j) a[i * n + j] = a[j * n + i];
    std::vector<double> w, v;
    symmetric_eigen(a, n, w, v);
    ASSERT_EQ(w.size(), static_cast<std::size_t>(n));
    for (int k = 1; k < n; ++k) EXPECT_LE(w[k - 1], w[k]) << "ascending, n " << n;
    double err = 0, orth = 0;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) {
        double r = 0, o = 0;
        for (int k = 0; k < n; ++k) {
          r += v[i * n + k] * w[k] * v[j * n + k];
          o += v[k * n + i] * v[k * n + j];
        }
        err = std::max(err, std::abs(r - a[i * n + j]));
        orth = std::max(orth, std::abs(o - (i == j ? 1.0 : 0.0)));
      }
    EXPECT_LT(err, 1e-9) << "V diag(w) V^T == A, n " << n;
    EXPECT_LT(orth, 1e-12) << "V^T V == I, n " << n;
  }
}

TEST(Quality, FrechetDistanceClosedForms) {
  // 1-D: (m1 - m2)^2 + (sqrt(s1) - sqrt(s2))^2.
  EXPECT_NEAR(frechet_distance(stats({1.5}, {4.0}), stats({-0.5}, {9.0})), 4.0 + 1.0, 1e-12);
  // Diagonal (commuting) covariances: |dm|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
  const std::vector<double> a = {1, 2, 3, 0.5}, b = {4, 0.5, 3, 2};
  std::vector<double> ca(16, 0.0), cb(16, 0.0);
  double expect = 0;
  for (int i = 0; i < 4; ++i) {
    ca[i * 5] = a[i];
    cb[i * 5] = b[i];
    expect += std::pow(std::sqrt(a[i]) - std::sqrt(b[i]), 2);
  }
  expect += 1 + 4;  // means below differ by (1, 0, 2, 0)
  EXPECT_NEAR(frechet_distance(stats({1, 0, 2, 0}, ca), stats({0, 0, 0, 0}, cb)), expect, 1e-10);
  // Identical distributions: 0, also for a singular covariance.
  const auto s = random_spd(12, 3);
  EXPECT_NEAR(frechet_distance(stats(std::vector<double>(12, 0.3), s), stats(std::vector<double>(12, 0.3), s)), 0.0,
              1e-8);
  std::vector<double> singular(9, 1.0);  // rank 1
  EXPECT_NEAR(frechet_distance(stats({0, 0, 0}, singular), stats({0, 0, 0}, singular)), 0.0, 1e-8);
}

TEST(Quality, FrechetDistanceIsSymmetricAndRotationInvariant) {
  // The formula is written asymmetrically (S_a^1/2 S_b S_a^1/2); the distance is not. Non-commuting
  // covariances make this a real check of the square roots.
  const int n = 10;
  const auto sa = random_spd(n, 21), sb = random_spd(n, 22, 0.5);
  Generator g(5);
  const auto ma = Tensor::randn({n}, g, DType::Float64).to_vector<double>();
  const auto mb = Tensor::randn({n}, g, DType::Float64).to_vector<double>();
  const double ab = frechet_distance(stats(ma, sa), stats(mb, sb));
  EXPECT_NEAR(frechet_distance(stats(mb, sb), stats(ma, sa)), ab, 1e-8 * ab);
  EXPECT_GT(ab, 1.0);
  // Q from the eigenvectors of a random symmetric matrix: Q S Q^T, Q m leave the distance alone.
  auto r = random_matrix(n, 23);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < i; ++j) r[i * n + j] = r[j * n + i];
  std::vector<double> w, q;
  symmetric_eigen(r, n, w, q);
  auto rotate = [&](const std::vector<double>& s) {
    std::vector<double> out(n * n, 0.0);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j)
        for (int k = 0; k < n; ++k)
          for (int l = 0; l < n; ++l) out[i * n + j] += q[i * n + k] * s[k * n + l] * q[j * n + l];
    return out;
  };
  auto rotate_v = [&](const std::vector<double>& m) {
    std::vector<double> out(n, 0.0);
    for (int i = 0; i < n; ++i)
      for (int k = 0; k < n; ++k) out[i] += q[i * n + k] * m[k];
    return out;
  };
  EXPECT_NEAR(frechet_distance(stats(rotate_v(ma), rotate(sa)), stats(rotate_v(mb), rotate(sb))), ab, 1e-8 * ab);
  // A mismatch in dimensions is an error, not garbage.
  STRIDER_EXPECT_THROW_MSG(frechet_distance(stats({0}, {1}), stats({0, 0}, {1, 0, 0, 1})), ValueError, "1 and 2");
}

TEST(Quality, FeatureStatsMeanAndUnbiasedCovariance) {
  const Tensor f = Tensor::from_vector(std::vector<double>{1, 2, 3, 6, 5, 10}, {3, 2});
  const FeatureStats s = feature_stats(f);
  EXPECT_EQ(s.count, 3);
  EXPECT_EQ(s.dim, 2);
  EXPECT_DOUBLE_EQ(s.mean[0], 3.0);
  EXPECT_DOUBLE_EQ(s.mean[1], 6.0);
  EXPECT_DOUBLE_EQ(s.cov[0], 4.0);   // ((-2)^2 + 0 + 2^2) / 2
  EXPECT_DOUBLE_EQ(s.cov[1], 8.0);   // ((-2)(-4) + 0 + 2 * 4) / 2
  EXPECT_DOUBLE_EQ(s.cov[2], 8.0);
  EXPECT_DOUBLE_EQ(s.cov[3], 16.0);
  // Samples of N(m, diag(v)): the estimates land near m and v.
  Generator g(9);
  const Tensor big = Tensor::randn({20000, 3}, g, DType::Float64) * Tensor::from_vector(std::vector<double>{1, 2, 3}, {3}, DType::Float64) +
                     Tensor::from_vector(std::vector<double>{-1, 0, 5}, {3}, DType::Float64);
  const FeatureStats b = feature_stats(big);
  EXPECT_NEAR(b.mean[0], -1, 0.05);
  EXPECT_NEAR(b.mean[2], 5, 0.1);
  EXPECT_NEAR(b.cov[0], 1, 0.05);
  EXPECT_NEAR(b.cov[4], 4, 0.2);
  EXPECT_NEAR(b.cov[8], 9, 0.4);
  EXPECT_NEAR(b.cov[1], 0, 0.1);
  STRIDER_EXPECT_THROW_MSG(feature_stats(Tensor::zeros({1, 4})), ShapeError, "N >= 2", "[1, 4]");
}

TEST(Quality, ClassifierShapesAndInputConversion) {
  Generator g(1);
  auto clf = make_classifier(g);
  EXPECT_EQ(clf->path(), "classifier");
  Generator d(2);
  const Tensor grey = Tensor::rand({3, 1, 28, 28}, d, {}, -1, 1);
  const Tensor f = classifier_features(*clf, grey, 2);
  EXPECT_EQ(f.shape(), (Shape{3, kFeatureDim}));
  EXPECT_EQ(classifier_features(*clf, grey, 2, true).shape(), (Shape{3, kClasses}));
  // Batching does not change the result (eval mode).
  clf->eval();
  EXPECT_TRUE(strider::testing::all_close(values(classifier_features(*clf, grey, 1)), values(classifier_features(*clf, grey, 3)), 1e-5, 1e-5));
  // 3 channels: luma; 56x56 -> 28x28 by 2x2 averaging.
  const Tensor rgb = Tensor::rand({2, 3, 56, 56}, d, {}, -1, 1);
  const Tensor x = to_classifier_input(rgb);
  ASSERT_EQ(x.shape(), (Shape{2, 1, 28, 28}));
  const auto in = rgb.to_vector<float>();
  const auto out = x.to_vector<float>();
  auto luma = [&](int n, int y, int xx) {
    auto px = [&](int c) { return in[((n * 3 + c) * 56 + y) * 56 + xx]; };
    return 0.299 * px(0) + 0.587 * px(1) + 0.114 * px(2);
  };
  const double expect = (luma(1, 10, 20) + luma(1, 10, 21) + luma(1, 11, 20) + luma(1, 11, 21)) / 4;
  EXPECT_NEAR(out[(1 * 28 + 5) * 28 + 10], expect, 1e-5);
  STRIDER_EXPECT_THROW_MSG(to_classifier_input(Tensor::zeros({2, 2, 28, 28})), ShapeError, "C = 1 or 3",
                           "[2, 2, 28, 28]");
}

TEST(Quality, ClassifierLearnsAndFeaturesSeparateWhatItLearned) {
  // Two synthetic classes (bright top half vs bright bottom half, with noise): a few Adam steps
  // must separate them, and the Fréchet distance between the classes' features must grow far
  // above the distance between two halves of one class.
  Generator g(3);
  const int n = 64;
  Tensor x = Tensor::rand({n, 1, 28, 28}, g, {}, -1, 0);
  std::vector<float> px = x.to_vector<float>();
  std::vector<std::int32_t> y(n);
  for (int i = 0; i < n; ++i) {
    y[i] = i % 2;
    for (int r = 0; r < 14; ++r)
      for (int c = 0; c < 28; ++c) px[(i * 28 + r + 14 * y[i]) * 28 + c] += 1.0f;
  }
  x = Tensor::from_vector(px, {n, 1, 28, 28});
  Generator init(4);
  auto clf = make_classifier(init);
  optim::Adam opt(clf->parameters(), optim::AdamOptions(1e-3));
  clf->train();
  double first = 0, last = 0;
  for (int step = 0; step < 8; ++step) {
    opt.zero_grad();
    Tensor loss = cross_entropy(clf->forward(x), y);
    loss.backward();
    opt.step();
    (step == 0 ? first : last) = loss.item();
  }
  EXPECT_LT(last, 0.5 * first);
  clf->eval();
  EXPECT_EQ(classifier_accuracy(*clf, x, y), 1.0);
  std::vector<std::int64_t> even, odd;
  const Tensor f = classifier_features(*clf, x);
  std::vector<double> fe, fo;
  const auto fv = f.to_vector<float>();
  for (int i = 0; i < n; ++i) (i % 2 ? fo : fe).insert((i % 2 ? fo : fe).end(), fv.begin() + i * kFeatureDim, fv.begin() + (i + 1) * kFeatureDim);
  const double between = frechet_distance(feature_stats(Tensor::from_vector(fe, {n / 2, kFeatureDim})),
                                          feature_stats(Tensor::from_vector(fo, {n / 2, kFeatureDim})));
  const std::vector<double> fe1(fe.begin(), fe.begin() + (n / 4) * kFeatureDim), fe2(fe.begin() + (n / 4) * kFeatureDim, fe.end());
  const double within = frechet_distance(feature_stats(Tensor::from_vector(fe1, {n / 4, kFeatureDim})),
                                         feature_stats(Tensor::from_vector(fe2, {n / 4, kFeatureDim})));
  EXPECT_GT(between, 3 * within) << "between classes " << between << ", within one class " << within;
}

TEST(Quality, ClassifierSaveLoadRoundTripAndForeignFiles) {
  const fs::path dir = fs::temp_directory_path() / ("strider-quality-test-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  Generator g(5);
  auto clf = make_classifier(g);
  clf->eval();
  const std::string path = (dir / "clf.safetensors").string();
  save_classifier(path, *clf, 0.875);
  double acc = 0;
  auto back = load_classifier(path, &acc);
  EXPECT_EQ(acc, 0.875);
  Generator d(6);
  const Tensor x = Tensor::rand({4, 1, 28, 28}, d, {}, -1, 1);
  EXPECT_TRUE(strider::testing::all_close(values(classifier_features(*clf, x)), values(classifier_features(*back, x)), 0, 0));
  const std::string foreign = (dir / "foreign.safetensors").string();
  save_safetensors(foreign, {{"w", Tensor::zeros({2})}}, {{"format", "something-else"}});
  STRIDER_EXPECT_THROW_MSG(load_classifier(foreign), IoError, "not a strider feature classifier", "dcgan classifier");
  fs::remove_all(dir);
}

TEST(Quality, MissingDatasetSaysWhereAndWhat) {
  STRIDER_EXPECT_THROW_MSG(fashion_mnist_images("/nonexistent-strider-dir", false, 10), IoError,
                           "t10k-images-idx3-ubyte", "/nonexistent-strider-dir");
}

}  // namespace
}  // namespace strider::models
