// LPIPS (VGG), the learned perceptual distance the paper reports beside PSNR
// and SSIM: torchvision's VGG16 features (`features.N`, convs at N = 0, 2, 5,
// 7, 10, 12, 14, 17, 19, 21, 24, 26, 28) and the LPIPS authors' five linear
// heads (`lin0.model.1.weight` ... `lin4.model.1.weight`, 1x1 convolutions
// without bias over 64, 128, 256, 512, 512 channels). For images x, y in
// [0, 1] (N, 3, H, W):
//   a = (2x - 1 - shift) / scale per channel, likewise b, with LPIPS's
//       shift (-0.030, -0.088, -0.188) and scale (0.458, 0.448, 0.450);
//   f_l = the ReLU outputs relu1_2, relu2_2, relu3_3, relu4_3, relu5_3;
//   u_l = f_l / (||f_l||_channels + 1e-10), likewise v_l;
//   d   = sum_l mean_{h,w} sum_c w_lc (u_lc - v_lc)^2.
// Inference only; no gradient.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "nn/layers.h"

namespace liednet::net {

class LPIPS : public nn::Module {
 public:
  explicit LPIPS(Generator& gen);  // random weights (tests); real ones with load_lpips_weights
  // (N, 3, H, W) images in [0, 1] -> (N) f64 distances (computed in the inputs' dtype, summed in f64).
  std::vector<double> distance(const Tensor& x01, const Tensor& y01) const;
  static constexpr std::array<int, 13> kConvIndices{0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28};

 private:
  std::array<Tensor, 5> features(const Tensor& x01) const;
  std::array<std::shared_ptr<nn::Conv2d>, 13> convs_;
  std::array<std::shared_ptr<nn::Conv2d>, 5> heads_;
};

// Loads the 26 VGG16 tensors and the 5 heads from one or more safetensors
// files (other keys are ignored); an error names the files and the first
// missing key.
void load_lpips_weights(LPIPS& lpips, const std::vector<std::string>& paths);

}  // namespace liednet::net
