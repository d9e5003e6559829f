#include "data/metrics.h"

#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "data/image.h"
#include "tensor/error.h"

namespace liednet::data {

namespace {

constexpr int kTaps = 11, kHalf = 5;
constexpr double kC1 = (0.01 * 255) * (0.01 * 255), kC2 = (0.03 * 255) * (0.03 * 255);

// Both images as f32 (3, H, W) of one shape.
std::pair<Tensor, Tensor> checked(const char* metric, const Tensor& a, const Tensor& b) {
  LIEDNET_CHECK(a.defined() && b.defined(), metric, ": undefined image");
  LIEDNET_CHECK(a.ndim() == 3 && a.size(0) == 3, metric, ": needs (3, H, W) RGB images, got ", a.str());
  LIEDNET_CHECK(a.shape() == b.shape(), metric, ": the images differ in shape: ", a.str(), " and ", b.str());
  LIEDNET_CHECK(a.numel() > 0, metric, ": empty images ", a.str());
  return {a.dtype() == DType::F32 ? a : a.to(DType::F32), b.dtype() == DType::F32 ? b : b.to(DType::F32)};
}

// One channel of an image, 8-bit levels as doubles, border removed: (H - 2c) x (W - 2c).
std::vector<double> levels(const Tensor& img, int64_t channel, int crop, const char* metric) {
  const int64_t H = img.size(1), W = img.size(2);
  LIEDNET_CHECK(crop >= 0 && H > 2 * crop && W > 2 * crop, metric, ": crop_border ", crop, " leaves nothing of ",
                img.str());
  const float* p = img.data<float>() + channel * H * W;
  std::vector<double> out;
  out.reserve((H - 2 * crop) * (W - 2 * crop));
  for (int64_t y = crop; y < H - crop; ++y)
    for (int64_t x = crop; x < W - crop; ++x) out.push_back(to_8bit(p[y * W + x]));
  return out;
}

double psnr_from_mse(double mse, double peak) {
  if (mse == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(peak * peak / mse);
}

}  // namespace

const double* ssim_gaussian_taps() {
  static const std::array<double, kTaps> taps = [] {
    std::array<double, kTaps> g{};
    double sum = 0;
    for (int i = 0; i < kTaps; ++i) sum += g[i] = std::exp(-double((i - kHalf) * (i - kHalf)) / (2 * 1.5 * 1.5));
    for (double& v : g) v /= sum;
    return g;
  }();
  return taps.data();
}

double ssim_channel(const double* x, const double* y, int64_t H, int64_t W, bool clamp_cs) {
  LIEDNET_CHECK(H >= kTaps && W >= kTaps, "ssim: the image (", H, "x", W, ") is smaller than the 11x11 window");
  const double* g = ssim_gaussian_taps();
  const int64_t oh = H - 2 * kHalf, ow = W - 2 * kHalf;
  // The window is separable: filter rows into (H, ow) maps of x, y, x^2, y^2,
  // xy, then columns into (oh, ow). Only the 'valid' outputs are computed.
  std::vector<double> rows(5 * H * ow);  // (5, H, ow)
  double* rx = rows.data();
  double* ry = rx + H * ow;
  double* rxx = ry + H * ow;
  double* ryy = rxx + H * ow;
  double* rxy = ryy + H * ow;
  for (int64_t r = 0; r < H; ++r)
    for (int64_t c = 0; c < ow; ++c) {
      double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
      const double* px = x + r * W + c;
      const double* py = y + r * W + c;
      for (int k = 0; k < kTaps; ++k) {
        const double a = px[k], b = py[k];
        sx += g[k] * a, sy += g[k] * b, sxx += g[k] * a * a, syy += g[k] * b * b, sxy += g[k] * a * b;
      }
      const int64_t o = r * ow + c;
      rx[o] = sx, ry[o] = sy, rxx[o] = sxx, ryy[o] = syy, rxy[o] = sxy;
    }
  double total = 0;
  for (int64_t r = 0; r < oh; ++r)
    for (int64_t c = 0; c < ow; ++c) {
      double mx = 0, my = 0, exx = 0, eyy = 0, exy = 0;
      for (int k = 0; k < kTaps; ++k) {
        const int64_t o = (r + k) * ow + c;
        mx += g[k] * rx[o], my += g[k] * ry[o], exx += g[k] * rxx[o], eyy += g[k] * ryy[o], exy += g[k] * rxy[o];
      }
      const double vx = exx - mx * mx, vy = eyy - my * my, cxy = exy - mx * my;
      if (clamp_cs) {
        const double cs = std::max(0.0, (2 * cxy + kC2) / (vx + vy + kC2));
        total += (2 * mx * my + kC1) / (mx * mx + my * my + kC1) * cs;
      } else {
        total += ((2 * mx * my + kC1) * (2 * cxy + kC2)) / ((mx * mx + my * my + kC1) * (vx + vy + kC2));
      }
    }
  return total / static_cast<double>(oh * ow);
}

double psnr_basicsr(const Tensor& a_in, const Tensor& b_in, int crop_border) {
  auto [a, b] = checked("psnr_basicsr", a_in, b_in);
  double sum = 0;
  int64_t n = 0;
  for (int64_t c = 0; c < 3; ++c) {
    const std::vector<double> x = levels(a, c, crop_border, "psnr_basicsr"), y = levels(b, c, crop_border, "psnr_basicsr");
    for (size_t i = 0; i < x.size(); ++i) sum += (x[i] - y[i]) * (x[i] - y[i]);
    n += static_cast<int64_t>(x.size());
  }
  return psnr_from_mse(sum / static_cast<double>(n), 255.0);
}

double ssim_basicsr(const Tensor& a_in, const Tensor& b_in, int crop_border) {
  auto [a, b] = checked("ssim_basicsr", a_in, b_in);
  const int64_t H = a.size(1) - 2 * crop_border, W = a.size(2) - 2 * crop_border;
  double sum = 0;
  for (int64_t c = 0; c < 3; ++c) {
    const std::vector<double> x = levels(a, c, crop_border, "ssim_basicsr"), y = levels(b, c, crop_border, "ssim_basicsr");
    LIEDNET_CHECK(H >= kTaps && W >= kTaps, "ssim_basicsr: the image ", a.str(), " (crop_border ", crop_border,
                  ") is smaller than the 11x11 window");
    sum += ssim_channel(x.data(), y.data(), H, W, false);
  }
  return sum / 3.0;
}

double psnr_paper(const Tensor& a_in, const Tensor& b_in) {
  auto [a, b] = checked("psnr_paper", a_in, b_in);
  const float* x = a.data<float>();
  const float* y = b.data<float>();
  double sum = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double d = static_cast<double>(x[i]) - static_cast<double>(y[i]);
    sum += d * d;
  }
  return psnr_from_mse(sum / static_cast<double>(a.numel()), 1.0);
}

namespace {
// pyiqa's to_y_channel(img, 255, 'yiq') in float32: the first row of its RGB->YIQ
// matrix applied to channels 0, 1, 2, times 255, rounded half to even.
std::vector<double> luma_levels(const Tensor& img, PaperLuma luma) {
  const int64_t plane = img.size(1) * img.size(2);
  const float* p = img.data<float>();
  const float* c0 = luma == PaperLuma::rgb ? p : p + 2 * plane;  // what pyiqa sees as red
  const float* c1 = p + plane;
  const float* c2 = luma == PaperLuma::rgb ? p + 2 * plane : p;
  // Each float32 operation rounded on its own, as numpy and torch do: the
  // volatile stores keep the compiler from fusing a product into the next sum
  // (-ffp-contract=fast is GCC's default for C++), which would move levels that
  // sit exactly on .5 (0.299 * 111 + 0.587 * 175 + 0.114 * 49 = 141.5).
  std::vector<double> out(plane);
  for (int64_t i = 0; i < plane; ++i) {
    volatile float p0 = c0[i] * 0.299f, p1 = c1[i] * 0.587f, p2 = c2[i] * 0.114f;
    volatile float s = p0 + p1;
    volatile float yv = s + p2;
    volatile float y255 = yv * 255.0f;
    out[i] = std::nearbyint(static_cast<float>(y255));
  }
  return out;
}
}  // namespace

double ssim_paper(const Tensor& a_in, const Tensor& b_in, PaperLuma luma) {
  auto [a, b] = checked("ssim_paper", a_in, b_in);
  const int64_t H = a.size(1), W = a.size(2);
  LIEDNET_CHECK(H >= kTaps && W >= kTaps, "ssim_paper: the image ", a.str(), " is smaller than the 11x11 window");
  const std::vector<double> x = luma_levels(a, luma), y = luma_levels(b, luma);
  return ssim_channel(x.data(), y.data(), H, W, true);
}

}  // namespace liednet::data
