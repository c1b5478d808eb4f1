// Images: decode (PNG, JPEG, BMP, GIF, TGA via stb_image), encode PNG (libpng), resample, and
// save a batch of generated images as one grid PNG (like torchvision.utils.save_image).
//
//   save_image_grid("out/fake_epoch3.png", fake, /*nrow=*/8);    // fake: (N, C, H, W) in [-1, 1]
//   Image img = read_image("face.jpg", /*want_channels=*/3);      // 8-bit, interleaved HWC
//   CropResize r(img.height, img.width, 64);                      // centre square -> 64 x 64
//   r.apply(img.pixels.data() + c, /*pixel_stride=*/3, plane);    // channel c into 64*64 floats
//
// Grid layout (torchvision.utils.make_grid): min(nrow, N) images per row, ceil(N / nrow) rows,
// `padding` black pixels around and between them. Values map [lo, hi] (default [-1, 1]) to
// [0, 255] as byte = floor(clamp((x - lo) / (hi - lo) * 255 + 0.5, 0, 255)), NaN -> 0: the
// fixed-range form of save_image(normalize=True, value_range=(-1, 1)). One channel is written
// as a greyscale PNG, three as RGB. Files are written atomically (write_file_atomic).
//
// Resampling (CropResize): the centred min(H, W) square is cropped (offset floor((L - m) / 2)),
// then each axis is resized on its own: bilinear with half-pixel centres along an axis that
// grows (PyTorch interpolate(mode="bilinear", align_corners=False); edges clamp), area (box)
// averaging along an axis that shrinks (each output pixel averages the input interval it
// covers, partially covered pixels weighted by the covered fraction), a copy when equal.
// Weights are computed once per (input size, output size), in the constructor.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <strider/core/tensor.hpp>

namespace strider::models {

// An 8-bit image, rows top to bottom, pixels interleaved: pixels[(y * width + x) * channels + c].
struct Image {
  int width = 0, height = 0, channels = 0;
  std::vector<std::uint8_t> pixels;
};

// Decodes an image file. want_channels 0 keeps the file's channels; 1..4 converts (stb_image's
// rules: RGB -> grey is a luminance average). IoError naming the file and the decoder's reason.
Image read_image(const std::string& path, int want_channels = 0);
Image decode_image(std::string_view bytes, const std::string& name, int want_channels = 0);

// Size and channels from the file's header only (cheap). IoError naming the file when it cannot
// be opened or is not an image stb_image can decode.
struct ImageInfo {
  int width = 0, height = 0, channels = 0;
};
ImageInfo probe_image(const std::string& path);

// PNG bytes of an 8-bit image with 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA) channels.
std::string encode_png(const Image& img);
// encode_png + write_file_atomic.
void write_png(const std::string& path, const Image& img);

// Centre crop to a square, then resize to out_size x out_size (see the top of this file).
class CropResize {
 public:
  CropResize(int in_h, int in_w, int out_size);
  // src: element (y, x) of one channel at src[(y * in_w + x) * pixel_stride]; dst: out_size^2
  // floats, row-major, in the same units as src (0..255 for 8-bit images).
  void apply(const std::uint8_t* src, int pixel_stride, float* dst) const;
  void apply(const float* src, int pixel_stride, float* dst) const;
  int in_h() const { return in_h_; }
  int in_w() const { return in_w_; }
  int out_size() const { return out_; }

  // One axis: output i = sum over k < count[i] of weight[i * taps + k] * input[first[i] + k].
  struct Axis {
    int taps = 0;
    std::vector<int> first, count;
    std::vector<float> weight;
  };
  // Weights resampling input positions [begin, begin + length) to `out` positions.
  static Axis axis(int begin, int length, int out);

 private:
  template <class T> void apply_impl(const T* src, int pixel_stride, float* dst) const;
  int in_h_, in_w_, out_;
  Axis rows_, cols_;
};

// The grid of `images` ((N, C, H, W) or one (C, H, W); C 1 or 3; any device and float dtype)
// as an 8-bit image; see the top of this file.
Image make_image_grid(const Tensor& images, int nrow = 8, int padding = 2, double lo = -1.0, double hi = 1.0);
// make_image_grid + write_png.
void save_image_grid(const std::string& path, const Tensor& images, int nrow = 8, int padding = 2,
                     double lo = -1.0, double hi = 1.0);

}  // namespace strider::models
