#include <strider/models/image.hpp>

#include <png.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <system_error>

#include <strider/core/error.hpp>
#include <strider/core/file_io.hpp>

// stb_image's implementation, compiled here with internal linkage: no libstb at run time, and
// no clash with another copy an application may link.
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_HDR
#define STBI_NO_LINEAR
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include <stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace strider::models {

// ---- decode ------------------------------------------------------------------------------------

Image decode_image(std::string_view bytes, const std::string& name, int want_channels) {
  STRIDER_CHECK(want_channels >= 0 && want_channels <= 4, ValueError,
                "decode_image: want_channels is " << want_channels << "; use 0 (as stored) or 1..4");
  STRIDER_CHECK(!bytes.empty(), IoError, "cannot decode image " << name << ": the file is empty");
  STRIDER_CHECK(bytes.size() <= static_cast<std::size_t>(INT32_MAX), IoError,
                "cannot decode image " << name << ": " << bytes.size() << " bytes is over the 2 GiB limit");
  int w = 0, h = 0, c = 0;
  stbi_uc* data = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()),
                                        &w, &h, &c, want_channels);
  if (data == nullptr) {
    const char* why = stbi_failure_reason();
    STRIDER_THROW(IoError, "cannot decode image " << name << ": " << (why ? why : "unknown error")
                                                  << " (supported: PNG, JPEG, BMP, GIF, TGA, PSD, PIC, PNM)");
  }
  Image img;
  img.width = w;
  img.height = h;
  img.channels = want_channels ? want_channels : c;
  const std::size_t n = static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * static_cast<std::size_t>(img.channels);
  img.pixels.assign(data, data + n);
  stbi_image_free(data);
  return img;
}

Image read_image(const std::string& path, int want_channels) {
  return decode_image(read_file(path), path, want_channels);
}

ImageInfo probe_image(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    const int err = errno;
    STRIDER_THROW(IoError, "cannot open image " << path << ": " << std::error_code(err, std::generic_category()).message());
  }
  ImageInfo info;
  const int ok = stbi_info_from_file(f, &info.width, &info.height, &info.channels);
  std::fclose(f);
  if (!ok) {
    const char* why = stbi_failure_reason();
    STRIDER_THROW(IoError, "cannot read image " << path << ": " << (why ? why : "unknown error")
                                                << " (supported: PNG, JPEG, BMP, GIF, TGA, PSD, PIC, PNM)");
  }
  return info;
}

// ---- encode (libpng) -----------------------------------------------------------------------------

namespace {

struct PngError {
  char message[256];
};

void on_png_error(png_structp png, png_const_charp msg) {
  auto* err = static_cast<PngError*>(png_get_error_ptr(png));
  std::snprintf(err->message, sizeof err->message, "%s", msg ? msg : "unknown libpng error");
  png_longjmp(png, 1);
}
void on_png_warning(png_structp, png_const_charp) {}
void on_png_write(png_structp png, png_bytep data, png_size_t length) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<const char*>(data), length);
}
void on_png_flush(png_structp) {}

}  // namespace

std::string encode_png(const Image& img) {
  STRIDER_CHECK(img.width > 0 && img.height > 0, ValueError,
                "encode_png: the image is " << img.width << " x " << img.height << "; both sizes must be positive");
  STRIDER_CHECK(img.channels >= 1 && img.channels <= 4, ValueError,
                "encode_png: " << img.channels << " channels; PNG takes 1 (grey), 2, 3 (RGB) or 4 (RGBA)");
  const std::size_t row_bytes = static_cast<std::size_t>(img.width) * static_cast<std::size_t>(img.channels);
  STRIDER_CHECK(img.pixels.size() == row_bytes * static_cast<std::size_t>(img.height), ValueError,
                "encode_png: " << img.pixels.size() << " bytes of pixels for a " << img.width << " x " << img.height
                               << " x " << img.channels << " image, which needs " << row_bytes * img.height);
  static constexpr int kColor[] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                   PNG_COLOR_TYPE_RGBA};
  std::string out;
  std::vector<png_bytep> rows(static_cast<std::size_t>(img.height));
  for (int y = 0; y < img.height; ++y)
    rows[static_cast<std::size_t>(y)] = const_cast<png_bytep>(img.pixels.data() + row_bytes * static_cast<std::size_t>(y));
  PngError err{};
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &err, on_png_error, on_png_warning);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (png == nullptr || info == nullptr) {
    png_destroy_write_struct(&png, &info);
    STRIDER_THROW(IoError, "encode_png: libpng could not allocate its state");
  }
  // libpng reports errors by longjmp back here. Nothing between setjmp and longjmp owns
  // resources with destructors: `out` and `rows` live in this frame, outside the jump.
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    STRIDER_THROW(IoError, "encode_png: libpng failed: " << err.message);
  }
  png_set_write_fn(png, &out, on_png_write, on_png_flush);
  png_set_IHDR(png, info, static_cast<png_uint_32>(img.width), static_cast<png_uint_32>(img.height), 8,
               kColor[img.channels], PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

void write_png(const std::string& path, const Image& img) { write_file_atomic(path, encode_png(img)); }

// ---- resampling ----------------------------------------------------------------------------------

CropResize::Axis CropResize::axis(int begin, int length, int out) {
  STRIDER_CHECK(length > 0 && out > 0, ValueError,
                "CropResize: cannot resample " << length << " pixels to " << out << "; both must be positive");
  Axis a;
  const auto n = static_cast<std::size_t>(out);
  a.first.resize(n);
  a.count.resize(n);
  if (out == length) {
    a.taps = 1;
    a.weight.assign(n, 1.0f);
    for (int i = 0; i < out; ++i) {
      a.first[static_cast<std::size_t>(i)] = begin + i;
      a.count[static_cast<std::size_t>(i)] = 1;
    }
    return a;
  }
  const double scale = static_cast<double>(length) / out;
  if (out > length) {  // bilinear, half-pixel centres, clamped at the edges
    a.taps = 2;
    a.weight.assign(2 * n, 0.0f);
    for (int i = 0; i < out; ++i) {
      const double src = std::max(0.0, (i + 0.5) * scale - 0.5);
      const int i0 = std::min(static_cast<int>(src), length - 1);
      const double frac = src - i0;
      const auto k = static_cast<std::size_t>(i);
      a.first[k] = begin + i0;
      if (i0 + 1 < length) {
        a.count[k] = 2;
        a.weight[2 * k] = static_cast<float>(1.0 - frac);
        a.weight[2 * k + 1] = static_cast<float>(frac);
      } else {
        a.count[k] = 1;
        a.weight[2 * k] = 1.0f;
      }
    }
    return a;
  }
  // area: output i averages the input interval [i * scale, (i + 1) * scale)
  a.taps = static_cast<int>(std::ceil(scale)) + 1;
  a.weight.assign(n * static_cast<std::size_t>(a.taps), 0.0f);
  for (int i = 0; i < out; ++i) {
    const double lo = i * scale, hi = std::min<double>((i + 1) * scale, length);
    const int j0 = static_cast<int>(std::floor(lo));
    const int j1 = std::min(length, static_cast<int>(std::ceil(hi - 1e-9)));
    const auto k = static_cast<std::size_t>(i);
    a.first[k] = begin + j0;
    a.count[k] = j1 - j0;
    for (int j = j0; j < j1; ++j) {
      const double cover = std::min<double>(hi, j + 1) - std::max<double>(lo, j);
      a.weight[k * static_cast<std::size_t>(a.taps) + static_cast<std::size_t>(j - j0)] =
          static_cast<float>(std::max(0.0, cover) / scale);
    }
  }
  return a;
}

CropResize::CropResize(int in_h, int in_w, int out_size) : in_h_(in_h), in_w_(in_w), out_(out_size) {
  STRIDER_CHECK(in_h > 0 && in_w > 0 && out_size > 0, ValueError,
                "CropResize: input " << in_h << " x " << in_w << ", output " << out_size
                                     << " x " << out_size << "; all sizes must be positive");
  const int m = std::min(in_h, in_w);
  rows_ = axis((in_h - m) / 2, m, out_size);
  cols_ = axis((in_w - m) / 2, m, out_size);
}

template <class T>
void CropResize::apply_impl(const T* src, int pixel_stride, float* dst) const {
  // Horizontal pass over the rows the vertical pass reads, then the vertical pass.
  const auto out = static_cast<std::size_t>(out_);
  std::vector<float> tmp(static_cast<std::size_t>(in_h_) * out);
  const int row_lo = rows_.first.front();
  const int row_hi = rows_.first.back() + rows_.count.back();
  for (int y = row_lo; y < row_hi; ++y) {
    const T* line = src + static_cast<std::ptrdiff_t>(y) * in_w_ * pixel_stride;
    float* t = tmp.data() + static_cast<std::size_t>(y) * out;
    for (std::size_t i = 0; i < out; ++i) {
      const float* w = cols_.weight.data() + i * static_cast<std::size_t>(cols_.taps);
      float acc = 0.0f;
      for (int k = 0; k < cols_.count[i]; ++k)
        acc += w[k] * static_cast<float>(line[static_cast<std::ptrdiff_t>(cols_.first[i] + k) * pixel_stride]);
      t[i] = acc;
    }
  }
  for (std::size_t i = 0; i < out; ++i) {
    const float* w = rows_.weight.data() + i * static_cast<std::size_t>(rows_.taps);
    float* d = dst + i * out;
    std::fill(d, d + out, 0.0f);
    for (int k = 0; k < rows_.count[i]; ++k) {
      const float* t = tmp.data() + static_cast<std::size_t>(rows_.first[i] + k) * out;
      for (std::size_t x = 0; x < out; ++x) d[x] += w[k] * t[x];
    }
  }
}

void CropResize::apply(const std::uint8_t* src, int pixel_stride, float* dst) const {
  apply_impl(src, pixel_stride, dst);
}
void CropResize::apply(const float* src, int pixel_stride, float* dst) const { apply_impl(src, pixel_stride, dst); }

// ---- grids -------------------------------------------------------------------------------------

Image make_image_grid(const Tensor& images, int nrow, int padding, double lo, double hi) {
  images.check_defined("make_image_grid");
  STRIDER_CHECK(images.dim() == 4 || images.dim() == 3, ShapeError,
                "save_image_grid: images have shape " << shape_str(images.shape())
                                                      << "; expected (N, C, H, W) or one image (C, H, W)");
  const Tensor batch = images.dim() == 3 ? images.unsqueeze(0) : images;
  const auto n = batch.size(0), c = batch.size(1), h = batch.size(2), w = batch.size(3);
  STRIDER_CHECK(c == 1 || c == 3, ShapeError,
                "save_image_grid: images have " << c << " channels (shape " << shape_str(images.shape())
                                                << "); expected 1 (grey) or 3 (RGB) in dim 1, as (N, C, H, W)");
  STRIDER_CHECK(n > 0 && h > 0 && w > 0, ShapeError,
                "save_image_grid: images have shape " << shape_str(images.shape()) << "; nothing to draw");
  STRIDER_CHECK(nrow >= 1, ValueError, "save_image_grid: nrow is " << nrow << "; use >= 1 images per row");
  STRIDER_CHECK(padding >= 0, ValueError, "save_image_grid: padding is " << padding << "; use >= 0");
  STRIDER_CHECK(hi > lo && std::isfinite(lo) && std::isfinite(hi), ValueError,
                "save_image_grid: value range [" << lo << ", " << hi << "] is empty; use lo < hi, e.g. [-1, 1]");
  const std::int64_t cols = std::min<std::int64_t>(nrow, n), rows = (n + cols - 1) / cols;
  const std::int64_t gw = cols * (w + padding) + padding, gh = rows * (h + padding) + padding;
  STRIDER_CHECK(gw <= 1 << 20 && gh <= 1 << 20, ValueError,
                "save_image_grid: the grid would be " << gw << " x " << gh << " pixels; too large for one PNG");

  const std::vector<float> v = batch.to_vector<float>();  // (N, C, H, W), host, row-major
  Image img;
  img.width = static_cast<int>(gw);
  img.height = static_cast<int>(gh);
  img.channels = static_cast<int>(c);
  img.pixels.assign(static_cast<std::size_t>(gw * gh * c), 0);
  const double scale = 255.0 / (hi - lo);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t y0 = (i / cols) * (h + padding) + padding, x0 = (i % cols) * (w + padding) + padding;
    for (std::int64_t ch = 0; ch < c; ++ch)
      for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x) {
          const double val = v[static_cast<std::size_t>(((i * c + ch) * h + y) * w + x)];
          const double b = std::isnan(val) ? 0.0 : std::clamp((val - lo) * scale + 0.5, 0.0, 255.0);
          img.pixels[static_cast<std::size_t>(((y0 + y) * gw + x0 + x) * c + ch)] = static_cast<std::uint8_t>(b);
        }
  }
  return img;
}

void save_image_grid(const std::string& path, const Tensor& images, int nrow, int padding, double lo, double hi) {
  write_png(path, make_image_grid(images, nrow, padding, lo, hi));
}

}  // namespace strider::models
