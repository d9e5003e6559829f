// Image quality metrics in two conventions (docs/data.md has the formulas).
//
// basicsr: what upstream's validation computes during training
//   (basicsr/metrics/psnr_ssim.py on tensor2img's 8-bit images).
// paper:   what the paper's numbers were computed with: upstream's
//   calculate_pair.py, i.e. pyiqa's 'psnr' and 'ssim' metrics.
//
// Images are (3, H, W) tensors, RGB, values in [0, 1] (f32; f64 is converted),
// both of one shape. Identical images have PSNR +inf (basicsr returns inf too;
// pyiqa adds 1e-8 to the MSE and would say 80 dB).
#pragma once

#include "tensor/tensor.h"

namespace liednet::data {

// 8-bit RGB (to_8bit: clamp, x255, round half to even), all three channels,
// float64: 20 log10(255 / sqrt(mse)). crop_border pixels are removed at each
// border first, as basicsr's crop_border.
double psnr_basicsr(const Tensor& a, const Tensor& b, int crop_border = 0);

// 8-bit RGB as above; per channel: SSIM with an 11x11 Gaussian window
// (sigma 1.5, normalised), C1 = (0.01*255)^2, C2 = (0.03*255)^2, the map taken
// only where the window fits inside the image (basicsr's cv2.filter2D then
// [5:-5, 5:-5]), averaged; then the mean over the three channels. Needs
// H, W >= 11 after the border crop.
double ssim_basicsr(const Tensor& a, const Tensor& b, int crop_border = 0);

// pyiqa's 'psnr' (test_y_channel=False): RGB as given, no quantisation,
// 10 log10(1 / mse) with the MSE over all channels.
double psnr_paper(const Tensor& a, const Tensor& b);

// Which channel gets which luma weight in ssim_paper.
enum class PaperLuma {
  // What pyiqa means, and our default: Y = 0.299 R + 0.587 G + 0.114 B.
  rgb,
  // As upstream's evaluation script computed the paper's numbers:
  // calculate_pair.py reads images with cv2.imread (BGR) and hands them to
  // pyiqa, which takes channel 0 as red, so Y = 0.299 B + 0.587 G + 0.114 R.
  // Like upstream's [-1, 1] validation mapping, we do not copy this by default
  // and say so; `liednet eval --convention paper-bgr` reproduces it.
  upstream_bgr,
};

// pyiqa's 'ssim' (test_y_channel=True, color_space 'yiq', downsample False):
// Y = 0.299, 0.587, 0.114 weights on [0, 1] values in float32, times 255 and
// rounded (half to even); then SSIM on that one channel as ssim_basicsr's
// (11x11 Gaussian sigma 1.5, 'valid' region, C1, C2 for range 255) except that
// the contrast-structure term is clamped at 0 (pyiqa's relu) before the
// product. Needs H, W >= 11.
double ssim_paper(const Tensor& a, const Tensor& b, PaperLuma luma = PaperLuma::rgb);

// The normalised 1-D Gaussian (11 taps, sigma 1.5) both SSIMs use; the 2-D
// window is its outer product.
const double* ssim_gaussian_taps();

// Mean SSIM over the 'valid' region of one (H, W) channel pair, values in
// [0, 255]; clamp_cs: pyiqa's relu on the contrast-structure term.
double ssim_channel(const double* x, const double* y, int64_t H, int64_t W, bool clamp_cs);

}  // namespace liednet::data
