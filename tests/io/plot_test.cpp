// models/plot: the loss chart is a PNG of the requested size with the series drawn in their
// colours; the metrics CSV writes its header once, appends, resumes and escapes.
#include <cmath>

#include <stb_image.h>

#include <strider/core/file_io.hpp>
#include <strider/models/plot.hpp>

#include "io/io_test_util.hpp"

namespace strider {
namespace {

using testing::IoTest;
using namespace strider::models;

class Plot : public IoTest {};

struct Decoded {
  int w = 0, h = 0, c = 0;
  std::vector<unsigned char> px;
  int count(int r, int g, int b, int x0 = 0, int y0 = 0, int x1 = -1, int y1 = -1) const {
    int n = 0;
    for (int y = y0; y < (y1 < 0 ? h : y1); ++y)
      for (int x = x0; x < (x1 < 0 ? w : x1); ++x) {
        const unsigned char* p = &px[static_cast<size_t>((y * w + x) * 3)];
        n += p[0] == r && p[1] == g && p[2] == b;
      }
    return n;
  }
};

Decoded decode(const std::string& path) {
  Decoded d;
  unsigned char* px = stbi_load(path.c_str(), &d.w, &d.h, &d.c, 3);
  EXPECT_NE(px, nullptr) << path << ": " << stbi_failure_reason();
  if (px) d.px.assign(px, px + d.w * d.h * 3), stbi_image_free(px);
  return d;
}

TEST_F(Plot, WritesAPngOfTheRequestedSizeWithEachSeries) {
  std::vector<double> d, g;
  for (int i = 0; i < 300; ++i) {
    d.push_back(1.4 * std::exp(-i / 80.0) + 0.1 * std::sin(i));
    g.push_back(0.7 + 3.0 * i / 300.0);
  }
  g[150] = NAN;  // skipped: a break in the line
  save_loss_plot(path("loss.png"), {{"loss_D", d}, {"loss_G", g}}, "DCGAN losses", {.width = 400, .height = 260});
  const Decoded img = decode(path("loss.png"));
  EXPECT_EQ(img.w, 400);
  EXPECT_EQ(img.h, 260);
  EXPECT_EQ(img.c, 3);
  EXPECT_EQ(img.count(255, 255, 255, 0, 0, 4, 4), 16) << "the corner is not background white";
  EXPECT_GT(img.count(31, 119, 180), 200) << "the first series (tab10 blue) is missing";
  EXPECT_GT(img.count(255, 127, 14), 200) << "the second series (tab10 orange) is missing";
  EXPECT_GT(img.count(0, 0, 0, 0, 0, 400, 30), 40) << "no title text at the top";
  EXPECT_GT(img.count(0, 0, 0, 0, 0, 50, 260), 40) << "no tick numbers on the left";
}

TEST_F(Plot, LegendGoesToACornerWithoutData) {
  // data low on the left and high on the right: the top-left corner is free
  std::vector<double> up;
  for (int i = 0; i < 100; ++i) up.push_back(i);
  const std::map<std::string, std::vector<double>> s = {{"up", up}};
  const Decoded img = decode([&] {
    save_loss_plot(path("up.png"), s, "", {.width = 400, .height = 260});
    return path("up.png");
  }());
  EXPECT_GT(img.count(31, 119, 180, 0, 0, 120, 80), 20) << "no legend swatch in the top left";
  EXPECT_GT(img.count(0, 0, 0, 60, 40, 120, 80), 5) << "no legend text in the top left";
}

TEST_F(Plot, DegenerateInputsStillDraw) {
  const std::map<std::string, std::vector<double>> cases[] = {
      {}, {{"empty", {}}}, {{"one", {2.0}}}, {{"flat", {5, 5, 5}}}, {{"nan", {NAN, INFINITY}}},
      {{"huge", {1e9, 2e9}}, {"tiny", {1e-7, 3e-7}}},
      {{"extreme", {-1.7e308, 1.7e308, 1e17, 1e17 + 1e6}}}};
  for (const auto& s : cases) {
    save_loss_plot(path("d.png"), s, "title \xe2\x9c\x93 non-ASCII", {.width = 160, .height = 120});
    const Decoded img = decode(path("d.png"));
    EXPECT_EQ(img.w, 160);
    EXPECT_EQ(img.h, 120);
  }
  STRIDER_EXPECT_THROW_MSG(save_loss_plot(path("x.png"), {}, "t", {.width = 100, .height = 50}), ValueError,
                           "100 x 50");
}

TEST_F(Plot, CsvHeaderOnceThenRows) {
  {
    CsvWriter csv(path("m.csv"), {"epoch", "loss_D", "note"});
    csv.write_row(std::vector<double>{0, 1.25, 3});
    csv.write_row(std::vector<std::string>{"1", "0.5", "a, \"b\""});
  }
  CsvWriter again(path("m.csv"), {"epoch", "loss_D", "note"});  // resumes: no second header
  again.write_row(std::vector<double>{2, 0.1, NAN});
  append_csv_row(path("m.csv"), {"epoch", "loss_D", "note"}, {3, -INFINITY, 1e-300});
  EXPECT_EQ(read_file(path("m.csv")),
            "epoch,loss_D,note\n0,1.25,3\n1,0.5,\"a, \"\"b\"\"\"\n2,0.1,nan\n3,-inf,1e-300\n");
  STRIDER_EXPECT_THROW_MSG(again.write_row(std::vector<double>{1, 2}), ValueError, "2 values for 3 columns");
  STRIDER_EXPECT_THROW_MSG(CsvWriter(path("m.csv"), {"epoch", "loss_G"}), IoError, path("m.csv"), "epoch,loss_D,note",
                           "new file");
  STRIDER_EXPECT_THROW_MSG(CsvWriter(path("m.csv"), {}), ValueError, "no columns");
}

TEST_F(Plot, CsvDropsAPartialLastRowLeftByACrash) {
  testing::write_raw(path("m.csv"), "a,b\n1,2\n3,");
  CsvWriter csv(path("m.csv"), {"a", "b"});
  csv.write_row(std::vector<double>{5, 6});
  EXPECT_EQ(read_file(path("m.csv")), "a,b\n1,2\n5,6\n");
}

TEST(Csv, NumbersReadBackExactly) {
  for (double v : {0.1, 1.0 / 3.0, -2.5e-8, 12345678.9, 0.0}) EXPECT_EQ(std::stod(csv_number(v)), v) << csv_number(v);
  EXPECT_EQ(csv_number(3.0), "3");
  EXPECT_EQ(csv_escape("plain"), "plain");
  EXPECT_EQ(csv_escape("line\nbreak"), "\"line\nbreak\"");
}

}  // namespace
}  // namespace strider
