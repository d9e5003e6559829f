// Raster drawing for analysis pictures (liednet explain): a colour map, a drawn
// colour scale, bar charts, grids, and numbers in a 5x7 pixel font. Pictures are
// f32 (3, H, W) tensors in [0, 1] on the CPU, as data::write_png takes them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace liednet::data::draw {

struct Color {
  float r = 0, g = 0, b = 0;
};

// A sequential colour map, dark to bright (near black, purple, red, orange,
// pale yellow), so that larger values read as brighter; t is clamped to [0, 1].
Color heat(double t);

// A white (or `background`) picture to draw on.
class Canvas {
 public:
  Canvas(int64_t height, int64_t width, Color background = {1, 1, 1});
  int64_t height() const { return height_; }
  int64_t width() const { return width_; }

  // The rectangle [top, top + h) x [left, left + w), clipped to the canvas.
  void fill(int64_t top, int64_t left, int64_t h, int64_t w, Color c);
  // A (3, h, w) picture with its top-left corner at (top, left), clipped.
  void paste(const Tensor& picture, int64_t top, int64_t left);
  // `s` in the 5x7 font (font_glyphs() lists the characters; others are an
  // error naming them), each font pixel `scale` x `scale`, top-left at (top, left).
  void text(const std::string& s, int64_t top, int64_t left, Color c, int64_t scale = 1);

  const Tensor& picture() const { return picture_; }  // (3, H, W)

 private:
  int64_t height_, width_;
  Tensor picture_;
};

// The characters the font has.
const std::string& font_glyphs();
// Width and height in pixels of `s` drawn at `scale` (6 pixels per character less the last gap, 7 high).
int64_t text_width(const std::string& s, int64_t scale = 1);
constexpr int64_t kTextHeight = 7;

// A number as a short label: "0", "0.5", "0.001", "1.2e-05" (printf's %.3g).
std::string number_label(double v);

// A map (h, w) (any dtype, CPU) through heat(to_unit(value)), each value a
// `scale` x `scale` block: (3, h * scale, w * scale).
Tensor colorize(const Tensor& map, const std::function<double(double)>& to_unit, int64_t scale = 1);

// `picture` with a vertical colour bar on its right, as tall as the picture,
// from heat(0) at the bottom to heat(1) at the top, and a tick with its label
// at each (position in [0, 1], label).
Tensor with_color_scale(const Tensor& picture, const std::vector<std::pair<double, std::string>>& ticks);

// A bar chart: one bar per value, bar height proportional to (value - lo) /
// (hi - lo), clamped; a value axis labelled lo, the middle and hi, and the first
// and last bar numbered 0 and size - 1 below.
Tensor bar_chart(const std::vector<double>& values, double lo, double hi, int64_t plot_height = 100);

// Pictures in rows of `columns`, left to right, separated by `gap` white pixels;
// cells as large as the largest picture.
Tensor grid(const std::vector<Tensor>& pictures, int64_t columns, int64_t gap = 4);

// Nearest-neighbour enlargement of a (3, h, w) picture by an integer factor.
Tensor enlarge(const Tensor& picture, int64_t factor);

}  // namespace liednet::data::draw
