#include "cli/explain_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "data/draw.h"
#include "data/image.h"
#include "tensor/error.h"
#include "tensor/safetensors.h"

namespace liednet::cli {

namespace {
namespace fs = std::filesystem;
namespace draw = data::draw;

// The ERF's colour: log10(1 + K m / max m) / log10(1 + K), linear near 0 and
// logarithmic over the top three decades, 0 -> 0 and max -> 1.
constexpr double kErfGain = 1000.0;
double erf_unit(double relative) { return std::log10(1.0 + kErfGain * std::max(relative, 0.0)) / std::log10(1.0 + kErfGain); }

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string shape_text(const Shape& s) {
  std::string out;
  for (int i = 0; i < s.ndim(); ++i) out += (i ? " x " : "") + std::to_string(s[i]);
  return out;
}

// The smallest integer factor that makes a side of `side` pixels at least `target` long.
int64_t enlargement(int64_t side, int64_t target) { return std::max<int64_t>(1, (target + side - 1) / std::max<int64_t>(side, 1)); }

double max_of(const Tensor& t) {
  double m = 0;
  for (double v : t.to_vector()) m = std::max(m, v);
  return m;
}

// One picture of the page: written as `file` in the folder, shown with its sentence.
struct Page {
  fs::path dir;
  std::ostringstream html;
  void figure(const std::string& file, const Tensor& picture, const std::string& caption) {
    data::write_png((dir / file).string(), picture);
    html << "<figure><img src=\"" << html_escape(file) << "\" alt=\"" << html_escape(file) << "\"><figcaption>"
         << caption << "</figcaption></figure>\n";
  }
};

// The ERF map with its log colour scale, ticks labelled in m / max m.
Tensor erf_picture(const net::StageERF& s) {
  const double top = max_of(s.map);
  const int64_t k = enlargement(s.map.size(0), 160);  // tall enough for the scale's labels
  Tensor pic = draw::colorize(s.map, [top](double m) { return top > 0 ? erf_unit(m / top) : 0.0; }, k);
  std::vector<std::pair<double, std::string>> ticks;
  for (double r : {0.0, 0.001, 0.01, 0.1, 1.0}) ticks.push_back({erf_unit(r), draw::number_label(r)});
  return draw::with_color_scale(pic, ticks);
}

std::string erf_caption(const net::StageERF& s, int64_t images, bool without_ss2d) {
  const std::string name = s.stage == "output" ? "the final output (after the global residual)" : "<code>" + s.stage + "</code>";
  std::ostringstream c;
  c << "ERF of " << name << (without_ss2d ? ", <b>every SS2D branch's output replaced by zeros</b>" : "")
    << " (output " << shape_text(s.shape) << "): the input gradient of the sum over channels of its centre pixel ("
    << s.shape[1] / 2 << ", " << s.shape[2] / 2 << "), |g| summed over the 3 input channels and averaged over "
    << images << " image" << (images == 1 ? "" : "s")
    << "; colour log10(1 + 1000 m/max)/log10(1001), the scale labelled in m/max; 20/50/90% of the mass lie within "
    << fmt("%.1f", s.radius[0]) << " / " << fmt("%.1f", s.radius[1]) << " / " << fmt("%.1f", s.radius[2])
    << " px of the centre.";
  return c.str();
}

void erf_table(std::ostream& html, const net::Explanation& e) {
  const bool both = !e.erf_without_ss2d.empty();
  html << "<table><tr><th>stage</th><th>output (C x h x w)</th><th>r20</th><th>r50</th><th>r90</th>";
  if (both) html << "<th>r20 without SS2D</th><th>r50 without SS2D</th><th>r90 without SS2D</th>";
  html << "</tr>\n";
  for (size_t i = 0; i < e.erf.size(); ++i) {
    const net::StageERF& s = e.erf[i];
    html << "<tr><td>" << s.stage << "</td><td>" << shape_text(s.shape) << "</td>";
    for (double r : s.radius) html << "<td>" << fmt("%.1f", r) << "</td>";
    if (both)
      for (double r : e.erf_without_ss2d[i].radius) html << "<td>" << fmt("%.1f", r) << "</td>";
    html << "</tr>\n";
  }
  html << "</table>\n";
}

// The four directions side by side, one linear scale from 0 to the largest value of the four.
Tensor scan_picture(const std::array<Tensor, 4>& maps) {
  double top = 0;
  for (const Tensor& m : maps) top = std::max(top, max_of(m));
  const int64_t k = enlargement(maps[0].size(0), 96);
  std::vector<Tensor> tiles;
  for (const Tensor& m : maps) tiles.push_back(draw::colorize(m, [top](double v) { return top > 0 ? v / top : 0.0; }, k));
  return draw::with_color_scale(draw::grid(tiles, 4, 4), {{0.0, "0"}, {0.5, draw::number_label(top / 2)},
                                                          {1.0, draw::number_label(top)}});
}

// The four per-direction ERFs side by side, one log scale (as the stage ERFs) from the largest of the four.
Tensor direction_erf_picture(const std::array<Tensor, 4>& maps) {
  double top = 0;
  for (const Tensor& m : maps) top = std::max(top, max_of(m));
  const int64_t k = enlargement(maps[0].size(0), 96);
  std::vector<Tensor> tiles;
  for (const Tensor& m : maps)
    tiles.push_back(draw::colorize(m, [top](double v) { return top > 0 ? erf_unit(v / top) : 0.0; }, k));
  std::vector<std::pair<double, std::string>> ticks;
  for (double r : {0.0, 0.001, 0.01, 0.1, 1.0}) ticks.push_back({erf_unit(r), draw::number_label(r)});
  return draw::with_color_scale(draw::grid(tiles, 4, 4), ticks);
}

// Each channel from its own minimum (dark) to its maximum (bright), four to a row.
Tensor mosaic_picture(const Tensor& maps) {
  const int64_t k = maps.size(0), h = maps.size(1), w = maps.size(2), f = enlargement(h, 48);
  std::vector<Tensor> tiles;
  for (int64_t c = 0; c < k; ++c) {
    std::vector<double> v(maps.data<double>() + c * h * w, maps.data<double>() + (c + 1) * h * w);
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    const double a = *lo, span = *hi - *lo;
    tiles.push_back(draw::colorize(Tensor::from_vector({h, w}, v, DType::F64),
                                   [a, span](double x) { return span > 0 ? (x - a) / span : 0.0; }, f));
  }
  return draw::grid(tiles, 4, 2);
}

// Image i of (N, 3, h, w) as a (3, h, w) picture in [0, 1].
Tensor image_of(const Tensor& batch, int64_t i, bool model_range) {
  const int64_t h = batch.size(2), w = batch.size(3);
  Tensor out = Tensor::empty({3, h, w});
  std::copy(batch.data<float>() + i * 3 * h * w, batch.data<float>() + (i + 1) * 3 * h * w, out.data<float>());
  return model_range ? data::to_unit_range(out) : out;
}

const char* kStyle =
    "body{font-family:sans-serif;max-width:1200px;margin:1.5em auto;padding:0 1em;color:#222}"
    "figure{display:inline-block;vertical-align:top;margin:0 1.2em 1.5em 0;max-width:560px}"
    "figcaption{font-size:.85em;color:#444;margin-top:.3em}img{image-rendering:pixelated;max-width:100%}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
    ".pair{display:flex;flex-wrap:wrap}";
}  // namespace

std::string write_explain_report(const std::string& dir, const net::Explanation& e, const Tensor& inputs01,
                                 const net::LIEDNetConfig& config, const ExplainReportInfo& info) {
  LIEDNET_CHECK(inputs01.ndim() == 4 && inputs01.size(0) == e.images && inputs01.dtype() == DType::F32,
                "explain report: the inputs must be f32 (", e.images, ", 3, H, W), got ", inputs01.str());
  LIEDNET_CHECK(info.images.size() == static_cast<size_t>(e.images), "explain report: ", info.images.size(),
                " image names for ", e.images, " images");
  std::error_code ec;
  fs::create_directories(dir, ec);
  LIEDNET_CHECK(fs::is_directory(dir), dir, ": cannot create the output folder", ec ? ": " + ec.message() : "");

  Page page{dir, {}};
  std::ostringstream& h = page.html;
  const std::string n_images = std::to_string(e.images) + " image" + (e.images == 1 ? "" : "s");
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>liednet explain: "
    << html_escape(fs::path(info.weights).filename().string()) << "</title><style>" << kStyle << "</style></head><body>\n";
  h << "<h1>Inside LIEDNet</h1>\n<p>Weights <code>" << html_escape(info.weights) << "</code> (dim " << config.dim
    << ", blocks " << config.blocks[0] << " " << config.blocks[1] << " " << config.blocks[2] << ", refinement "
    << config.refinement << "); " << n_images << ", each the centre " << e.height << " x " << e.width
    << " crop mapped to [-1, 1]; computed on " << info.device << " in " << fmt("%.1f", info.seconds)
    << " s. All numbers are also in <a href=\"tensors.safetensors\">tensors.safetensors</a>.</p>\n";

  // ---- ERF
  h << "<h2>Effective receptive fields</h2>\n<p>How far each stage sees: the input pixels whose change moves the "
       "stage's centre pixel, from the exact input gradient (liednet's autograd). Radii are Euclidean distances "
       "in input pixels from pixel (H/2, W/2) within which 20, 50 and 90% of the map's mass lie.</p>\n";
  erf_table(h, e);
  const bool both = !e.erf_without_ss2d.empty();
  for (size_t i = 0; i < e.erf.size(); ++i) {
    const net::StageERF& s = e.erf[i];
    if (both) h << "<div class=\"pair\">\n";
    page.figure("erf_" + s.stage + ".png", erf_picture(s), erf_caption(s, e.images, false));
    if (both) {
      const net::StageERF& z = e.erf_without_ss2d[i];
      page.figure("erf_without_ss2d_" + z.stage + ".png", erf_picture(z), erf_caption(z, e.images, true));
      h << "</div>\n";
    }
  }

  // ---- scan directions
  h << "<h2>Scan directions</h2>\n<p>What each of SS2D's four scans contributes, in one block per level.</p>\n";
  for (const auto& [block, maps] : e.scan)
    page.figure("scan_" + block + ".png", scan_picture(maps),
                "Block <code>" + block + "</code>, its SS2D's four scan directions left to right: k0 row-major, k1 "
                "column-major, k2 reversed row-major, k3 reversed column-major. Each map is the mean over the "
                "channels of |y_k|, each scan step's output placed at the pixel it visited, before the four are "
                    "summed (recomputed with the plain selective scan); averaged over " + n_images +
                    ", one linear scale for the four (" + shape_text(maps[0].shape()) + " pixels at this level).");

  // ---- per-direction ERFs
  if (!e.erf_dir.empty())
    h << "<h2>What each scan direction sees</h2>\n<p>The ERF of one block per level when its SS2D keeps a single "
         "scan direction (the other three directions' outputs set to zero before they are summed; every other "
         "block unchanged). A scan only carries what it has already visited, so each direction's field lies on "
         "its own side of the centre: k0 (row-major) above and to the left along the row, k2 below and to the "
         "right, k1 (column-major) to the left and up the column, k3 to the right and down the column; blocks "
         "before this one widen each field.</p>\n";
  for (const auto& [block, maps] : e.erf_dir)
    page.figure("erf_dir_" + block + ".png", direction_erf_picture(maps),
                "ERF of block <code>" + block + "</code>'s output with its SS2D keeping only k0, k1, k2, k3 (left "
                "to right): the input gradient of the sum over channels of the block's centre pixel, |g| summed over "
                "the 3 input channels and averaged over " + n_images + "; one colour scale for the four, "
                "log10(1 + 1000 m/max)/log10(1001) with max the largest of the four.");

  // ---- LFM
  h << "<h2>LFM channel weights</h2>\n<p>The local branch re-weights channels: w = sigmoid(conv(ReLU(conv(mean over "
       "H and W of the block's normalised input)))), one weight per channel.</p>\n";
  for (const auto& [block, w] : e.lfm) {
    const std::vector<double> v = w.to_vector();
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    double mean = 0;
    for (double x : v) mean += x / static_cast<double>(v.size());
    page.figure("lfm_" + block + ".png", draw::bar_chart(v, 0.0, 1.0),
                "Block <code>" + block + "</code>: the LFM's weight of each of its " + std::to_string(v.size()) +
                    " channels (bars, channel 0 on the left), averaged over " + n_images + "; mean " +
                    fmt("%.3f", mean) + ", min " + fmt("%.3f", *lo) + ", max " + fmt("%.3f", *hi) + ".");
  }

  // ---- features
  h << "<h2>Feature maps</h2>\n<p>Stage outputs of the first image, <code>" << html_escape(info.images.front())
    << "</code>.</p>\n";
  for (const net::Explanation::Features& f : e.features) {
    std::string list;
    for (size_t i = 0; i < f.channels.size(); ++i) list += (i ? ", " : "") + std::to_string(f.channels[i]);
    page.figure("features_" + f.stage + ".png", mosaic_picture(f.maps),
                "Stage <code>" + f.stage + "</code>, first image: the " + std::to_string(f.channels.size()) +
                    " channels with the largest mean |activation| over all images and pixels (channels " + list +
                    ", left to right, top to bottom), each coloured from its own minimum (dark) to its maximum "
                    "(bright).");
  }

  // ---- outputs
  h << "<h2>Outputs</h2>\n";
  for (int64_t i = 0; i < e.images; ++i) {
    const Tensor side = draw::enlarge(image_of(e.side, i, true), 8);
    page.figure("outputs_" + std::to_string(i) + ".png",
                draw::grid({image_of(inputs01, i, false), side, image_of(e.output, i, true)}, 3, 4),
                "<code>" + html_escape(info.images[i]) + "</code>: the input crop, the x8 side output (enlarged 8x, "
                "nearest neighbour) and the final output, both mapped from [-1, 1] to [0, 1] and clamped.");
  }
  h << "</body></html>\n";

  // ---- tensors
  std::vector<std::pair<std::string, Tensor>> tensors;
  auto add_erf = [&](const std::vector<net::StageERF>& maps, const std::string& prefix) {
    for (const net::StageERF& s : maps) {
      tensors.push_back({prefix + "." + s.stage, s.map.to(DType::F32)});
      tensors.push_back({prefix + "_radius." + s.stage,
                         Tensor::from_vector({3}, {s.radius[0], s.radius[1], s.radius[2]})});
    }
  };
  add_erf(e.erf, "erf");
  add_erf(e.erf_without_ss2d, "erf_without_ss2d");
  for (const auto& [block, maps] : e.scan)
    for (int k = 0; k < 4; ++k) tensors.push_back({"scan." + block + ".k" + std::to_string(k), maps[k].to(DType::F32)});
  for (const auto& [block, maps] : e.erf_dir)
    for (int k = 0; k < 4; ++k) tensors.push_back({"erf_dir." + block + ".k" + std::to_string(k), maps[k].to(DType::F32)});
  for (const auto& [block, w] : e.lfm) tensors.push_back({"lfm." + block, w.to(DType::F32)});
  save_safetensors((page.dir / "tensors.safetensors").string(), tensors,
                   {{"weights", info.weights}, {"images", std::to_string(e.images)},
                    {"size", std::to_string(e.height) + " " + std::to_string(e.width)}});

  const std::string index = (page.dir / "index.html").string();
  write_file_atomically(index, h.str());
  return index;
}

}  // namespace liednet::cli
