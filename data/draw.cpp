#include "data/draw.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <map>

#include "tensor/error.h"

namespace liednet::data::draw {

namespace {
constexpr int64_t kGlyphW = 5, kAdvance = 6;

// The 5x7 font: seven rows of five pixels per character, '#' on.
const std::map<char, std::array<const char*, 7>>& font() {
  static const std::map<char, std::array<const char*, 7>> glyphs = {
      {'0', {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."}},
      {'1', {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."}},
      {'2', {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"}},
      {'3', {"#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."}},
      {'4', {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."}},
      {'5', {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."}},
      {'6', {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."}},
      {'7', {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."}},
      {'8', {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."}},
      {'9', {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."}},
      {'.', {".....", ".....", ".....", ".....", ".....", ".##..", ".##.."}},
      {'-', {".....", ".....", ".....", "#####", ".....", ".....", "....."}},
      {'+', {".....", "..#..", "..#..", "#####", "..#..", "..#..", "....."}},
      {'e', {".....", ".....", ".###.", "#...#", "#####", "#....", ".###."}},
      {'%', {"##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##"}},
      {'x', {".....", ".....", "#...#", ".#.#.", "..#..", ".#.#.", "#...#"}},
      {'k', {"#....", "#....", "#..#.", "#.#..", "##...", "#.#..", "#..#."}},
      {' ', {".....", ".....", ".....", ".....", ".....", ".....", "....."}},
  };
  return glyphs;
}

void check_picture(const char* what, const Tensor& p) {
  LIEDNET_CHECK(p.defined() && p.ndim() == 3 && p.size(0) == 3 && p.dtype() == DType::F32 && p.device() == Device::CPU,
                "draw::", what, ": pictures are f32 (3, H, W) on the CPU, got ", p.defined() ? p.str() : "nothing");
}

const Color kInk{0.1f, 0.1f, 0.1f}, kGrid{0.85f, 0.85f, 0.85f}, kBar{0.2f, 0.4f, 0.7f};
}  // namespace

Color heat(double t) {
  // Anchors, evenly spaced in t; linear in between.
  static const Color anchors[] = {{0.0f, 0.0f, 0.02f},  {0.26f, 0.04f, 0.41f}, {0.58f, 0.15f, 0.40f},
                                  {0.87f, 0.32f, 0.23f}, {0.98f, 0.62f, 0.05f}, {0.98f, 0.99f, 0.64f}};
  constexpr int last = sizeof(anchors) / sizeof(anchors[0]) - 1;
  if (!(t > 0)) t = 0;  // NaN too
  t = std::min(t, 1.0) * last;
  const int i = std::min(static_cast<int>(t), last - 1);
  const float f = static_cast<float>(t - i);
  const Color &a = anchors[i], &b = anchors[i + 1];
  return {a.r + f * (b.r - a.r), a.g + f * (b.g - a.g), a.b + f * (b.b - a.b)};
}

Canvas::Canvas(int64_t height, int64_t width, Color background)
    : height_(height), width_(width), picture_(Tensor::empty({3, height, width})) {
  LIEDNET_CHECK(height > 0 && width > 0, "draw::Canvas: size must be positive, got ", height, "x", width);
  fill(0, 0, height, width, background);
}

void Canvas::fill(int64_t top, int64_t left, int64_t h, int64_t w, Color c) {
  const int64_t y0 = std::max<int64_t>(top, 0), y1 = std::min(top + h, height_);
  const int64_t x0 = std::max<int64_t>(left, 0), x1 = std::min(left + w, width_);
  float* p = picture_.data<float>();
  const float rgb[3] = {c.r, c.g, c.b};
  for (int ch = 0; ch < 3; ++ch)
    for (int64_t y = y0; y < y1; ++y) std::fill(p + (ch * height_ + y) * width_ + x0, p + (ch * height_ + y) * width_ + x1, rgb[ch]);
}

void Canvas::paste(const Tensor& picture, int64_t top, int64_t left) {
  check_picture("Canvas::paste", picture);
  const int64_t h = picture.size(1), w = picture.size(2);
  const float* s = picture.data<float>();
  float* p = picture_.data<float>();
  for (int ch = 0; ch < 3; ++ch)
    for (int64_t y = std::max<int64_t>(0, -top); y < h && top + y < height_; ++y)
      for (int64_t x = std::max<int64_t>(0, -left); x < w && left + x < width_; ++x)
        p[(ch * height_ + top + y) * width_ + left + x] = s[(ch * h + y) * w + x];
}

void Canvas::text(const std::string& s, int64_t top, int64_t left, Color c, int64_t scale) {
  for (size_t i = 0; i < s.size(); ++i) {
    auto it = font().find(s[i]);
    LIEDNET_CHECK(it != font().end(), "draw::Canvas::text: no glyph for '", s[i], "' in \"", s, "\" (the font has \"",
                  font_glyphs(), "\")");
    for (int64_t row = 0; row < kTextHeight; ++row)
      for (int64_t col = 0; col < kGlyphW; ++col)
        if (it->second[row][col] == '#')
          fill(top + row * scale, left + (static_cast<int64_t>(i) * kAdvance + col) * scale, scale, scale, c);
  }
}

const std::string& font_glyphs() {
  static const std::string all = [] {
    std::string s;
    for (const auto& [ch, rows] : font()) s += ch;
    return s;
  }();
  return all;
}

int64_t text_width(const std::string& s, int64_t scale) {
  return s.empty() ? 0 : (static_cast<int64_t>(s.size()) * kAdvance - 1) * scale;
}

std::string number_label(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

Tensor colorize(const Tensor& map, const std::function<double(double)>& to_unit, int64_t scale) {
  LIEDNET_CHECK(map.defined() && map.ndim() == 2 && map.device() == Device::CPU,
                "draw::colorize: the map must be (h, w) on the CPU, got ", map.defined() ? map.str() : "nothing");
  LIEDNET_CHECK(scale >= 1, "draw::colorize: scale must be at least 1, got ", scale);
  const int64_t h = map.size(0), w = map.size(1), H = h * scale, W = w * scale;
  const std::vector<double> v = map.to_vector();
  Tensor out = Tensor::empty({3, H, W});
  float* p = out.data<float>();
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x) {
      const Color c = heat(to_unit(v[(y / scale) * w + x / scale]));
      p[y * W + x] = c.r;
      p[(H + y) * W + x] = c.g;
      p[(2 * H + y) * W + x] = c.b;
    }
  return out;
}

Tensor with_color_scale(const Tensor& picture, const std::vector<std::pair<double, std::string>>& ticks) {
  check_picture("with_color_scale", picture);
  const int64_t h = picture.size(1), w = picture.size(2);
  const int64_t pad = kTextHeight / 2 + 1;  // room for the top and bottom labels
  const int64_t bar_left = w + 8, bar_w = 12, label_left = bar_left + bar_w + 6;
  int64_t label_w = 0;
  for (const auto& [pos, label] : ticks) label_w = std::max(label_w, text_width(label));
  Canvas c(h + 2 * pad, label_left + label_w + 2);
  c.paste(picture, pad, 0);
  for (int64_t y = 0; y < h; ++y)
    c.fill(pad + y, bar_left, 1, bar_w, heat(h == 1 ? 1.0 : 1.0 - static_cast<double>(y) / static_cast<double>(h - 1)));
  for (const auto& [pos, label] : ticks) {
    const int64_t y = pad + static_cast<int64_t>(std::lround((1.0 - std::clamp(pos, 0.0, 1.0)) * static_cast<double>(h - 1)));
    c.fill(y, bar_left + bar_w, 1, 4, kInk);
    c.text(label, y - kTextHeight / 2, label_left, kInk);
  }
  return c.picture();
}

Tensor bar_chart(const std::vector<double>& values, double lo, double hi, int64_t plot_height) {
  LIEDNET_CHECK(!values.empty(), "draw::bar_chart: no values");
  LIEDNET_CHECK(hi > lo && plot_height >= 8, "draw::bar_chart: needs hi > lo and a plot height of at least 8, got [",
                lo, ", ", hi, "] and ", plot_height);
  const int64_t n = static_cast<int64_t>(values.size());
  const int64_t bar_w = std::clamp<int64_t>(480 / n, 2, 10), gap = bar_w >= 4 ? 1 : 0;
  const std::string mid = number_label((lo + hi) / 2);
  const int64_t axis_left =
      std::max({text_width(number_label(lo)), text_width(mid), text_width(number_label(hi))}) + 6;
  const int64_t top = kTextHeight / 2 + 1, plot_w = n * bar_w;
  Canvas c(top + plot_height + 4 + kTextHeight + 2, axis_left + plot_w + 2 + text_width(std::to_string(n - 1)) / 2);
  // Gridlines and labels at lo, the middle and hi.
  for (double f : {0.0, 0.5, 1.0}) {
    const int64_t y = top + plot_height - 1 - static_cast<int64_t>(std::lround(f * static_cast<double>(plot_height - 1)));
    c.fill(y, axis_left, 1, plot_w, kGrid);
    const std::string label = number_label(lo + f * (hi - lo));
    c.text(label, y - kTextHeight / 2, axis_left - 4 - text_width(label), kInk);
  }
  for (int64_t i = 0; i < n; ++i) {
    const double f = std::clamp((values[i] - lo) / (hi - lo), 0.0, 1.0);
    const int64_t bh = static_cast<int64_t>(std::lround(f * static_cast<double>(plot_height)));
    c.fill(top + plot_height - bh, axis_left + i * bar_w, bh, bar_w - gap, kBar);
  }
  c.fill(top, axis_left - 1, plot_height, 1, kInk);             // value axis
  c.fill(top + plot_height, axis_left - 1, 1, plot_w + 1, kInk);  // baseline
  const int64_t label_top = top + plot_height + 4;
  c.text("0", label_top, axis_left + bar_w / 2 - 2, kInk);
  const std::string last = std::to_string(n - 1);
  if (n > 1) c.text(last, label_top, axis_left + (n - 1) * bar_w + bar_w / 2 - text_width(last) / 2, kInk);
  return c.picture();
}

Tensor grid(const std::vector<Tensor>& pictures, int64_t columns, int64_t gap) {
  LIEDNET_CHECK(!pictures.empty() && columns >= 1 && gap >= 0, "draw::grid: needs pictures, columns >= 1 and gap >= 0");
  int64_t cell_h = 0, cell_w = 0;
  for (const Tensor& p : pictures) {
    check_picture("grid", p);
    cell_h = std::max(cell_h, p.size(1));
    cell_w = std::max(cell_w, p.size(2));
  }
  const int64_t n = static_cast<int64_t>(pictures.size()), cols = std::min(columns, n), rows = (n + cols - 1) / cols;
  Canvas c(rows * cell_h + (rows - 1) * gap, cols * cell_w + (cols - 1) * gap);
  for (int64_t i = 0; i < n; ++i) c.paste(pictures[i], (i / cols) * (cell_h + gap), (i % cols) * (cell_w + gap));
  return c.picture();
}

Tensor enlarge(const Tensor& picture, int64_t factor) {
  check_picture("enlarge", picture);
  LIEDNET_CHECK(factor >= 1, "draw::enlarge: factor must be at least 1, got ", factor);
  const int64_t h = picture.size(1), w = picture.size(2), H = h * factor, W = w * factor;
  Tensor out = Tensor::empty({3, H, W});
  const float* s = picture.data<float>();
  float* d = out.data<float>();
  for (int64_t ch = 0; ch < 3; ++ch)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) d[(ch * H + y) * W + x] = s[(ch * h + y / factor) * w + x / factor];
  return out;
}

}  // namespace liednet::data::draw
