#include "liednet/diagram.h"

#include <cstdio>
#include <map>
#include <vector>

#include "autograd/autograd.h"
#include "ops/ss2d_scan.h"

namespace liednet::net {

namespace {
std::string fmt(const char* f, double a = 0, double b = 0, double c = 0, double d = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, f, a, b, c, d);
  return buf;
}

std::string escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '<') out += "&lt;";
    else if (ch == '>') out += "&gt;";
    else if (ch == '&') out += "&amp;";
    else out += ch;
  }
  return out;
}

std::string text(double x, double y, const std::string& s, int size = 12, const char* extra = "") {
  return fmt("<text x=\"%.0f\" y=\"%.0f\" font-size=\"%.0f\"", x, y, size) + extra + ">" + escape(s) + "</text>\n";
}

const char* kHeader =
    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
    "font-family=\"sans-serif\" text-anchor=\"middle\">\n";
const char* kArrowDefs =
    "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" "
    "orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#333\"/></marker></defs>\n";

struct Stage {
  std::string name, what;
  int64_t channels = 0, scale = 1, blocks = 0;  // scale: input side / stage side
  int col = 0, row = 0;
};
}  // namespace

std::string unet_svg(const LIEDNet& model, int64_t H, int64_t W) {
  LIEDNET_CHECK(H > 0 && W > 0 && H % 8 == 0 && W % 8 == 0, "unet_svg: H and W must be positive multiples of 8, got ",
                H, " ", W);
  // Channels, scales and block counts from the model itself: a forward on an 8x8 input (every stage's side
  // is a fixed fraction of the input's, so the sizes for H x W follow).
  std::map<std::string, Stage> st;
  std::vector<std::string> order;
  auto* self = const_cast<LIEDNet*>(&model);
  auto saved = self->observer;
  self->observer = [&](const std::string& name, const Tensor& y) {
    std::string level = name;
    const size_t dot = name.find('.');
    if (dot != std::string::npos) level = name.substr(0, dot);
    if (!st.count(level)) order.push_back(level);
    Stage& s = st[level];
    s.name = level;
    s.channels = y.size(1);
    s.scale = 8 / y.size(2);
    if (dot != std::string::npos) ++s.blocks;
  };
  {
    autograd::NoGradGuard no_grad;
    model.forward(Tensor::zeros({1, 3, 8, 8}, model.dtype()), true);
  }
  self->observer = saved;

  // Where each stage sits: columns left to right in forward order, rows by scale (the U), and what it does.
  const std::map<std::string, std::pair<int, const char*>> place = {
      {"patch_embed", {1, "conv 2x2 stride 2"}},  {"encoder_level1", {1, ""}},
      {"down1_2", {2, "conv 3x3, unshuffle"}},    {"encoder_level2", {2, ""}},
      {"down2_3", {3, "conv 3x3, unshuffle"}},    {"encoder_level3", {3, ""}},
      {"side_out", {4, "conv 3x3 (training)"}},   {"up3_2", {2, "conv 3x3, shuffle"}},
      {"reduce_chan_level2", {2, "cat e2, conv 1x1"}}, {"decoder_level2", {2, ""}},
      {"up2_1", {1, "conv 3x3, shuffle"}},        {"decoder_level1", {1, ""}},
      {"refinement", {1, ""}},                    {"recover", {0, "conv 3x3, shuffle"}},
      {"output", {0, "conv 3x3, + input"}}};
  int col = 1;
  for (const std::string& name : order) {
    auto it = place.find(name);
    LIEDNET_CHECK(it != place.end(), "unet_svg: a stage the diagram does not know: ", name);
    Stage& s = st[name];
    s.row = it->second.first;
    s.what = it->second.second;
    if (s.blocks) {
      s.what = fmt("%.0f Mamba block", static_cast<double>(s.blocks)) + (s.blocks > 1 ? "s" : "");
      if (name == "decoder_level1") s.what = "cat e1, " + s.what;
    }
    s.col = name == "side_out" ? st["encoder_level3"].col : col++;
  }
  const double bw = 118, bh = 58, dx = 128, dy = 96, x0 = 14, y0 = 70;
  const int ncol = col;
  const double width = x0 * 2 + dx * ncol - (dx - bw), height = y0 + dy * 5 + 10;
  auto cx = [&](const Stage& s) { return x0 + dx * s.col + bw / 2; };
  auto cy = [&](const Stage& s) { return y0 + dy * s.row + bh / 2; };

  std::string svg = fmt(kHeader, width, height, width, height);
  svg += kArrowDefs;
  svg += fmt("<rect width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n", width, height);
  svg += text(width / 2, 24,
              model.config.name + fmt(": dim %.0f, input 3 x %.0f x %.0f; each box: stage, what it does, output "
                                      "channels x height x width",
                                      static_cast<double>(model.config.dim), static_cast<double>(H),
                                      static_cast<double>(W)),
              14);
  Stage input{"input", "image, [-1, 1]", 3, 1, 0, 0, 0};
  auto box = [&](const Stage& s) {
    const double x = x0 + dx * s.col, y = y0 + dy * s.row;
    const char* fill = s.blocks ? "#dbe8f7" : (s.name == "input" ? "#eeeeee" : "#f7ecd4");
    std::string b = fmt("<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" rx=\"6\"", x, y, bw, bh) +
                    " fill=\"" + fill + "\" stroke=\"#555\"/>\n";
    b += text(x + bw / 2, y + 16, s.name, 11, " font-weight=\"bold\"");
    b += text(x + bw / 2, y + 32, s.what, 10);
    b += text(x + bw / 2, y + 48,
              fmt("%.0f x %.0f x %.0f", static_cast<double>(s.channels), static_cast<double>(H / s.scale),
                  static_cast<double>(W / s.scale)),
              11);
    return b;
  };
  auto edge = [&](const Stage& a, const Stage& b, const char* style) {
    // from a's right side to b's left side (or top/bottom when stacked)
    double xa = x0 + dx * a.col + bw, ya = cy(a), xb = x0 + dx * b.col, yb = cy(b);
    if (a.col == b.col) xa = cx(a), xb = cx(b), ya = y0 + dy * a.row + bh, yb = y0 + dy * b.row;
    return fmt("<path d=\"M%.0f,%.0f C%.0f,%.0f ", xa, ya, (xa + xb) / 2, ya) +
           fmt("%.0f,%.0f %.0f,%.0f\" fill=\"none\" stroke=\"#333\" marker-end=\"url(#arrow)\"", (xa + xb) / 2, yb, xb,
               yb) +
           style + "/>\n";
  };
  auto skip = [&](const Stage& a, const Stage& b, const std::string& label) {
    // an arc above both boxes, from a's top to b's top
    const double xa = cx(a), xb = cx(b), y = y0 + dy * a.row, top = y - 14;
    return fmt("<path d=\"M%.0f,%.0f L%.0f,%.0f ", xa, y, xa, top) +
           fmt("L%.0f,%.0f L%.0f,%.0f\" fill=\"none\" stroke=\"#2a7\" stroke-dasharray=\"5,3\" ", xb, top, xb, y) +
           "marker-end=\"url(#arrow)\"/>\n" + text((xa + xb) / 2, top - 3, label, 10, " fill=\"#2a7\"");
  };
  svg += box(input);
  Stage prev = input;
  for (const std::string& name : order) {
    const Stage& s = st[name];
    svg += box(s);
    if (name == "side_out") {
      svg += edge(st["encoder_level3"], s, " stroke-dasharray=\"2,2\"");
      continue;
    }
    svg += edge(prev, s, "");
    prev = s;
  }
  svg += skip(st["encoder_level1"], st["decoder_level1"], "skip: concatenate e1 (no reduction)");
  svg += skip(st["encoder_level2"], st["reduce_chan_level2"], "skip: concatenate e2");
  svg += skip(input, st["output"], "global residual: output = conv(...) + input");
  svg += "</svg>\n";
  return svg;
}

std::string scan_orders_svg(int64_t H, int64_t W) {
  LIEDNET_CHECK(H > 0 && W > 0 && H * W <= 400, "scan_orders_svg: the grid must be small (at most 400 cells), got ",
                H, " x ", W);
  const double cell = 40, gap = 40, x0 = 20, y0 = 56;
  const double pw = cell * W, ph = cell * H;
  const double width = x0 * 2 + 4 * pw + 3 * gap, height = y0 + ph + 20;
  const char* names[4] = {"k0: row-major", "k1: column-major", "k2: k0 reversed", "k3: k1 reversed"};
  std::string svg = fmt(kHeader, width, height, width, height);
  svg += kArrowDefs;
  svg += fmt("<rect width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n", width, height);
  svg += text(width / 2, 20,
              fmt("SS2D's four scan orders on a %.0f x %.0f map: the number in each cell is the step t that visits it",
                  static_cast<double>(H), static_cast<double>(W)),
              14);
  for (int k = 0; k < 4; ++k) {
    const double px = x0 + k * (pw + gap);
    svg += text(px + pw / 2, y0 - 10, names[k], 13, " font-weight=\"bold\"");
    for (int64_t r = 0; r < H; ++r)
      for (int64_t c = 0; c < W; ++c)
        svg += fmt("<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"#f4f4f4\" stroke=\"#999\"/>\n",
                   px + c * cell, y0 + r * cell, cell, cell);
    std::string path = "<polyline fill=\"none\" stroke=\"#c33\" stroke-width=\"2\" marker-end=\"url(#arrow)\" points=\"";
    std::string labels;
    double sx = 0, sy = 0;
    for (int64_t t = 0; t < H * W; ++t) {
      const int64_t p = ops::ss2d_pixel(k, t, H, W);
      const double x = px + (p % W) * cell + cell / 2, y = y0 + (p / W) * cell + cell / 2;
      if (t == 0) sx = x, sy = y;
      if (t) path += " ";
      path += fmt("%.0f,%.0f", x, y);
      labels += text(x - 9, y - 7, std::to_string(t), 10, " fill=\"#333\"");
    }
    svg += path + "\"/>\n";
    svg += fmt("<circle cx=\"%.0f\" cy=\"%.0f\" r=\"4\" fill=\"#c33\"/>\n", sx, sy);
    svg += labels;
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace liednet::net
