#include <doctest/doctest.h>

#include <cmath>

#include "data/draw.h"
#include "test_util.h"

using namespace liednet;
namespace draw = data::draw;

namespace {
// The colour at (y, x) of a (3, H, W) picture.
draw::Color pixel(const Tensor& p, int64_t y, int64_t x) {
  const int64_t H = p.size(1), W = p.size(2);
  const float* d = p.data<float>();
  return {d[y * W + x], d[(H + y) * W + x], d[(2 * H + y) * W + x]};
}
bool same(draw::Color a, draw::Color b) { return a.r == b.r && a.g == b.g && a.b == b.b; }
double luminance(draw::Color c) { return 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b; }
}  // namespace

TEST_SUITE("data") {
  TEST_CASE("draw: the heat colour map runs from dark to bright, clamped") {
    CHECK(luminance(draw::heat(0)) < 0.02);
    CHECK(luminance(draw::heat(1)) > 0.9);
    for (int i = 1; i <= 100; ++i) CHECK(luminance(draw::heat(i / 100.0)) > luminance(draw::heat((i - 1) / 100.0)));
    CHECK(same(draw::heat(-3), draw::heat(0)));
    CHECK(same(draw::heat(7), draw::heat(1)));
    CHECK(same(draw::heat(std::nan("")), draw::heat(0)));
  }

  TEST_CASE("draw: text sets exactly the glyph's pixels, at any scale") {
    draw::Canvas c(9, 20);
    c.text("1", 1, 2, {0, 0, 0});
    int64_t ink = 0;
    for (int64_t y = 0; y < 9; ++y)
      for (int64_t x = 0; x < 20; ++x) ink += pixel(c.picture(), y, x).r == 0;
    CHECK(ink == 10);  // the glyph of 1: 1 + 2 + 4 * 1 + 3 pixels
    CHECK(pixel(c.picture(), 1, 4).r == 0);   // its top pixel (row 0, column 2)
    CHECK(pixel(c.picture(), 1, 3).r == 1);
    draw::Canvas big(20, 20);
    big.text("1", 0, 0, {0, 0, 0}, 2);
    int64_t ink2 = 0;
    for (int64_t y = 0; y < 20; ++y)
      for (int64_t x = 0; x < 20; ++x) ink2 += pixel(big.picture(), y, x).r == 0;
    CHECK(ink2 == 40);
    CHECK(draw::text_width("0.01") == 23);
    CHECK_THROWS_WITH(c.text("Q", 0, 0, {}), testing::has("no glyph for 'Q'"));
  }

  TEST_CASE("draw: colorize maps each value through heat, enlarged") {
    Tensor m = Tensor::from_vector({1, 2}, {0.0, 1.0}, DType::F64);
    Tensor p = draw::colorize(m, [](double v) { return v; }, 3);
    CHECK(p.shape() == Shape{3, 3, 6});
    CHECK(same(pixel(p, 2, 2), draw::heat(0)));
    CHECK(same(pixel(p, 0, 3), draw::heat(1)));
  }

  TEST_CASE("draw: the colour scale runs from heat(0) at the bottom to heat(1) at the top, beside the picture") {
    Tensor pic = draw::colorize(Tensor::zeros({50, 40}), [](double) { return 0.5; });
    Tensor s = draw::with_color_scale(pic, {{0.0, "0"}, {1.0, "1"}});
    CHECK(s.size(2) > 40 + 12);
    const int64_t pad = (s.size(1) - 50) / 2, bar_x = 40 + 8 + 5;
    CHECK(same(pixel(s, pad, 0), draw::heat(0.5)));  // the picture itself, unchanged
    CHECK(same(pixel(s, pad, bar_x), draw::heat(1)));
    CHECK(same(pixel(s, pad + 49, bar_x), draw::heat(0)));
  }

  TEST_CASE("draw: a bar chart's bar heights are proportional to the values") {
    const int64_t plot = 40;
    Tensor chart = draw::bar_chart({0.0, 1.0, 0.5, 2.0}, 0.0, 1.0, plot);
    // Bars are the only pixels of the bar colour; count them per column.
    const draw::Color bar{0.2f, 0.4f, 0.7f};
    std::vector<int64_t> heights;
    for (int64_t x = 0; x < chart.size(2); ++x) {
      int64_t n = 0;
      for (int64_t y = 0; y < chart.size(1); ++y) n += same(pixel(chart, y, x), bar);
      if (n > 0 && (heights.empty() || heights.back() != n)) heights.push_back(n);
    }
    // value 0 draws nothing; 1 the full height; 0.5 half; 2 is clamped to the full height
    CHECK(heights == std::vector<int64_t>{plot, plot / 2, plot});
    CHECK_THROWS_WITH(draw::bar_chart({}, 0, 1), testing::has("no values"));
  }

  TEST_CASE("draw: grid places pictures in rows; enlarge repeats pixels") {
    Tensor a = Tensor::zeros({3, 2, 3}), b = Tensor::ones({3, 4, 1});
    Tensor g = draw::grid({a, b, a}, 2, 1);
    CHECK(g.shape() == Shape{3, 4 + 1 + 4, 3 + 1 + 3});
    CHECK(pixel(g, 0, 0).r == 0);
    CHECK(pixel(g, 3, 4).r == 1);   // b, in the second cell
    CHECK(pixel(g, 5, 0).r == 0);   // the third picture, second row
    CHECK(pixel(g, 0, 3).r == 1);   // the gap is white
    Tensor e = draw::enlarge(draw::colorize(Tensor::from_vector({1, 2}, {0, 1}), [](double v) { return v; }), 2);
    CHECK(e.shape() == Shape{3, 2, 4});
    CHECK(same(pixel(e, 1, 1), draw::heat(0)));
    CHECK(same(pixel(e, 1, 2), draw::heat(1)));
  }

  TEST_CASE("draw: number labels are short and use only the font's characters") {
    CHECK(draw::number_label(0) == "0");
    CHECK(draw::number_label(0.5) == "0.5");
    CHECK(draw::number_label(0.001) == "0.001");
    CHECK(draw::number_label(1.234e-5) == "1.23e-05");
    for (const char* s : {"0.001", "1.23e-05", "127", "-4"})
      for (char ch : std::string(s)) CHECK(draw::font_glyphs().find(ch) != std::string::npos);
  }
}
