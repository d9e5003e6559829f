#include "data/synth.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "data/dataset.h"
#include "data/image.h"
#include "ops/pad.h"
#include "tensor/error.h"
#include "tensor/parallel.h"
#include "tensor/safetensors.h"

namespace liednet::data {

namespace fs = std::filesystem;

// ---- parameters --------------------------------------------------------------

namespace {

void check_range(const Range& r, double min, double max, const std::string& where, const char* key) {
  LIEDNET_CHECK(std::isfinite(r.lo) && std::isfinite(r.hi) && r.lo <= r.hi, where, ": ", key,
                " must be [lo, hi] with lo <= hi, got [", r.lo, ", ", r.hi, "]");
  LIEDNET_CHECK(r.lo >= min && r.hi <= max, where, ": ", key, " must lie in [", min, ", ", max, "], got [", r.lo,
                ", ", r.hi, "]");
}

void check_value(double v, double min, double max, const std::string& where, const char* key) {
  LIEDNET_CHECK(std::isfinite(v) && v >= min && v <= max, where, ": ", key, " must lie in [", min, ", ", max,
                "], got ", v);
}

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  const size_t b = s.find_last_not_of(" \t\r");
  return s.substr(a, b - a + 1);
}

bool parse_number(const std::string& text, double* out) {
  const std::string t = trim(text);
  if (t.empty()) return false;
  char* end = nullptr;
  *out = std::strtod(t.c_str(), &end);
  return *end == '\0' && std::isfinite(*out);
}

}  // namespace

void validate(const SynthParams& p, const std::string& where) {
  check_range(p.blur_length, 0, 500, where, "blur_length");
  LIEDNET_CHECK(p.blur_steps >= 2 && p.blur_steps <= 100000, where, ": blur_steps must lie in [2, 100000], got ",
                p.blur_steps);
  check_value(p.blur_momentum, 0, 1, where, "blur_momentum");
  check_value(p.blur_jerk_prob, 0, 1, where, "blur_jerk_prob");
  check_value(p.highlight_threshold, 0, 1, where, "highlight_threshold");
  check_range(p.highlight_gain, 0, 1e4, where, "highlight_gain");
  check_range(p.exposure, 1e-6, 1, where, "exposure");
  LIEDNET_CHECK(p.exposure.lo > 0, where, ": exposure must be positive");
  check_value(p.colour_cast, 0, 1, where, "colour_cast");
  check_range(p.gamma, 0.1, 10, where, "gamma");
  check_range(p.photons, 0, 1e9, where, "photons");
  check_range(p.read_noise, 0, 1, where, "read_noise");
}

SynthParams parse_synth_config(const std::string& text, const std::string& where) {
  SynthParams p;
  std::map<std::string, Range*> ranges = {
      {"blur_length", &p.blur_length}, {"highlight_gain", &p.highlight_gain}, {"exposure", &p.exposure},
      {"gamma", &p.gamma},             {"photons", &p.photons},               {"read_noise", &p.read_noise},
  };
  std::map<std::string, double*> scalars = {
      {"blur_momentum", &p.blur_momentum},
      {"blur_jerk_prob", &p.blur_jerk_prob},
      {"highlight_threshold", &p.highlight_threshold},
      {"colour_cast", &p.colour_cast},
  };
  std::set<std::string> seen;
  std::istringstream in(text);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const std::string at = where + ":" + std::to_string(number);
    const size_t hash = line.find('#');
    const std::string body = trim(hash == std::string::npos ? line : line.substr(0, hash));
    if (body.empty() || body == "---") continue;
    const size_t colon = body.find(':');
    LIEDNET_CHECK(colon != std::string::npos, at, ": expected 'key: value', got '", body, "'");
    const std::string key = trim(body.substr(0, colon)), value = trim(body.substr(colon + 1));
    LIEDNET_CHECK(seen.insert(key).second, at, ": key '", key, "' given twice");
    if (auto r = ranges.find(key); r != ranges.end()) {
      double lo = 0, hi = 0;
      if (value.size() >= 2 && value.front() == '[' && value.back() == ']') {
        const std::string inner = value.substr(1, value.size() - 2);
        const size_t comma = inner.find(',');
        LIEDNET_CHECK(comma != std::string::npos && parse_number(inner.substr(0, comma), &lo) &&
                          parse_number(inner.substr(comma + 1), &hi),
                      at, ": ", key, " expects [lo, hi] or a number, got '", value, "'");
      } else {
        LIEDNET_CHECK(parse_number(value, &lo), at, ": ", key, " expects [lo, hi] or a number, got '", value, "'");
        hi = lo;
      }
      *r->second = {lo, hi};
    } else if (auto s = scalars.find(key); s != scalars.end()) {
      LIEDNET_CHECK(parse_number(value, s->second), at, ": ", key, " expects a number, got '", value, "'");
    } else if (key == "blur_steps") {
      double v = 0;
      LIEDNET_CHECK(parse_number(value, &v) && v == std::floor(v) && std::abs(v) < 1e9, at,
                    ": blur_steps expects an integer, got '", value, "'");
      p.blur_steps = static_cast<int64_t>(v);
    } else {
      fail(at, ": unknown key '", key, "'");
    }
  }
  validate(p, where);
  return p;
}

SynthParams load_synth_config(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  LIEDNET_CHECK(f, path, ": cannot open synth config");
  std::ostringstream s;
  s << f.rdbuf();
  return parse_synth_config(s.str(), path);
}

// ---- colour ------------------------------------------------------------------

float srgb_to_linear(float v) {
  return v <= 0.04045f ? v / 12.92f : std::pow((v + 0.055f) / 1.055f, 2.4f);
}

float linear_to_srgb(float v) {
  return v <= 0.0031308f ? v * 12.92f : 1.055f * std::pow(v, 1.0f / 2.4f) - 0.055f;
}

// ---- camera shake --------------------------------------------------------------

Tensor random_motion_kernel(const SynthParams& p, Generator& rng, double* length_out) {
  const double length = rng.uniform(p.blur_length.lo, p.blur_length.hi);
  if (length_out) *length_out = length;
  if (length < 0.5) return Tensor::ones({1, 1});

  // The path: velocity is an AR(1) process (momentum m, stationary spread 1),
  // so the path curves smoothly, slows and turns back like a shaking hand.
  const int64_t T = p.blur_steps;
  const double m = p.blur_momentum, fresh = std::sqrt(1.0 - m * m);
  std::vector<double> px(T + 1, 0.0), py(T + 1, 0.0);  // positions at the T+1 step boundaries
  double vx = rng.normal(), vy = rng.normal();
  double arc = 0;
  for (int64_t t = 1; t <= T; ++t) {
    double kick = fresh;
    if (rng.uniform() < p.blur_jerk_prob) kick *= 3.0;
    const double nx = rng.normal(), ny = rng.normal();
    vx = m * vx + kick * nx;
    vy = m * vy + kick * ny;
    px[t] = px[t - 1] + vx;
    py[t] = py[t - 1] + vy;
    arc += std::hypot(vx, vy);
  }
  if (arc < 1e-12) {  // a walk that never moved: a straight stroke instead
    for (int64_t t = 0; t <= T; ++t) px[t] = static_cast<double>(t), py[t] = 0;
    arc = static_cast<double>(T);
  }
  const double scale = length / arc;
  for (int64_t t = 0; t <= T; ++t) px[t] *= scale, py[t] *= scale;

  // Each step lasts the same time, so each segment gets weight 1/T spread
  // evenly along it in samples at most a quarter pixel apart.
  struct Sample {
    double x, y, w;
  };
  std::vector<Sample> samples;
  double cx = 0, cy = 0;
  for (int64_t t = 1; t <= T; ++t) {
    const double dx = px[t] - px[t - 1], dy = py[t] - py[t - 1];
    const int64_t n = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(std::hypot(dx, dy) / 0.25)));
    for (int64_t i = 0; i < n; ++i) {
      const double f = (i + 0.5) / static_cast<double>(n);
      const Sample s{px[t - 1] + f * dx, py[t - 1] + f * dy, 1.0 / (static_cast<double>(T) * n)};
      cx += s.w * s.x;
      cy += s.w * s.y;
      samples.push_back(s);
    }
  }
  double reach = 0;
  for (const Sample& s : samples) reach = std::max({reach, std::abs(s.x - cx), std::abs(s.y - cy)});
  const int64_t R = static_cast<int64_t>(std::ceil(reach)) + 1, K = 2 * R + 1;

  // Bilinear splatting of each sample around the centre of mass.
  std::vector<double> k(K * K, 0.0);
  for (const Sample& s : samples) {
    const double x = s.x - cx + R, y = s.y - cy + R;
    const int64_t x0 = static_cast<int64_t>(std::floor(x)), y0 = static_cast<int64_t>(std::floor(y));
    const double fx = x - x0, fy = y - y0;
    k[y0 * K + x0] += s.w * (1 - fx) * (1 - fy);
    k[y0 * K + x0 + 1] += s.w * fx * (1 - fy);
    k[(y0 + 1) * K + x0] += s.w * (1 - fx) * fy;
    k[(y0 + 1) * K + x0 + 1] += s.w * fx * fy;
  }
  double sum = 0;
  for (double v : k) sum += v;
  Tensor kernel = Tensor::empty({K, K});
  float* kd = kernel.data<float>();
  for (int64_t i = 0; i < K * K; ++i) kd[i] = static_cast<float>(k[i] / sum);
  return kernel;
}

namespace {

// Reflection about the edge pixels, as the network's padding does.
using ops::reflect_index;

void check_blur_args(const Tensor& image, const Tensor& kernel) {
  LIEDNET_CHECK(image.ndim() == 3 && image.dtype() == DType::F32, "blur: image must be f32 (C, H, W), got ",
                image.str());
  LIEDNET_CHECK(kernel.ndim() == 2 && kernel.size(0) == kernel.size(1) && kernel.size(0) % 2 == 1 &&
                    kernel.dtype() == DType::F32,
                "blur: kernel must be f32 (K, K) with K odd, got ", kernel.str());
}

}  // namespace

Tensor blur(const Tensor& image, const Tensor& kernel) {
  check_blur_args(image, kernel);
  const int64_t C = image.size(0), H = image.size(1), W = image.size(2);
  const int64_t K = kernel.size(0), R = K / 2;
  // Taps as offsets into the source: out(y, x) = sum k(i, j) in(y + R - i, x + R - j).
  struct Tap {
    int64_t dy, dx;
    float w;
  };
  std::vector<Tap> taps;
  const float* kd = kernel.data<float>();
  for (int64_t i = 0; i < K; ++i)
    for (int64_t j = 0; j < K; ++j)
      if (kd[i * K + j] != 0.0f) taps.push_back({R - i, R - j, kd[i * K + j]});

  Tensor out = Tensor::zeros({C, H, W});
  const float* src = image.data<float>();
  float* dst = out.data<float>();
  parallel_for(0, C * H, 16, [&](int64_t row) {
    const int64_t c = row / H, y = row % H;
    float* o = dst + row * W;
    for (const Tap& t : taps) {
      const float* s = src + (c * H + reflect_index(y + t.dy, H)) * W;
      // Columns whose source x + dx is inside the row run as one plain loop.
      const int64_t lo = std::clamp<int64_t>(-t.dx, 0, W), hi = std::clamp<int64_t>(W - t.dx, lo, W);
      for (int64_t x = 0; x < lo; ++x) o[x] += t.w * s[reflect_index(x + t.dx, W)];
      for (int64_t x = lo; x < hi; ++x) o[x] += t.w * s[x + t.dx];
      for (int64_t x = hi; x < W; ++x) o[x] += t.w * s[reflect_index(x + t.dx, W)];
    }
  });
  return out;
}

Tensor blur_reference(const Tensor& image, const Tensor& kernel) {
  check_blur_args(image, kernel);
  const int64_t C = image.size(0), H = image.size(1), W = image.size(2);
  const int64_t K = kernel.size(0), R = K / 2;
  Tensor out = Tensor::empty({C, H, W});
  const float* src = image.data<float>();
  const float* kd = kernel.data<float>();
  float* dst = out.data<float>();
  for (int64_t c = 0; c < C; ++c)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        double acc = 0;
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < K; ++j)
            acc += static_cast<double>(kd[i * K + j]) *
                   src[(c * H + reflect_index(y + R - i, H)) * W + reflect_index(x + R - j, W)];
        dst[(c * H + y) * W + x] = static_cast<float>(acc);
      }
  return out;
}

// ---- sensor noise --------------------------------------------------------------

namespace {

// log(k!) : a table for small k, Stirling's series above (error < 1e-10 there).
double log_factorial(double k) {
  static const double table[10] = {0.0,
                                   0.0,
                                   0.69314718055994531,
                                   1.79175946922805500,
                                   3.17805383034794562,
                                   4.78749174278204599,
                                   6.57925121201010100,
                                   8.52516136106541430,
                                   10.60460290274525023,
                                   12.80182748008146961};
  if (k < 10) return table[static_cast<int>(k)];
  const double x = k + 1, x2 = x * x;
  return (x - 0.5) * std::log(x) - x + 0.91893853320467274 + 1.0 / (12 * x) - 1.0 / (360 * x * x2) +
         1.0 / (1260 * x * x2 * x2);
}

// A Poisson draw: inversion for small means, Hörmann's transformed rejection
// (PTRS, 1993) for means of 10 and more, whose cost does not grow with the mean.
double poisson(double mean, Generator& rng) {
  if (mean <= 0) return 0;
  if (mean < 10) {
    const double u = rng.uniform();
    double p = std::exp(-mean), cdf = p, k = 0;
    while (u > cdf && k < 1000) {
      k += 1;
      p *= mean / k;
      cdf += p;
    }
    return k;
  }
  const double s = std::sqrt(mean), log_mean = std::log(mean);
  const double b = 0.931 + 2.53 * s, a = -0.059 + 0.02483 * b;
  const double inv_alpha = 1.1239 + 1.1328 / (b - 3.4), v_r = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const double u = rng.uniform() - 0.5, v = rng.uniform();
    const double us = 0.5 - std::abs(u);
    if (us <= 0) continue;
    const double k = std::floor((2 * a / us + b) * u + mean + 0.43);
    if (us >= 0.07 && v <= v_r) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (std::log(v * inv_alpha / (a / (us * us) + b)) <= -mean + k * log_mean - log_factorial(k)) return k;
  }
}

// A draw from a range; log-uniform when asked and lo > 0. Always one uniform,
// so fixing one range does not shift the draws after it.
double draw(const Range& r, Generator& rng, bool log_uniform) {
  const double u = rng.uniform();
  if (r.lo == r.hi) return r.lo;
  if (log_uniform && r.lo > 0) return std::exp(std::log(r.lo) + u * (std::log(r.hi) - std::log(r.lo)));
  return r.lo + u * (r.hi - r.lo);
}

}  // namespace

void add_sensor_noise(Tensor& linear, double photons, double read_noise, Generator& rng) {
  LIEDNET_CHECK(linear.dtype() == DType::F32, "add_sensor_noise: needs an f32 image, got ", linear.str());
  float* d = linear.data<float>();
  for (int64_t i = 0; i < linear.numel(); ++i) {
    double v = std::max(0.0, static_cast<double>(d[i]));
    if (photons > 0) v = poisson(v * photons, rng) / photons;
    if (read_noise > 0) v += read_noise * rng.normal();
    d[i] = static_cast<float>(v);
  }
}

// ---- the whole degradation --------------------------------------------------------

Tensor degrade(const Tensor& clean01, const SynthParams& p, Generator& rng, SynthDraw* draw_out) {
  LIEDNET_CHECK(clean01.ndim() == 3 && clean01.size(0) == 3 && clean01.dtype() == DType::F32,
                "degrade: needs an f32 (3, H, W) image, got ", clean01.str());
  SynthDraw d;
  d.highlight_gain = draw(p.highlight_gain, rng, false);
  d.exposure = draw(p.exposure, rng, true);
  d.gamma = draw(p.gamma, rng, false);
  double log_cast[3], mean_log = 0;
  for (double& l : log_cast) mean_log += (l = p.colour_cast * (2 * rng.uniform() - 1)) / 3;
  for (int c = 0; c < 3; ++c) d.cast[c] = std::exp(log_cast[c] - mean_log);  // geometric mean 1
  d.photons = draw(p.photons, rng, true);
  d.read_noise = draw(p.read_noise, rng, true);
  Tensor kernel = random_motion_kernel(p, rng, &d.blur_length);
  d.kernel_size = kernel.size(0);

  const int64_t H = clean01.size(1), W = clean01.size(2), plane = H * W;
  // Linear light, the scene's tone (gamma), then light sources: a pixel whose
  // luminance passes the threshold is scaled up (fully at saturation) so that
  // after the exposure it reads highlight_gain times full scale. Luminance, not
  // the largest channel, so that skin or an orange coat with one clipped
  // channel is not taken for a lamp.
  Tensor lin = Tensor::empty({3, H, W});
  const float* src = clean01.data<float>();
  float* l = lin.data<float>();
  const double boost = std::max(1.0, d.highlight_gain / d.exposure);
  const double t = p.highlight_threshold;
  for (int64_t i = 0; i < plane; ++i) {
    float v[3];
    for (int c = 0; c < 3; ++c)
      v[c] = std::pow(srgb_to_linear(std::clamp(src[c * plane + i], 0.0f, 1.0f)), static_cast<float>(d.gamma));
    const double luma = 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];  // Rec. 709 / sRGB primaries
    const double w = luma >= 1.0 ? 1.0 : t >= 1.0 ? 0.0 : std::clamp((luma - t) / (1 - t), 0.0, 1.0);
    const float f = static_cast<float>(1.0 + (boost - 1.0) * w);
    for (int c = 0; c < 3; ++c) l[c * plane + i] = v[c] * f;
  }

  Tensor out = blur(lin, kernel);
  float* o = out.data<float>();
  for (int c = 0; c < 3; ++c) {
    const float g = static_cast<float>(d.exposure * d.cast[c]);
    for (int64_t i = 0; i < plane; ++i) o[c * plane + i] *= g;
  }
  add_sensor_noise(out, d.photons, d.read_noise, rng);
  for (int64_t i = 0; i < out.numel(); ++i) o[i] = linear_to_srgb(std::clamp(o[i], 0.0f, 1.0f));
  if (draw_out) *draw_out = d;
  return out;
}

// ---- crops and sizes -----------------------------------------------------------

namespace {

// Per output index along one axis: the first input index it covers and the
// weights of the inputs from there on (summing to 1).
struct AreaTaps {
  std::vector<int64_t> first;
  std::vector<std::vector<float>> weights;
};

AreaTaps area_taps(int64_t in, int64_t out) {
  AreaTaps taps;
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  for (int64_t o = 0; o < out; ++o) {
    const double a = o * scale, b = std::min(static_cast<double>(in), (o + 1) * scale);
    const int64_t first = std::min(in - 1, static_cast<int64_t>(std::floor(a)));
    std::vector<float> w;
    for (int64_t i = first; i < in && i < b; ++i) {
      const double overlap = std::min(b, i + 1.0) - std::max(a, static_cast<double>(i));
      w.push_back(static_cast<float>(std::max(0.0, overlap) / (b - a)));
    }
    taps.first.push_back(first);
    taps.weights.push_back(std::move(w));
  }
  return taps;
}

Tensor crop(const Tensor& image, int64_t y0, int64_t x0, int64_t h, int64_t w) {
  const int64_t C = image.size(0), H = image.size(1), W = image.size(2);
  Tensor out = Tensor::empty({C, h, w});
  const float* s = image.data<float>();
  float* d = out.data<float>();
  for (int64_t c = 0; c < C; ++c)
    for (int64_t y = 0; y < h; ++y) std::copy_n(s + (c * H + y0 + y) * W + x0, w, d + (c * h + y) * w);
  return out;
}

}  // namespace

Tensor resize_area(const Tensor& image, int64_t out_h, int64_t out_w) {
  LIEDNET_CHECK(image.ndim() == 3 && image.dtype() == DType::F32, "resize_area: image must be f32 (C, H, W), got ",
                image.str());
  LIEDNET_CHECK(out_h > 0 && out_w > 0, "resize_area: output size must be positive, got ", out_h, "x", out_w);
  const int64_t C = image.size(0), H = image.size(1), W = image.size(2);
  const AreaTaps th = area_taps(H, out_h), tw = area_taps(W, out_w);
  Tensor rows = Tensor::zeros({C, H, out_w});  // width first
  const float* s = image.data<float>();
  float* r = rows.data<float>();
  for (int64_t cy = 0; cy < C * H; ++cy)
    for (int64_t x = 0; x < out_w; ++x) {
      float acc = 0;
      const std::vector<float>& w = tw.weights[x];
      for (size_t k = 0; k < w.size(); ++k) acc += w[k] * s[cy * W + tw.first[x] + static_cast<int64_t>(k)];
      r[cy * out_w + x] = acc;
    }
  Tensor out = Tensor::zeros({C, out_h, out_w});
  float* d = out.data<float>();
  for (int64_t c = 0; c < C; ++c)
    for (int64_t y = 0; y < out_h; ++y) {
      const std::vector<float>& w = th.weights[y];
      for (size_t k = 0; k < w.size(); ++k) {
        const float* row = r + (c * H + th.first[y] + static_cast<int64_t>(k)) * out_w;
        for (int64_t x = 0; x < out_w; ++x) d[(c * out_h + y) * out_w + x] += w[k] * row[x];
      }
    }
  return out;
}

// ---- the tree ----------------------------------------------------------------

uint64_t synth_seed(uint64_t seed, uint64_t index) {
  auto mix = [](uint64_t z) {  // splitmix64's finaliser
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  return mix(mix(seed) ^ index);
}

std::vector<std::string> list_images(const std::string& folder, const std::string& skip,
                                     std::vector<std::string>* problems) {
  std::error_code ec;
  LIEDNET_CHECK(fs::exists(folder, ec), folder, ": no such folder");
  LIEDNET_CHECK(fs::is_directory(folder, ec), folder, ": not a folder");
  std::vector<std::string> found_problems;
  std::vector<std::string> found = walk_images(folder, &found_problems, skip);
  if (problems) problems->insert(problems->end(), found_problems.begin(), found_problems.end());
  return found;
}

namespace {

struct Made {
  std::string name;
  int64_t y0 = 0, x0 = 0, h = 0, w = 0;  // the crop, in the photo's pixels
  SynthDraw draw;
};

// A random crop with the output's aspect ratio, between the output size and the
// largest that fits, resized (area) to the output size. Photos smaller than the
// output give their largest crop, scaled up.
Tensor crop_to_size(const Tensor& photo, int64_t out_h, int64_t out_w, Generator& rng, Made* made) {
  const int64_t H = photo.size(1), W = photo.size(2);
  const double fit = std::min(static_cast<double>(H) / out_h, static_cast<double>(W) / out_w);
  const double f = fit <= 1 ? fit : rng.uniform(1.0, fit);
  const int64_t h = std::clamp<int64_t>(std::llround(out_h * f), 1, H), w = std::clamp<int64_t>(std::llround(out_w * f), 1, W);
  const int64_t y0 = static_cast<int64_t>(rng.below(static_cast<uint64_t>(H - h + 1)));
  const int64_t x0 = static_cast<int64_t>(rng.below(static_cast<uint64_t>(W - w + 1)));
  made->y0 = y0;
  made->x0 = x0;
  made->h = h;
  made->w = w;
  Tensor region = crop(photo, y0, x0, h, w);
  return h == out_h && w == out_w ? region : resize_area(region, out_h, out_w);
}

}  // namespace

SynthTreeResult write_synth_tree(const SynthTreeOptions& o) {
  validate(o.params);
  LIEDNET_CHECK(o.count >= 0, "synth: --count must not be negative, got ", o.count);
  LIEDNET_CHECK((o.size_h == 0) == (o.size_w == 0) && o.size_h >= 0 && o.size_w >= 0,
                "synth: --size must be positive, got ", o.size_h, "x", o.size_w);
  SynthTreeResult result;
  const std::vector<std::string> photos = list_images(o.input, o.output, &result.bad);
  LIEDNET_CHECK(!photos.empty(), o.input, ": no images (.png, .jpg, .jpeg, .bmp) found",
                result.bad.empty() ? std::string() : " that could be read: " + result.bad[0]);
  const int64_t P = static_cast<int64_t>(photos.size());
  const int64_t N = o.count > 0 ? o.count : P;

  result.photos = P;
  std::map<std::string, std::string> taken;  // output name -> photo
  for (int64_t i = 0; i < N; ++i) {
    const fs::path rel(photos[i % P]);
    fs::path name = rel;
    if (N <= P) name.replace_extension(".png");
    else name = rel.parent_path() / (rel.stem().string() + "_" + std::to_string(i / P) + ".png");
    const auto [it, fresh] = taken.emplace(name.generic_string(), photos[i % P]);
    LIEDNET_CHECK(fresh, o.input, ": ", photos[i % P], " and ", it->second, " would both be written as ",
                  it->first);
    result.names.push_back(name.generic_string());
  }
  const fs::path out(o.output), low = out / "low_blur_noise", high = out / "high_sharp_scaled";
  for (const std::string& name : result.names) {
    fs::create_directories((low / name).parent_path());
    fs::create_directories((high / name).parent_path());
  }

  // Each output has its own Generator, so the files do not depend on the thread count.
  std::vector<Made> made(N);
  std::vector<std::exception_ptr> errors(N);
  std::vector<std::string> unreadable(N);  // a photo that cannot be read: reported, the others go on
  parallel_for(0, N, 0, [&](int64_t i) {
    try {
      const std::string photo_path = (fs::path(o.input) / photos[i % P]).string();
      Generator rng(synth_seed(o.seed, static_cast<uint64_t>(i)));
      Tensor clean;
      try {
        clean = read_image(photo_path);
      } catch (const Error& e) {
        unreadable[i] = e.what();
        return;
      }
      made[i].name = result.names[i];
      if (o.size_h > 0) {
        clean = crop_to_size(clean, o.size_h, o.size_w, rng, &made[i]);
      } else {
        made[i].h = clean.size(1);
        made[i].w = clean.size(2);
      }
      Tensor low_image = degrade(clean, o.params, rng, &made[i].draw);
      write_png((low / result.names[i]).string(), low_image);
      write_png((high / result.names[i]).string(), clean);
    } catch (...) {
      errors[i] = std::current_exception();
    }
  });
  for (const std::exception_ptr& e : errors)  // a failed write (a full disk) stops here
    if (e) std::rethrow_exception(e);
  std::vector<std::string> written;
  std::set<std::string> reported;
  for (int64_t i = 0; i < N; ++i) {
    if (unreadable[i].empty()) written.push_back(result.names[i]);
    else if (reported.insert(unreadable[i]).second) result.bad.push_back(unreadable[i]);  // once per photo
  }

  std::ostringstream log;
  log << "# liednet synth: seed " << o.seed << ", " << written.size() << " pairs from " << P << " photos in "
      << o.input << "\n";
  log << "name\tphoto\tcrop_y\tcrop_x\tcrop_h\tcrop_w\tblur_length\tkernel_size\thighlight_gain\texposure\tgamma\t"
         "cast_r\tcast_g\tcast_b\tphotons\tread_noise\n";
  log.precision(6);
  for (int64_t i = 0; i < N; ++i) {
    if (!unreadable[i].empty()) continue;
    const Made& m = made[i];
    const SynthDraw& d = m.draw;
    log << m.name << '\t' << photos[i % P] << '\t' << m.y0 << '\t' << m.x0 << '\t' << m.h << '\t' << m.w << '\t'
        << d.blur_length << '\t' << d.kernel_size << '\t' << d.highlight_gain << '\t' << d.exposure << '\t' << d.gamma
        << '\t' << d.cast[0] << '\t' << d.cast[1] << '\t' << d.cast[2] << '\t' << d.photons << '\t' << d.read_noise
        << '\n';
  }
  write_file_atomically((out / "synth_log.tsv").string(), log.str());
  result.names = written;
  return result;
}

}  // namespace liednet::data
