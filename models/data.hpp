// Image datasets for the DCGAN demo and a shuffling, resumable batch loader.
//
//   auto data = make_dataset("fashion-mnist", "", /*image_size=*/64, /*channels=*/1);
//   DataLoader loader(data, {.batch_size = 128, .shuffle = true, .seed = 42});
//   Batch b;
//   while (loader.next(b)) { ... b.images ... }             // (128, 1, 64, 64) float32 in [-1, 1]
//   meta = loader.state().to_metadata();                     // into the checkpoint's metadata
//   loader.set_state(DataLoaderState::from_metadata(meta));  // resume: the same batches follow
//
// Every dataset yields images as (C, S, S) float32 in [-1, 1] (byte / 127.5 - 1) with S the
// requested image_size: the centred square of each image is cropped and resized to S x S by
// CropResize (models/image.hpp: bilinear when enlarging, area averaging when shrinking), then
// its channels converted: grey -> RGB repeats the plane, RGB -> grey is the ITU-R 601 luma
// 0.299 R + 0.587 G + 0.114 B (as PIL's convert("L")); the image folder lets stb_image convert.
//
// Sources (make_dataset names):
//   "fashion-mnist"  IDX files, default root /usr/share/datasets/fashion-mnist (Debian package
//                    dataset-fashion-mnist): train-images-idx3-ubyte[.gz] + train-labels
//   "mnist"          IDX files in dataroot (train-images-idx3-ubyte[.gz] or train-images.idx3-ubyte),
//                    or dataroot naming an images IDX file itself
//   "cifar10"        the CIFAR-10 binary version: data_batch_*.bin (3073-byte records: a label
//                    byte, then 32x32 R, G and B planes) in dataroot or dataroot/cifar-10-batches-bin
//   "folder"         every PNG/JPEG/BMP/GIF/TGA/PNM image under dataroot (recursively, sorted
//                    by path; hidden files skipped), decoded with stb_image when read
// IDX files may be gzipped or not (told apart by content); magic numbers, dims and sizes are
// checked, and a truncated or corrupt file is an IoError naming it and the problem. In-memory
// datasets (IDX, CIFAR-10) keep the raw bytes (47 MB for Fashion-MNIST) and resample per image.
//
// Order: epoch e visits the images in a permutation that depends only on (seed, e): a
// Fisher-Yates shuffle driven by Philox4x32-10 (kernels/philox.hpp, key = seed, counters from a
// Generator at offset e << 32). So the state (seed, epoch, position) restores the exact batch
// sequence: bit-identical resume.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <strider/core/tensor.hpp>

namespace strider::models {

struct Batch {
  Tensor images;                      // (N, C, S, S) float32 in [-1, 1], on the CPU
  std::vector<std::int32_t> labels;   // (N,) class labels; -1 where the dataset has none
  std::vector<std::int64_t> indices;  // (N,) the dataset index of each image
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual std::int64_t size() const = 0;
  // One line: what and where, e.g. "fashion-mnist: 60000 28x28 grey images from /usr/share/...".
  virtual std::string describe() const = 0;
  // Writes image `index` as (C, S, S) floats in [-1, 1] to dst (C * S * S floats). Thread-safe.
  virtual void get(std::int64_t index, float* dst) const = 0;
  virtual std::int32_t label(std::int64_t /*index*/) const { return -1; }

  int channels() const { return channels_; }
  int image_size() const { return image_size_; }
  // The images at `indices` as one batch (decoded in parallel).
  Batch batch(const std::vector<std::int64_t>& indices) const;

 protected:
  Dataset(int channels, int image_size);
  void check_index(std::int64_t index) const;

 private:
  int channels_, image_size_;
};

// ---- IDX (MNIST format) --------------------------------------------------------------------

// A parsed IDX file of unsigned bytes (element type 0x08): dims and row-major data.
struct IdxArray {
  std::vector<std::int64_t> dims;
  std::string data;
};
// Reads an IDX file, gunzipping when it is gzip. IoError for a bad magic, an element type other
// than unsigned byte, a truncated file or trailing bytes.
IdxArray read_idx(const std::string& path);
IdxArray parse_idx(const std::string& bytes, const std::string& name);

// Images from an IDX file (N, rows, cols), labels from an optional IDX file (N,) ("" for none).
std::shared_ptr<Dataset> make_idx_dataset(const std::string& images_path, const std::string& labels_path,
                                          int image_size, int channels, const std::string& title = "idx");

// ---- CIFAR-10 ------------------------------------------------------------------------------

// data_batch_*.bin (train) or test_batch.bin (test) in `dir`.
std::shared_ptr<Dataset> make_cifar10_dataset(const std::string& dir, int image_size, int channels, bool train = true);

// ---- image folder ----------------------------------------------------------------------------

// Every image under `dir`. Each file's header is checked when the dataset is made: an unreadable
// image is an IoError naming it, unless skip_unreadable (then it is left out and listed in
// describe()). Pixels are decoded when read; a file that fails then is an IoError naming it.
std::shared_ptr<Dataset> make_folder_dataset(const std::string& dir, int image_size, int channels,
                                             bool skip_unreadable = false);

// ---- factory -------------------------------------------------------------------------------

// The names: "fashion-mnist", "mnist", "cifar10", "folder" (see the top of this file).
// dataroot "" means the default (fashion-mnist only). channels 0 keeps the dataset's own (1 for
// the MNISTs, 3 otherwise); image_size > 0. ValueError for an unknown name (listing the valid
// ones) or bad sizes; IoError for missing or broken files (naming the package or the download).
std::shared_ptr<Dataset> make_dataset(const std::string& name, const std::string& dataroot, int image_size,
                                      int channels = 0, bool skip_unreadable = false);
// The names make_dataset accepts.
std::vector<std::string> dataset_names();
constexpr const char* kFashionMnistRoot = "/usr/share/datasets/fashion-mnist";

// ---- loader ----------------------------------------------------------------------------------

struct DataLoaderOptions {
  std::int64_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = false;  // leave out the last, smaller batch of an epoch
  std::uint64_t seed = 0;
};

// Where a loader is: the next batch starts at `position` in epoch `epoch`'s order.
struct DataLoaderState {
  std::uint64_t seed = 0;
  std::int64_t epoch = 0;
  std::int64_t position = 0;
  std::int64_t dataset_size = 0;  // checked on restore: the order is only valid for this size
  // Keys "data.seed", "data.epoch", "data.position", "data.size" (decimal strings), for a
  // safetensors checkpoint's metadata.
  std::map<std::string, std::string> to_metadata() const;
  // ValueError naming a missing or malformed key.
  static DataLoaderState from_metadata(const std::map<std::string, std::string>& metadata);
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options = {});

  // The next batch of the current epoch into `out`; at the end of the epoch returns false
  // (`out` untouched) and moves to the start of the next epoch.
  bool next(Batch& out);
  std::int64_t batches_per_epoch() const;
  std::int64_t epoch() const { return epoch_; }
  std::int64_t position() const { return position_; }
  const Dataset& dataset() const { return *dataset_; }
  const DataLoaderOptions& options() const { return options_; }

  DataLoaderState state() const;
  // Continues from `s`: ValueError when it was taken with another dataset size or is out of range.
  void set_state(const DataLoaderState& s);
  // The visiting order of `epoch`: a pure function of (seed, epoch, size); identity without shuffle.
  std::vector<std::int64_t> epoch_order(std::int64_t epoch) const;

 private:
  std::shared_ptr<const Dataset> dataset_;
  DataLoaderOptions options_;
  std::int64_t epoch_ = 0, position_ = 0;
  std::int64_t order_epoch_ = -1;  // the epoch `order_` belongs to
  std::vector<std::int64_t> order_;
};

}  // namespace strider::models
