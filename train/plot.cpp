#include "train/plot.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tensor/safetensors.h"

namespace liednet::train {

namespace {
std::string fmt(double v) {
  char buf[32];
  if (std::abs(v) >= 1000 || (std::abs(v) < 0.01 && v != 0)) std::snprintf(buf, sizeof buf, "%.2g", v);
  else std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

// One panel at (x0, y0) of size w x h: frame, ticks, the polyline and labels.
void panel(std::ostringstream& svg, double x0, double y0, double w, double h, const Series& s, const char* color) {
  svg << "<rect x='" << x0 << "' y='" << y0 << "' width='" << w << "' height='" << h
      << "' fill='white' stroke='#888'/>\n";
  svg << "<text x='" << x0 + w / 2 << "' y='" << y0 - 8 << "' text-anchor='middle' font-size='14'>" << s.label
      << "</text>\n";
  if (s.x.empty()) {
    svg << "<text x='" << x0 + w / 2 << "' y='" << y0 + h / 2 << "' text-anchor='middle' fill='#888'>no data</text>\n";
    return;
  }
  double xmin = *std::min_element(s.x.begin(), s.x.end()), xmax = *std::max_element(s.x.begin(), s.x.end());
  double ymin = *std::min_element(s.y.begin(), s.y.end()), ymax = *std::max_element(s.y.begin(), s.y.end());
  if (xmax == xmin) xmax = xmin + 1;
  if (ymax == ymin) ymax = ymin + 1;
  const double pad = 0.05 * (ymax - ymin);
  ymin -= pad;
  ymax += pad;
  auto px = [&](double v) { return x0 + (v - xmin) / (xmax - xmin) * w; };
  auto py = [&](double v) { return y0 + h - (v - ymin) / (ymax - ymin) * h; };
  for (int i = 0; i <= 4; ++i) {
    const double yv = ymin + (ymax - ymin) * i / 4, xv = xmin + (xmax - xmin) * i / 4;
    svg << "<line x1='" << x0 << "' y1='" << py(yv) << "' x2='" << x0 + w << "' y2='" << py(yv)
        << "' stroke='#eee'/>\n";
    svg << "<text x='" << x0 - 6 << "' y='" << py(yv) + 4 << "' text-anchor='end' font-size='11'>" << fmt(yv)
        << "</text>\n";
    svg << "<text x='" << px(xv) << "' y='" << y0 + h + 16 << "' text-anchor='middle' font-size='11'>" << fmt(xv)
        << "</text>\n";
  }
  svg << "<text x='" << x0 + w / 2 << "' y='" << y0 + h + 34 << "' text-anchor='middle' font-size='12'>iteration</text>\n";
  svg << "<polyline fill='none' stroke='" << color << "' stroke-width='1.5' points='";
  for (size_t i = 0; i < s.x.size(); ++i) svg << px(s.x[i]) << "," << py(s.y[i]) << " ";
  svg << "'/>\n";
  if (s.x.size() <= 60)
    for (size_t i = 0; i < s.x.size(); ++i)
      svg << "<circle cx='" << px(s.x[i]) << "' cy='" << py(s.y[i]) << "' r='2.5' fill='" << color << "'/>\n";
}
}  // namespace

Series read_series(const std::string& jsonl, const std::string& key, const std::string& label) {
  Series s{label, {}, {}};
  std::ifstream in(jsonl);
  std::string line;
  while (std::getline(in, line)) {
    try {
      const nlohmann::json j = nlohmann::json::parse(line);
      if (j.contains("iter") && j.contains(key) && j[key].is_number()) {
        s.x.push_back(j["iter"].get<double>());
        s.y.push_back(j[key].get<double>());
      }
    } catch (const std::exception&) {
    }
  }
  return s;
}

void write_curves_svg(const std::string& path, const std::string& title, const Series& loss, const Series& psnr) {
  std::ostringstream svg;
  const double W = 960, H = 400;
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H
      << "' font-family='sans-serif'>\n<rect width='100%' height='100%' fill='#fafafa'/>\n";
  svg << "<text x='" << W / 2 << "' y='24' text-anchor='middle' font-size='16'>" << title << "</text>\n";
  panel(svg, 70, 60, 380, 270, loss, "#c0392b");
  panel(svg, 560, 60, 380, 270, psnr, "#2471a3");
  svg << "</svg>\n";
  write_file_atomically(path, svg.str());
}

}  // namespace liednet::train
