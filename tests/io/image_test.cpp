// models/image: resampling against hand-computed and PyTorch values, grids written as PNG and
// read back with stb_image (an independent decoder), PNG encode/decode.
#include <cmath>
#include <limits>

#include <stb_image.h>

#include <strider/core/file_io.hpp>
#include <strider/models/image.hpp>

#include "io/io_test_util.hpp"

namespace strider {
namespace {

using testing::IoTest;
using namespace strider::models;

std::vector<float> resample(const std::vector<float>& src, int h, int w, int out) {
  std::vector<float> dst(static_cast<size_t>(out * out), NAN);
  CropResize(h, w, out).apply(src.data(), 1, dst.data());
  return dst;
}

TEST(CropResize, IdentityAndCentreCrop) {
  std::vector<float> img(12);
  for (int i = 0; i < 12; ++i) img[static_cast<size_t>(i)] = static_cast<float>(i);
  // 3 x 4 (wide): centre 3 x 3 are columns 0..2 (offset floor(1 / 2) = 0)
  EXPECT_EQ(resample(img, 3, 4, 3), (std::vector<float>{0, 1, 2, 4, 5, 6, 8, 9, 10}));
  // 2 x 6: columns 2..3
  EXPECT_EQ(resample(img, 2, 6, 2), (std::vector<float>{2, 3, 8, 9}));
  // 6 x 2 (tall): rows 2..3
  EXPECT_EQ(resample(img, 6, 2, 2), (std::vector<float>{4, 5, 6, 7}));
  // interleaved input: pixel_stride picks one channel
  const std::vector<std::uint8_t> rgb = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};  // 2 x 2 x 3
  std::vector<float> g(4);
  CropResize(2, 2, 2).apply(rgb.data() + 1, 3, g.data());
  EXPECT_EQ(g, (std::vector<float>{2, 5, 8, 11}));
}

TEST(CropResize, AreaWhenShrinking) {
  std::vector<float> img(16);
  for (int i = 0; i < 16; ++i) img[static_cast<size_t>(i)] = static_cast<float>(i);
  // 4 -> 2: means of 2 x 2 blocks
  EXPECT_EQ(resample(img, 4, 4, 2), (std::vector<float>{2.5f, 4.5f, 10.5f, 12.5f}));
  // 3 -> 2: output 0 covers [0, 1.5): (x0 + 0.5 x1) / 1.5; output 1 covers [1.5, 3)
  const std::vector<float> row = {0, 3, 6, 0, 3, 6, 0, 3, 6};
  const auto r = resample(row, 3, 3, 2);
  EXPECT_NEAR(r[0], (0 + 0.5f * 3) / 1.5f, 1e-5f);
  EXPECT_NEAR(r[1], (0.5f * 3 + 6) / 1.5f, 1e-5f);
  EXPECT_NEAR(r[2], r[0], 1e-5f);
  // a constant image stays constant
  for (float v : resample(std::vector<float>(49, 7.0f), 7, 7, 3)) EXPECT_NEAR(v, 7.0f, 1e-5f);
}

TEST(CropResize, BilinearWhenGrowingMatchesPyTorch) {
  // torch.nn.functional.interpolate(x, size=4, mode="bilinear", align_corners=False)
  EXPECT_EQ(resample({0, 10, 20, 30}, 2, 2, 4),
            (std::vector<float>{0, 2.5f, 7.5f, 10, 5, 7.5f, 12.5f, 15, 15, 17.5f, 22.5f, 25, 20, 22.5f, 27.5f, 30}));
  // 3 x 3 (10 i) -> 5 x 5
  const std::vector<float> want = {0,  4,  10, 16, 20, 12, 16, 22, 28, 32, 30, 34, 40,
                                   46, 50, 48, 52, 58, 64, 68, 60, 64, 70, 76, 80};
  std::vector<float> img(9);
  for (int i = 0; i < 9; ++i) img[static_cast<size_t>(i)] = 10.0f * static_cast<float>(i);
  EXPECT_TRUE(testing::all_close(std::vector<double>(want.begin(), want.end()),
                                 [&] {
                                   const auto r = resample(img, 3, 3, 5);
                                   return std::vector<double>(r.begin(), r.end());
                                 }(),
                                 0, 1e-4));
  STRIDER_EXPECT_THROW_MSG(CropResize(0, 3, 4), ValueError, "positive");
}

class Images : public IoTest {};

TEST_F(Images, GridRoundTripThroughPng) {
  // 5 RGB images of 4 x 3 whose values hit the mapping's corners: -1 -> 0, 1 -> 255, 0 -> 128,
  // clamping (2 -> 255, -3 -> 0) and NaN -> 0.
  const std::vector<double> palette = {-1.0, 1.0, 0.0, 2.0, -3.0, std::numeric_limits<double>::quiet_NaN(), -0.5, 0.5};
  auto byte = [](double v) {
    return std::isnan(v) ? 0 : static_cast<int>(std::clamp((v + 1.0) / 2.0 * 255.0 + 0.5, 0.0, 255.0));
  };
  std::vector<double> vals(5 * 3 * 4 * 3);
  for (size_t i = 0; i < vals.size(); ++i) vals[i] = palette[(i * 5 + i / 7) % palette.size()];
  const Tensor t = Tensor::from_vector(vals, {5, 3, 4, 3}, DType::Float64);
  save_image_grid(path("grid.png"), t, /*nrow=*/2, /*padding=*/2);

  int w = 0, h = 0, c = 0;
  unsigned char* px = stbi_load(path("grid.png").c_str(), &w, &h, &c, 0);
  ASSERT_NE(px, nullptr) << stbi_failure_reason();
  EXPECT_EQ(w, 2 * (3 + 2) + 2);
  EXPECT_EQ(h, 3 * (4 + 2) + 2);
  EXPECT_EQ(c, 3);
  int checked = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int ch = 0; ch < 3; ++ch) {
        const int gy = y - 2, gx = x - 2;
        const int n = (gy / 6) * 2 + gx / 5, iy = gy % 6, ix = gx % 5;
        const bool inside = gy >= 0 && gx >= 0 && iy < 4 && ix < 3 && n < 5;
        const int want = inside ? byte(vals[static_cast<size_t>(((n * 3 + ch) * 4 + iy) * 3 + ix)]) : 0;
        ASSERT_EQ(px[(y * w + x) * 3 + ch], want) << "pixel (" << x << ", " << y << ") channel " << ch
                                                  << (inside ? " of image " + std::to_string(n) : " (padding)");
        checked += inside;
      }
  EXPECT_EQ(checked, 5 * 3 * 4 * 3);
  stbi_image_free(px);
}

TEST_F(Images, GreyGridSingleImageAndViews) {
  Generator gen(1);
  const Tensor t = Tensor::rand({2, 1, 5, 5}, gen, {}, -1, 1);
  save_image_grid(path("g.png"), t.transpose(2, 3), 8, 0);  // a non-contiguous view
  int w = 0, h = 0, c = 0;
  unsigned char* px = stbi_load(path("g.png").c_str(), &w, &h, &c, 0);
  ASSERT_NE(px, nullptr);
  EXPECT_EQ(c, 1);
  EXPECT_EQ(w, 10);
  EXPECT_EQ(h, 5);
  const double v = t.at({1, 0, 3, 1});  // shown at (x 3, y 1) of the second image after the transpose
  EXPECT_EQ(px[1 * w + 5 + 3], static_cast<int>((v + 1) / 2 * 255 + 0.5));
  stbi_image_free(px);
  save_image_grid(path("one.png"), t.select(0, 0), 8, 2);  // (C, H, W)
  EXPECT_EQ(read_image(path("one.png")).width, 9);
}

TEST_F(Images, GridErrors) {
  STRIDER_EXPECT_THROW_MSG(save_image_grid(path("x.png"), Tensor::zeros({2, 2, 4, 4})), ShapeError, "2 channels",
                           "1 (grey) or 3 (RGB)");
  STRIDER_EXPECT_THROW_MSG(save_image_grid(path("x.png"), Tensor::zeros({4, 4})), ShapeError, "(N, C, H, W)");
  STRIDER_EXPECT_THROW_MSG(save_image_grid(path("x.png"), Tensor::zeros({1, 1, 4, 4}), 0), ValueError, "nrow");
  testing::write_raw(path("file"), "x");
  STRIDER_EXPECT_THROW_MSG(save_image_grid(path("file/x.png"), Tensor::zeros({1, 1, 4, 4})), IoError, "cannot create");
}

TEST_F(Images, PngEncodeDecodeEveryChannelCount) {
  for (int c = 1; c <= 4; ++c) {
    Image img;
    img.width = 7;
    img.height = 3;
    img.channels = c;
    for (int i = 0; i < 7 * 3 * c; ++i) img.pixels.push_back(static_cast<std::uint8_t>(i * 13 + c));
    write_png(path("p.png"), img);
    const Image back = read_image(path("p.png"));
    EXPECT_EQ(back.width, 7);
    EXPECT_EQ(back.height, 3);
    EXPECT_EQ(back.channels, c);
    EXPECT_EQ(back.pixels, img.pixels) << c << " channels";
    const ImageInfo info = probe_image(path("p.png"));
    EXPECT_EQ(info.channels, c);
  }
  Image bad;
  bad.width = 2;
  bad.height = 2;
  bad.channels = 3;
  bad.pixels.resize(5);
  STRIDER_EXPECT_THROW_MSG(encode_png(bad), ValueError, "5 bytes", "needs 12");
}

TEST_F(Images, DecodeErrorsNameTheFile) {
  testing::write_raw(path("fake.png"), "definitely not an image");
  STRIDER_EXPECT_THROW_MSG(read_image(path("fake.png")), IoError, "cannot decode image " + path("fake.png"));
  STRIDER_EXPECT_THROW_MSG(probe_image(path("fake.png")), IoError, path("fake.png"));
  STRIDER_EXPECT_THROW_MSG(read_image(path("missing.png")), IoError, path("missing.png"), "No such file");
  STRIDER_EXPECT_THROW_MSG(probe_image(path("missing.png")), IoError, path("missing.png"), "No such file");
}

}  // namespace
}  // namespace strider
