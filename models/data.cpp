#include <strider/models/data.hpp>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <exception>
#include <filesystem>
#include <sstream>

#include <strider/core/error.hpp>
#include <strider/core/file_io.hpp>
#include <strider/core/random.hpp>
#include <strider/kernels/philox.hpp>
#include <strider/models/image.hpp>

namespace strider::models {
namespace fs = std::filesystem;

namespace {

// byte in [0, 255] -> [-1, 1]
inline float to_unit(float v) { return v / 127.5f - 1.0f; }

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += sep;
    out += v[i];
  }
  return out;
}

// Images held in memory as raw bytes, planar: (N, C0, H, W) row-major.
class RawDataset final : public Dataset {
 public:
  RawDataset(std::string raw, std::int64_t n, int src_channels, int h, int w, std::vector<std::int32_t> labels,
             int channels, int image_size, std::string description)
      : Dataset(channels, image_size),
        raw_(std::move(raw)),
        n_(n),
        src_c_(src_channels),
        h_(h),
        w_(w),
        labels_(std::move(labels)),
        resize_(h, w, image_size),
        description_(std::move(description)) {}

  std::int64_t size() const override { return n_; }
  std::string describe() const override { return description_; }
  std::int32_t label(std::int64_t index) const override {
    check_index(index);
    return labels_.empty() ? -1 : labels_[static_cast<size_t>(index)];
  }

  void get(std::int64_t index, float* dst) const override {
    check_index(index);
    const auto plane = static_cast<size_t>(h_) * static_cast<size_t>(w_);
    const auto out = static_cast<size_t>(image_size()) * static_cast<size_t>(image_size());
    const auto* src = reinterpret_cast<const std::uint8_t*>(raw_.data()) + static_cast<size_t>(index) * src_c_ * plane;
    if (src_c_ == channels()) {
      for (int c = 0; c < src_c_; ++c) resize_.apply(src + c * plane, 1, dst + c * out);
      for (size_t i = 0; i < out * static_cast<size_t>(src_c_); ++i) dst[i] = to_unit(dst[i]);
    } else if (src_c_ == 1) {  // grey -> RGB: repeat the plane
      resize_.apply(src, 1, dst);
      for (size_t i = 0; i < out; ++i) dst[i] = to_unit(dst[i]);
      std::copy(dst, dst + out, dst + out);
      std::copy(dst, dst + out, dst + 2 * out);
    } else {  // RGB -> grey: ITU-R 601 luma
      std::vector<float> rgb(3 * out);
      for (int c = 0; c < 3; ++c) resize_.apply(src + c * plane, 1, rgb.data() + c * out);
      for (size_t i = 0; i < out; ++i)
        dst[i] = to_unit(0.299f * rgb[i] + 0.587f * rgb[out + i] + 0.114f * rgb[2 * out + i]);
    }
  }

 private:
  std::string raw_;
  std::int64_t n_;
  int src_c_, h_, w_;
  std::vector<std::int32_t> labels_;
  CropResize resize_;
  std::string description_;
};

class FolderDataset final : public Dataset {
 public:
  FolderDataset(std::vector<std::string> files, int channels, int image_size, std::string description)
      : Dataset(channels, image_size), files_(std::move(files)), description_(std::move(description)) {}
  std::int64_t size() const override { return static_cast<std::int64_t>(files_.size()); }
  std::string describe() const override { return description_; }
  void get(std::int64_t index, float* dst) const override {
    check_index(index);
    const Image img = read_image(files_[static_cast<size_t>(index)], channels());
    const CropResize resize(img.height, img.width, image_size());
    const auto out = static_cast<size_t>(image_size()) * static_cast<size_t>(image_size());
    for (int c = 0; c < channels(); ++c) resize.apply(img.pixels.data() + c, channels(), dst + c * out);
    for (size_t i = 0; i < out * static_cast<size_t>(channels()); ++i) dst[i] = to_unit(dst[i]);
  }

 private:
  std::vector<std::string> files_;
  std::string description_;
};

std::uint32_t read_be32(const std::string& b, size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(b.data() + at);
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

const char* idx_type_name(int t) {
  switch (t) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return nullptr;
  }
}

bool is_dir(const std::string& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}
bool is_file(const std::string& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

int resolve_channels(int channels, int native) { return channels == 0 ? native : channels; }

// The first of `names` that exists in `dir`, or "".
std::string find_in(const std::string& dir, const std::vector<std::string>& names) {
  for (const auto& n : names)
    if (path_exists(dir + "/" + n)) return dir + "/" + n;
  return "";
}

std::vector<std::string> idx_names(const std::string& stem, const std::string& kind) {
  // train-images-idx3-ubyte (Fashion-MNIST, MNIST downloads) and train-images.idx3-ubyte (some copies)
  return {stem + "-" + kind + ".gz", stem + "-" + kind, stem + "." + kind, stem + "." + kind + ".gz"};
}

}  // namespace

// ---- Dataset -------------------------------------------------------------------------------

Dataset::Dataset(int channels, int image_size) : channels_(channels), image_size_(image_size) {
  STRIDER_CHECK(channels == 1 || channels == 3, ValueError,
                "dataset channels is " << channels << "; use 1 (grey), 3 (RGB) or 0 (the dataset's own)");
  STRIDER_CHECK(image_size >= 1 && image_size <= 4096, ValueError,
                "dataset image_size is " << image_size << "; use a size in [1, 4096], e.g. 64 for DCGAN");
}

void Dataset::check_index(std::int64_t index) const {
  STRIDER_CHECK(index >= 0 && index < size(), IndexError,
                "image index " << index << " is out of range for a dataset of " << size() << " images");
}

Batch Dataset::batch(const std::vector<std::int64_t>& indices) const {
  const auto n = static_cast<std::int64_t>(indices.size());
  const std::int64_t per = std::int64_t{channels_} * image_size_ * image_size_;
  Batch b;
  b.images = Tensor::empty({n, channels_, image_size_, image_size_});
  b.labels.resize(indices.size());
  b.indices = indices;
  float* dst = b.images.data<float>();
  std::exception_ptr error;
#pragma omp parallel for schedule(dynamic, 4)
  for (std::int64_t i = 0; i < n; ++i) {
    try {
      get(indices[static_cast<size_t>(i)], dst + i * per);
      b.labels[static_cast<size_t>(i)] = label(indices[static_cast<size_t>(i)]);
    } catch (...) {
#pragma omp critical(strider_dataset_batch)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  return b;
}

// ---- IDX -----------------------------------------------------------------------------------

IdxArray parse_idx(const std::string& bytes, const std::string& name) {
  STRIDER_CHECK(bytes.size() >= 4, IoError,
                name << " is not an IDX file: it has " << bytes.size() << " bytes, fewer than the 4-byte magic number");
  STRIDER_CHECK(bytes[0] == 0 && bytes[1] == 0, IoError,
                name << " is not an IDX (MNIST-format) file: its magic number must start with two zero bytes, found 0x"
                     << std::hex << (static_cast<unsigned>(static_cast<unsigned char>(bytes[0])) << 8 |
                                     static_cast<unsigned char>(bytes[1])));
  const int type = static_cast<unsigned char>(bytes[2]);
  const int ndim = static_cast<unsigned char>(bytes[3]);
  if (type != 0x08) {
    const char* t = idx_type_name(type);
    std::ostringstream hex;
    hex << "0x" << std::hex << type;
    STRIDER_THROW(IoError, name << ": IDX element type " << hex.str() << " ("
                                << (t ? t : "not a valid IDX type") << ") is not supported; strider reads "
                                << "unsigned-byte IDX files (type 0x08), as MNIST and Fashion-MNIST are");
  }
  STRIDER_CHECK(ndim >= 1 && ndim <= 4, IoError,
                name << ": the IDX magic number says " << ndim << " dimensions; expected 1 (labels) to 4");
  const size_t header = 4 + 4 * static_cast<size_t>(ndim);
  STRIDER_CHECK(bytes.size() >= header, IoError,
                name << " is truncated: " << bytes.size() << " bytes, but its " << ndim << " dimension sizes need a "
                     << header << "-byte header");
  IdxArray out;
  std::uint64_t total = 1;
  for (int d = 0; d < ndim; ++d) {
    const std::uint32_t v = read_be32(bytes, 4 + 4 * static_cast<size_t>(d));
    out.dims.push_back(v);
    STRIDER_CHECK(total == 0 || v <= bytes.size() / total, IoError,
                  name << " is truncated or corrupt: its dims " << shape_str(out.dims) << "... need more data than the "
                       << bytes.size() << "-byte file holds");
    total *= v;
  }
  const std::uint64_t have = bytes.size() - header;
  STRIDER_CHECK(have >= total, IoError,
                name << " is truncated: dims " << shape_str(out.dims) << " need " << total << " bytes of data after the "
                     << header << "-byte header, found " << have);
  STRIDER_CHECK(have == total, IoError,
                name << " has " << have - total << " unexpected bytes after the data for dims " << shape_str(out.dims)
                     << " (a damaged file or wrong dims)");
  out.data = bytes.substr(header);
  return out;
}

IdxArray read_idx(const std::string& path) { return parse_idx(read_file_maybe_gzip(path), path); }

std::shared_ptr<Dataset> make_idx_dataset(const std::string& images_path, const std::string& labels_path,
                                          int image_size, int channels, const std::string& title) {
  IdxArray images = read_idx(images_path);
  STRIDER_CHECK(images.dims.size() == 3, IoError,
                images_path << " holds an IDX array of dims " << shape_str(images.dims)
                            << "; an images file has 3 (count, rows, cols)"
                            << (images.dims.size() == 1 ? " (is this the labels file?)" : ""));
  const std::int64_t n = images.dims[0], h = images.dims[1], w = images.dims[2];
  STRIDER_CHECK(n > 0 && h > 0 && w > 0, IoError, images_path << " holds no images (dims " << shape_str(images.dims) << ")");
  std::vector<std::int32_t> labels;
  if (!labels_path.empty()) {
    const IdxArray l = read_idx(labels_path);
    STRIDER_CHECK(l.dims.size() == 1 && l.dims[0] == n, IoError,
                  labels_path << " holds dims " << shape_str(l.dims) << "; expected " << n << " labels, one per image in "
                              << images_path);
    labels.assign(l.data.begin(), l.data.end());
    for (auto& v : labels) v &= 0xff;
  }
  const int c = resolve_channels(channels, 1);
  std::ostringstream desc;
  desc << title << ": " << n << " " << h << "x" << w << " grey images from " << images_path << ", as " << c << "x"
       << image_size << "x" << image_size;
  return std::make_shared<RawDataset>(std::move(images.data), n, 1, static_cast<int>(h), static_cast<int>(w),
                                      std::move(labels), c, image_size, desc.str());
}

// ---- CIFAR-10 ------------------------------------------------------------------------------

std::shared_ptr<Dataset> make_cifar10_dataset(const std::string& dir, int image_size, int channels, bool train) {
  constexpr size_t kRecord = 3073, kPixels = 3072;
  std::string root = dir;
  if (path_exists(dir + "/cifar-10-batches-bin")) root = dir + "/cifar-10-batches-bin";
  STRIDER_CHECK(is_dir(root), IoError,
                "CIFAR-10 directory " << dir << " does not exist or is not a directory");
  std::vector<std::string> files;
  std::error_code ec;
  for (auto it = fs::directory_iterator(root, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string f = it->path().filename().string();
    const bool match = train ? (f.rfind("data_batch_", 0) == 0 && f.size() > 15 && f.ends_with(".bin"))
                             : f == "test_batch.bin";
    if (match && it->is_regular_file(ec)) files.push_back(it->path().string());
  }
  STRIDER_CHECK(!ec, IoError, "cannot list CIFAR-10 directory " << root << ": " << ec.message());
  std::sort(files.begin(), files.end());
  STRIDER_CHECK(!files.empty(), IoError,
                "no CIFAR-10 " << (train ? "data_batch_*.bin" : "test_batch.bin") << " files in " << root
                               << ": download the binary version (cifar-10-binary.tar.gz from "
                                  "https://www.cs.toronto.edu/~kriz/cifar.html) and extract it there");
  std::string raw;
  std::vector<std::int32_t> labels;
  for (const auto& f : files) {
    const std::string b = read_file(f);
    STRIDER_CHECK(!b.empty() && b.size() % kRecord == 0, IoError,
                  f << " has " << b.size() << " bytes, not a positive multiple of the 3073-byte CIFAR-10 record "
                    << "(1 label byte + 3 x 32 x 32 pixels): the file is truncated or not a CIFAR-10 binary batch"
                    << (b.size() % 3074 == 0 && !b.empty() ? " (its size fits CIFAR-100's 3074-byte records)" : ""));
    const size_t records = b.size() / kRecord;
    raw.reserve(raw.size() + records * kPixels);
    for (size_t r = 0; r < records; ++r) {
      const auto label = static_cast<unsigned char>(b[r * kRecord]);
      STRIDER_CHECK(label <= 9, IoError,
                    f << ": record " << r << " has label " << int{label}
                      << "; CIFAR-10 labels are 0..9, so this is not a CIFAR-10 file (or it is damaged)");
      labels.push_back(label);
      raw.append(b, r * kRecord + 1, kPixels);
    }
  }
  const auto n = static_cast<std::int64_t>(labels.size());
  const int c = resolve_channels(channels, 3);
  std::ostringstream desc;
  desc << "cifar10: " << n << " 32x32 RGB images from " << files.size() << " file(s) in " << root << ", as " << c
       << "x" << image_size << "x" << image_size;
  return std::make_shared<RawDataset>(std::move(raw), n, 3, 32, 32, std::move(labels), c, image_size, desc.str());
}

// ---- image folder ----------------------------------------------------------------------------

std::shared_ptr<Dataset> make_folder_dataset(const std::string& dir, int image_size, int channels,
                                             bool skip_unreadable) {
  STRIDER_CHECK(is_dir(dir), IoError, "image folder " << dir << " does not exist or is not a directory");
  static const std::vector<std::string> kExt = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tga",
                                                ".pnm", ".ppm", ".pgm"};
  std::vector<std::string> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    std::string ext = it->path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return std::tolower(ch); });
    if (std::find(kExt.begin(), kExt.end(), ext) != kExt.end() && it->is_regular_file(ec)) files.push_back(it->path().string());
  }
  STRIDER_CHECK(!ec, IoError, "cannot list image folder " << dir << ": " << ec.message());
  std::sort(files.begin(), files.end());
  STRIDER_CHECK(!files.empty(), IoError,
                "image folder " << dir << " holds no images (searched recursively for " << join(kExt)
                                << "); put the training images there or choose another dataroot");
  std::vector<std::string> good, skipped;
  for (const auto& f : files) {
    try {
      const ImageInfo info = probe_image(f);
      STRIDER_CHECK(info.width > 0 && info.height > 0, IoError, "image " << f << " has no pixels");
      good.push_back(f);
    } catch (const IoError& e) {
      if (!skip_unreadable)
        STRIDER_THROW(IoError, e.what() << ". Fix or remove the file, or skip unreadable images "
                                           "(make_dataset(..., skip_unreadable = true))");
      skipped.push_back(f);
    }
  }
  STRIDER_CHECK(!good.empty(), IoError,
                "image folder " << dir << ": none of its " << files.size() << " image files could be read");
  const int c = resolve_channels(channels, 3);
  std::ostringstream desc;
  desc << "folder: " << good.size() << " images from " << dir << ", as " << c << "x" << image_size << "x" << image_size;
  if (!skipped.empty()) desc << " (" << skipped.size() << " unreadable skipped: " << join(skipped) << ")";
  return std::make_shared<FolderDataset>(std::move(good), c, image_size, desc.str());
}

// ---- factory -------------------------------------------------------------------------------

std::vector<std::string> dataset_names() { return {"fashion-mnist", "mnist", "cifar10", "folder"}; }

std::shared_ptr<Dataset> make_dataset(const std::string& name, const std::string& dataroot, int image_size,
                                      int channels, bool skip_unreadable) {
  const auto names = dataset_names();
  STRIDER_CHECK(std::find(names.begin(), names.end(), name) != names.end(), ValueError,
                "unknown dataset \"" << name << "\"; the datasets are: " << join(names));
  STRIDER_CHECK(image_size >= 1, ValueError, "image_size is " << image_size << "; use a positive size, e.g. 64");
  STRIDER_CHECK(channels == 0 || channels == 1 || channels == 3, ValueError,
                "channels is " << channels << "; use 1 (grey), 3 (RGB) or 0 (the dataset's own)");
  if (name == "fashion-mnist" || name == "mnist") {
    const bool default_root = dataroot.empty();
    STRIDER_CHECK(!(default_root && name == "mnist"), ValueError,
                  "dataset \"mnist\" needs a dataroot: a directory holding train-images-idx3-ubyte[.gz] "
                  "(and train-labels-idx1-ubyte[.gz]), or the images file itself");
    const std::string root = default_root ? kFashionMnistRoot : dataroot;
    if (is_file(root)) return make_idx_dataset(root, "", image_size, channels, name);
    const std::string images = find_in(root, idx_names("train-images", "idx3-ubyte"));
    if (images.empty()) {
      if (default_root)
        STRIDER_THROW(IoError, "Fashion-MNIST is not installed: no train-images-idx3-ubyte.gz in " << kFashionMnistRoot
                                   << ". Install it with `apt-get install dataset-fashion-mnist` (Debian), "
                                      "or pass a dataroot holding the IDX files");
      STRIDER_THROW(IoError, "no train-images-idx3-ubyte[.gz] in " << root
                                 << (is_dir(root) ? "" : " (the directory does not exist)")
                                 << ": the " << name << " dataroot must hold the IDX files"
                                 << (name == "fashion-mnist" ? " (or leave it empty to use " +
                                                                   std::string(kFashionMnistRoot) +
                                                                   " from `apt-get install dataset-fashion-mnist`)"
                                                             : ""));
    }
    const std::string labels = find_in(root, idx_names("train-labels", "idx1-ubyte"));
    return make_idx_dataset(images, labels, image_size, channels, name);
  }
  STRIDER_CHECK(!dataroot.empty(), ValueError,
                "dataset \"" << name << "\" needs a dataroot: "
                             << (name == "cifar10" ? "the directory holding CIFAR-10's data_batch_*.bin"
                                                   : "the directory of training images"));
  if (name == "cifar10") return make_cifar10_dataset(dataroot, image_size, channels, true);
  return make_folder_dataset(dataroot, image_size, channels, skip_unreadable);
}

// ---- loader ----------------------------------------------------------------------------------

std::map<std::string, std::string> DataLoaderState::to_metadata() const {
  return {{"data.seed", std::to_string(seed)},
          {"data.epoch", std::to_string(epoch)},
          {"data.position", std::to_string(position)},
          {"data.size", std::to_string(dataset_size)}};
}

namespace {
template <class T>
T parse_key(const std::map<std::string, std::string>& m, const std::string& key) {
  const auto it = m.find(key);
  STRIDER_CHECK(it != m.end(), ValueError,
                "data loader state: metadata has no \"" << key << "\" (was it saved with DataLoaderState::to_metadata?)");
  T v{};
  const std::string& s = it->second;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  STRIDER_CHECK(ec == std::errc() && end == s.data() + s.size(), ValueError,
                "data loader state: \"" << key << "\" is \"" << s << "\", not a whole number");
  return v;
}
}  // namespace

DataLoaderState DataLoaderState::from_metadata(const std::map<std::string, std::string>& metadata) {
  DataLoaderState s;
  s.seed = parse_key<std::uint64_t>(metadata, "data.seed");
  s.epoch = parse_key<std::int64_t>(metadata, "data.epoch");
  s.position = parse_key<std::int64_t>(metadata, "data.position");
  s.dataset_size = parse_key<std::int64_t>(metadata, "data.size");
  return s;
}

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), options_(options) {
  STRIDER_CHECK(dataset_ != nullptr, ValueError, "DataLoader: the dataset is null");
  STRIDER_CHECK(options_.batch_size >= 1, ValueError,
                "DataLoader: batch_size is " << options_.batch_size << "; use >= 1");
  STRIDER_CHECK(!options_.drop_last || options_.batch_size <= dataset_->size(), ValueError,
                "DataLoader: batch_size " << options_.batch_size << " is larger than the dataset ("
                                          << dataset_->size()
                                          << " images) and drop_last is set: no batch would ever be made; "
                                             "lower the batch size or clear drop_last");
}

std::int64_t DataLoader::batches_per_epoch() const {
  const std::int64_t n = dataset_->size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

std::vector<std::int64_t> DataLoader::epoch_order(std::int64_t epoch) const {
  const std::int64_t n = dataset_->size();
  std::vector<std::int64_t> order(static_cast<size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  if (!options_.shuffle || n < 2) return order;
  // Fisher-Yates; swap j for position i comes from 64 random bits (two Philox words), so the
  // modulo bias is below n / 2^64.
  Generator gen(options_.seed);
  gen.set_state(options_.seed, static_cast<std::uint64_t>(epoch) << 32);
  const std::uint64_t base = gen.take(2 * n);
  for (std::int64_t i = n - 1, k = 0; i > 0; --i, ++k) {
    const kernels::Philox4 r = kernels::philox4x32_10(base + static_cast<std::uint64_t>(k / 2), options_.seed);
    const int lane = static_cast<int>(k % 2);
    const std::uint64_t bits = (std::uint64_t{r.v[2 * lane]} << 32) | r.v[2 * lane + 1];
    const auto j = static_cast<std::int64_t>(bits % static_cast<std::uint64_t>(i + 1));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  return order;
}

bool DataLoader::next(Batch& out) {
  const std::int64_t n = dataset_->size(), bs = options_.batch_size;
  const std::int64_t left = n - position_;
  if (left <= 0 || (options_.drop_last && left < bs)) {
    ++epoch_;
    position_ = 0;
    return false;
  }
  if (order_epoch_ != epoch_) {
    order_ = epoch_order(epoch_);
    order_epoch_ = epoch_;
  }
  const std::int64_t count = std::min(bs, left);
  const auto from = order_.begin() + position_;
  out = dataset_->batch(std::vector<std::int64_t>(from, from + count));
  position_ += count;
  return true;
}

DataLoaderState DataLoader::state() const { return {options_.seed, epoch_, position_, dataset_->size()}; }

void DataLoader::set_state(const DataLoaderState& s) {
  STRIDER_CHECK(s.dataset_size == dataset_->size(), ValueError,
                "DataLoader: the saved state is for a dataset of " << s.dataset_size << " images, this one has "
                                                                   << dataset_->size()
                                                                   << "; resuming needs the same dataset");
  STRIDER_CHECK(s.epoch >= 0 && s.position >= 0 && s.position <= s.dataset_size, ValueError,
                "DataLoader: saved state epoch " << s.epoch << ", position " << s.position
                                                 << " is out of range (position must be in [0, " << s.dataset_size
                                                 << "])");
  options_.seed = s.seed;
  epoch_ = s.epoch;
  position_ = s.position;
  order_epoch_ = -1;
}

}  // namespace strider::models
