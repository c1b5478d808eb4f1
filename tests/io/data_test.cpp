// models/data: IDX (raw and gzipped, generated and the real Fashion-MNIST), CIFAR-10 batches,
// image folders, the factory's errors, and the loader's order, state and resume.
#include <cmath>
#include <set>

#include <stb_image_write.h>

#include <strider/core/file_io.hpp>
#include <strider/models/data.hpp>
#include <strider/models/image.hpp>

#include "io/io_test_util.hpp"

namespace strider {
namespace {

using testing::IoTest;
using namespace strider::models;
using testing::write_raw;

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}
std::string idx_file(const std::vector<std::uint32_t>& dims, const std::string& data, int type = 0x08) {
  std::string s{'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (auto d : dims) s += be32(d);
  return s + data;
}
// n images of h x w, pixel (i, y, x) = (37 i + 5 y + x) mod 256.
std::string pixels(int n, int h, int w) {
  std::string s;
  for (int i = 0; i < n; ++i)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) s += static_cast<char>((37 * i + 5 * y + x) % 256);
  return s;
}
float unit(int byte) { return static_cast<float>(byte) / 127.5f - 1.0f; }

std::vector<float> get(const Dataset& d, std::int64_t i) {
  std::vector<float> v(static_cast<size_t>(d.channels() * d.image_size() * d.image_size()), NAN);
  d.get(i, v.data());
  return v;
}

class Data : public IoTest {};

// ---- IDX ---------------------------------------------------------------------------------

TEST_F(Data, IdxRawAndGzipParseTheSame) {
  const std::string file = idx_file({3, 4, 5}, pixels(3, 4, 5));
  write_raw(path("raw-idx3-ubyte"), file);
  write_raw(path("gz-idx3-ubyte.gz"), testing::gzip(file));
  for (const char* name : {"raw-idx3-ubyte", "gz-idx3-ubyte.gz"}) {
    const IdxArray a = read_idx(path(name));
    EXPECT_EQ(a.dims, (std::vector<std::int64_t>{3, 4, 5})) << name;
    EXPECT_EQ(a.data, pixels(3, 4, 5)) << name;
  }
}

TEST_F(Data, IdxErrorsNameTheFileAndTheProblem) {
  auto expect = [&](const std::string& bytes, const std::vector<std::string>& parts) {
    write_raw(path("bad-idx"), bytes);
    try {
      (void)read_idx(path("bad-idx"));
      ADD_FAILURE() << "no error; expected: " << parts.front();
    } catch (const IoError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(path("bad-idx")), std::string::npos) << msg;
      for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "lacks \"" << p << "\": " << msg;
    }
  };
  const std::string good = idx_file({2, 3, 3}, pixels(2, 3, 3));
  expect("\x01\x02", {"fewer than the 4-byte magic"});
  expect("\x89PNG\r\n\x1a\n....", {"not an IDX", "two zero bytes"});
  expect(idx_file({2}, std::string(8, '\0'), 0x0D), {"0xd", "float32", "not supported", "0x08"});
  expect(idx_file({2}, std::string(2, '\0'), 0x42), {"not a valid IDX type"});
  expect(good.substr(0, good.size() - 1), {"is truncated", "need 18 bytes", "found 17"});
  expect(good + "xx", {"2 unexpected bytes"});
  expect(good.substr(0, 10), {"is truncated", "16-byte header"});
  expect(idx_file({60000, 28, 28}, "abc"), {"truncated or corrupt"});
  const std::string gz = testing::gzip(good);
  expect(gz.substr(0, gz.size() - 6), {"truncated gzip"});
  std::string bad = gz;
  bad[bad.size() - 7] ^= 1;
  expect(bad, {"corrupt gzip"});
}

TEST_F(Data, MnistFromGeneratedIdxFilesWithLabels) {
  ensure_directory(path("mnist"));
  write_raw(path("mnist/train-images-idx3-ubyte.gz"), testing::gzip(idx_file({3, 4, 4}, pixels(3, 4, 4))));
  write_raw(path("mnist/train-labels-idx1-ubyte"), idx_file({3}, std::string("\x07\x00\x09", 3)));
  const auto d = make_dataset("mnist", path("mnist"), 4, 0);
  EXPECT_EQ(d->size(), 3);
  EXPECT_EQ(d->channels(), 1);
  EXPECT_NE(d->describe().find("mnist: 3 4x4 grey images"), std::string::npos) << d->describe();
  // image_size == stored size: exact byte / 127.5 - 1
  const auto v = get(*d, 2);
  const std::string px = pixels(3, 4, 4);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(v[static_cast<size_t>(i)], unit(static_cast<unsigned char>(px[32 + static_cast<size_t>(i)]))) << i;
  const Batch b = d->batch({2, 0});
  EXPECT_EQ(b.images.shape(), (Shape{2, 1, 4, 4}));
  EXPECT_EQ(b.labels, (std::vector<std::int32_t>{9, 7}));
  EXPECT_EQ(b.images.to_vector<float>()[0], v[0]);
  // grey -> RGB repeats the plane
  const auto rgb = make_dataset("mnist", path("mnist"), 4, 3);
  const auto w = get(*rgb, 2);
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 16; ++i) EXPECT_EQ(w[static_cast<size_t>(c * 16 + i)], v[static_cast<size_t>(i)]);
  // dataroot naming the images file itself; no labels then
  const auto direct = make_dataset("mnist", path("mnist/train-images-idx3-ubyte.gz"), 2, 1);
  EXPECT_EQ(direct->label(0), -1);
  EXPECT_EQ(direct->image_size(), 2);
}

TEST_F(Data, IdxDatasetChecksDimsAndLabelCount) {
  write_raw(path("labels"), idx_file({3}, "abc"));
  write_raw(path("images"), idx_file({3, 2, 2}, pixels(3, 2, 2)));
  write_raw(path("labels2"), idx_file({2}, "ab"));
  STRIDER_EXPECT_THROW_MSG(make_idx_dataset(path("labels"), "", 8, 1), IoError, "3 (count, rows, cols)",
                           "is this the labels file?");
  STRIDER_EXPECT_THROW_MSG(make_idx_dataset(path("images"), path("labels2"), 8, 1), IoError, "expected 3 labels");
}

TEST_F(Data, RealFashionMnist) {
  const std::string images = std::string(kFashionMnistRoot) + "/train-images-idx3-ubyte.gz";
  if (!path_exists(images)) GTEST_SKIP() << "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)";
  const auto d = make_dataset("fashion-mnist", "", 28, 1);
  EXPECT_EQ(d->size(), 60000);
  EXPECT_EQ(d->label(0), 9);  // the first training image is an ankle boot
  EXPECT_EQ(d->label(1), 0);  // then a T-shirt/top
  const IdxArray raw = read_idx(images);
  const auto v = get(*d, 59999);
  for (size_t i = 0; i < 784; ++i)
    ASSERT_EQ(v[i], unit(static_cast<unsigned char>(raw.data[59999 * 784 + i]))) << "pixel " << i;
  const auto big = make_dataset("fashion-mnist", "", 64, 3);
  const Batch b = big->batch({0, 1, 2});
  EXPECT_EQ(b.images.shape(), (Shape{3, 3, 64, 64}));
  EXPECT_LE(b.images.max().item(), 1.0);
  EXPECT_GE(b.images.min().item(), -1.0);
  EXPECT_GT(b.images.max().item(), 0.9);  // not all background
}

TEST_F(Data, FactoryErrors) {
  STRIDER_EXPECT_THROW_MSG(make_dataset("imagenet", "", 64), ValueError, "\"imagenet\"",
                           "fashion-mnist, mnist, cifar10, folder");
  STRIDER_EXPECT_THROW_MSG(make_dataset("mnist", "", 64), ValueError, "needs a dataroot", "train-images-idx3-ubyte");
  STRIDER_EXPECT_THROW_MSG(make_dataset("cifar10", "", 64), ValueError, "needs a dataroot", "data_batch");
  STRIDER_EXPECT_THROW_MSG(make_dataset("fashion-mnist", path("nowhere"), 64), IoError, path("nowhere"),
                           "no train-images-idx3-ubyte", "apt-get install dataset-fashion-mnist" /* via the package name */);
  STRIDER_EXPECT_THROW_MSG(make_dataset("fashion-mnist", "", 0), ValueError, "image_size is 0");
  STRIDER_EXPECT_THROW_MSG(make_dataset("fashion-mnist", "", 64, 2), ValueError, "channels is 2");
  if (!path_exists(kFashionMnistRoot))
    STRIDER_EXPECT_THROW_MSG(make_dataset("fashion-mnist", "", 64), IoError, "apt-get install dataset-fashion-mnist");
}

// ---- CIFAR-10 -------------------------------------------------------------------------------

std::string cifar_record(int label, int seed) {
  std::string r(1, static_cast<char>(label));
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 1024; ++i) r += static_cast<char>((seed + 80 * c + i) % 256);
  return r;
}

TEST_F(Data, Cifar10FromGeneratedBatch) {
  ensure_directory(path("c/cifar-10-batches-bin"));
  write_raw(path("c/cifar-10-batches-bin/data_batch_1.bin"), cifar_record(3, 0) + cifar_record(8, 100));
  write_raw(path("c/cifar-10-batches-bin/test_batch.bin"), cifar_record(1, 7));
  const auto d = make_dataset("cifar10", path("c"), 32, 0);  // finds cifar-10-batches-bin/
  EXPECT_EQ(d->size(), 2);
  EXPECT_EQ(d->channels(), 3);
  EXPECT_EQ(d->label(0), 3);
  EXPECT_EQ(d->label(1), 8);
  const auto v = get(*d, 1);
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 1024; i += 97) EXPECT_EQ(v[static_cast<size_t>(c * 1024 + i)], unit((100 + 80 * c + i) % 256));
  // RGB -> grey: ITU-R 601 luma
  const auto g = make_dataset("cifar10", path("c/cifar-10-batches-bin"), 32, 1);
  const auto gv = get(*g, 1);
  for (int i = 0; i < 1024; i += 101) {
    const float luma = 0.299f * ((100 + i) % 256) + 0.587f * ((180 + i) % 256) + 0.114f * ((260 + i) % 256);
    EXPECT_NEAR(gv[static_cast<size_t>(i)], luma / 127.5f - 1.0f, 1e-5f) << i;
  }
  EXPECT_EQ(make_cifar10_dataset(path("c"), 32, 3, /*train=*/false)->size(), 1);
  EXPECT_EQ(make_dataset("cifar10", path("c"), 16, 3)->batch({0, 1}).images.shape(), (Shape{2, 3, 16, 16}));
}

TEST_F(Data, Cifar10Errors) {
  ensure_directory(path("empty"));
  STRIDER_EXPECT_THROW_MSG(make_dataset("cifar10", path("empty"), 32), IoError, "no CIFAR-10 data_batch_*.bin",
                           "cifar-10-binary.tar.gz");
  STRIDER_EXPECT_THROW_MSG(make_dataset("cifar10", path("missing"), 32), IoError, path("missing"), "does not exist");
  ensure_directory(path("short"));
  write_raw(path("short/data_batch_1.bin"), cifar_record(3, 0).substr(0, 3000));
  STRIDER_EXPECT_THROW_MSG(make_dataset("cifar10", path("short"), 32), IoError, "data_batch_1.bin", "3000 bytes",
                           "3073-byte");
  ensure_directory(path("label"));
  write_raw(path("label/data_batch_1.bin"), cifar_record(3, 0) + cifar_record(12, 0));
  STRIDER_EXPECT_THROW_MSG(make_dataset("cifar10", path("label"), 32), IoError, "record 1 has label 12", "0..9");
}

// ---- image folder ---------------------------------------------------------------------------

void write_png_stb(const std::string& p, int w, int h, int c, int seed) {
  std::vector<unsigned char> px(static_cast<size_t>(w * h * c));
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<unsigned char>((seed + 11 * i) % 256);
  ASSERT_TRUE(stbi_write_png(p.c_str(), w, h, c, px.data(), w * c)) << p;
}

TEST_F(Data, ImageFolderDecodesCropsAndResizes) {
  ensure_directory(path("imgs/sub"));
  ensure_directory(path("imgs/.hidden"));
  write_png_stb(path("imgs/b.png"), 4, 4, 1, 5);      // grey
  write_png_stb(path("imgs/sub/a.PNG"), 6, 4, 3, 9);  // RGB, wider than tall
  write_png_stb(path("imgs/.hidden/x.png"), 4, 4, 3, 0);
  write_png_stb(path("imgs/c.png"), 8, 8, 4, 1);      // RGBA
  write_raw(path("imgs/notes.txt"), "not an image");
  const auto d = make_dataset("folder", path("imgs"), 4, 3);
  ASSERT_EQ(d->size(), 3);
  EXPECT_NE(d->describe().find("3 images"), std::string::npos) << d->describe();
  // sorted by path: b.png, c.png, sub/a.PNG. b.png: grey 4x4 at size 4 -> exact, repeated.
  const auto b = get(*d, 0);
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 16; ++i) EXPECT_EQ(b[static_cast<size_t>(c * 16 + i)], unit((5 + 11 * i) % 256));
  // sub/a.PNG: 6 wide x 4 high -> centre columns 1..4, exact at size 4
  const auto a = get(*d, 2);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 4; ++x)
        EXPECT_EQ(a[static_cast<size_t>(c * 16 + y * 4 + x)], unit((9 + 11 * ((y * 6 + x + 1) * 3 + c)) % 256));
  EXPECT_EQ(d->batch({0, 1, 2}).images.shape(), (Shape{3, 3, 4, 4}));
  EXPECT_EQ(make_dataset("folder", path("imgs"), 8, 1)->channels(), 1);
}

TEST_F(Data, ImageFolderErrors) {
  ensure_directory(path("none"));
  write_raw(path("none/readme.txt"), "x");
  STRIDER_EXPECT_THROW_MSG(make_dataset("folder", path("none"), 64), IoError, path("none"), "holds no images", ".png");
  STRIDER_EXPECT_THROW_MSG(make_dataset("folder", path("missing"), 64), IoError, "does not exist");
  ensure_directory(path("bad"));
  write_png_stb(path("bad/good.png"), 4, 4, 3, 0);
  write_raw(path("bad/broken.png"), "this is not a png");
  STRIDER_EXPECT_THROW_MSG(make_dataset("folder", path("bad"), 8), IoError, path("bad/broken.png"),
                           "skip_unreadable");
  const auto d = make_dataset("folder", path("bad"), 8, 3, /*skip_unreadable=*/true);
  EXPECT_EQ(d->size(), 1);
  EXPECT_NE(d->describe().find("1 unreadable skipped"), std::string::npos) << d->describe();
  // a header that parses but data that does not: an error when read, naming the file
  std::string png = read_file(path("bad/good.png"));
  png.resize(png.size() - 20);
  write_raw(path("bad/good.png"), png);
  STRIDER_EXPECT_THROW_MSG(get(*d, 0), IoError, path("bad/good.png"));
  STRIDER_EXPECT_THROW_MSG(d->batch({0}), IoError, path("bad/good.png"));
}

// ---- loader ------------------------------------------------------------------------------

// n images whose pixels all equal their index (scaled), for checking order and contents.
class CountingDataset final : public Dataset {
 public:
  explicit CountingDataset(std::int64_t n) : Dataset(1, 2), n_(n) {}
  std::int64_t size() const override { return n_; }
  std::string describe() const override { return "counting"; }
  void get(std::int64_t i, float* dst) const override {
    check_index(i);
    for (int k = 0; k < 4; ++k) dst[k] = static_cast<float>(i) + 0.25f * static_cast<float>(k);
  }
  std::int32_t label(std::int64_t i) const override { return static_cast<std::int32_t>(i % 10); }

 private:
  std::int64_t n_;
};

TEST(DataLoader, ShuffleIsASeededPermutationPerEpoch) {
  auto data = std::make_shared<CountingDataset>(1000);
  DataLoader a(data, {.batch_size = 64, .shuffle = true, .seed = 42});
  DataLoader b(data, {.batch_size = 64, .shuffle = true, .seed = 42});
  DataLoader c(data, {.batch_size = 64, .shuffle = true, .seed = 43});
  const auto o0 = a.epoch_order(0), o1 = a.epoch_order(1);
  EXPECT_EQ(std::set<std::int64_t>(o0.begin(), o0.end()).size(), 1000u);
  EXPECT_EQ(*std::min_element(o0.begin(), o0.end()), 0);
  EXPECT_EQ(*std::max_element(o0.begin(), o0.end()), 999);
  EXPECT_EQ(o0, b.epoch_order(0));
  EXPECT_NE(o0, o1);
  EXPECT_NE(o0, c.epoch_order(0));
  int fixed = 0;
  for (int i = 0; i < 1000; ++i) fixed += o0[static_cast<size_t>(i)] == i;
  EXPECT_LT(fixed, 10) << "hardly shuffled";
  DataLoader plain(data, {.batch_size = 64, .shuffle = false});
  EXPECT_EQ(plain.epoch_order(5)[999], 999);
}

TEST(DataLoader, EpochsCoverEveryImageOnceThenReturnFalse) {
  auto data = std::make_shared<CountingDataset>(10);
  DataLoader l(data, {.batch_size = 4, .shuffle = true, .seed = 1});
  EXPECT_EQ(l.batches_per_epoch(), 3);
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::vector<std::int64_t> seen;
    Batch b;
    std::vector<std::int64_t> sizes;
    while (l.next(b)) {
      sizes.push_back(b.images.size(0));
      EXPECT_EQ(b.images.shape(), (Shape{b.images.size(0), 1, 2, 2}));
      const auto v = b.images.to_vector<float>();
      for (size_t i = 0; i < b.indices.size(); ++i) {
        EXPECT_EQ(v[i * 4], static_cast<float>(b.indices[i]));
        EXPECT_EQ(b.labels[i], b.indices[i] % 10);
      }
      seen.insert(seen.end(), b.indices.begin(), b.indices.end());
    }
    EXPECT_EQ(sizes, (std::vector<std::int64_t>{4, 4, 2}));
    EXPECT_EQ(seen, l.epoch_order(epoch));
    EXPECT_EQ(l.epoch(), epoch + 1);
    EXPECT_EQ(l.position(), 0);
  }
  DataLoader dl(data, {.batch_size = 4, .shuffle = false, .drop_last = true});
  Batch b;
  int n = 0;
  while (dl.next(b)) ++n;
  EXPECT_EQ(n, 2);
  EXPECT_EQ(dl.batches_per_epoch(), 2);
  STRIDER_EXPECT_THROW_MSG(DataLoader(data, {.batch_size = 11, .drop_last = true}), ValueError, "drop_last");
  STRIDER_EXPECT_THROW_MSG(DataLoader(data, {.batch_size = 0}), ValueError, "batch_size is 0");
}

TEST(DataLoader, ResumeFromSavedStateIsBitIdentical) {
  auto data = std::make_shared<CountingDataset>(50);
  DataLoader a(data, {.batch_size = 8, .shuffle = true, .seed = 9});
  Batch b;
  for (int i = 0; i < 9; ++i)  // into the second epoch
    if (!a.next(b)) a.next(b);
  const auto meta = a.state().to_metadata();
  EXPECT_EQ(meta.at("data.seed"), "9");
  EXPECT_EQ(meta.at("data.size"), "50");
  std::vector<std::vector<float>> rest_a, rest_b;
  for (int i = 0; i < 12; ++i) {
    if (!a.next(b)) continue;
    rest_a.push_back(b.images.to_vector<float>());
  }
  DataLoader r(data, {.batch_size = 8, .shuffle = true, .seed = 12345});  // seed comes from the state
  r.set_state(DataLoaderState::from_metadata(meta));
  for (int i = 0; i < 12; ++i) {
    if (!r.next(b)) continue;
    rest_b.push_back(b.images.to_vector<float>());
  }
  EXPECT_EQ(rest_a, rest_b);
  EXPECT_EQ(a.state().epoch, r.state().epoch);
  EXPECT_EQ(a.state().position, r.state().position);
}

TEST(DataLoader, StateErrors) {
  auto data = std::make_shared<CountingDataset>(50);
  DataLoader l(data);
  STRIDER_EXPECT_THROW_MSG(l.set_state({1, 0, 0, 60000}), ValueError, "60000", "50", "same dataset");
  STRIDER_EXPECT_THROW_MSG(l.set_state({1, 0, 51, 50}), ValueError, "position 51");
  STRIDER_EXPECT_THROW_MSG(DataLoaderState::from_metadata({{"data.seed", "1"}}), ValueError, "data.epoch");
  STRIDER_EXPECT_THROW_MSG(
      DataLoaderState::from_metadata({{"data.seed", "x1"}, {"data.epoch", "0"}, {"data.position", "0"}, {"data.size", "5"}}),
      ValueError, "\"x1\"");
}

}  // namespace
}  // namespace strider
