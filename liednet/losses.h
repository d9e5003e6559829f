// LIEDNet's training loss, as upstream's LIEDNetModel.optimize_parameters:
//   side_gt = bicubic(gt, H/8, W/8)                      (no gradient)
//   total   = w_pix L1(out, gt)          + w_side w_pix L1(side, side_gt)        L_deb and L_lle, pixel terms
//           + P(out, gt)                 + w_side P(side, side_gt)               perceptual terms
//   P(x, y) = w_per * sum_l w_l mean|f_l(x) - f_l(y)|   over conv1_2, conv2_2, conv3_4, conv4_4 of VGG19,
// the target's features carrying no gradient.
#pragma once

#include <array>

#include "liednet/liednet.h"
#include "liednet/vgg.h"

namespace liednet::net {

struct LossConfig {
  double pixel_weight = 1.0;
  double perceptual_weight = 0.01;  // 0 turns the perceptual terms (and VGG) off
  std::array<double, 4> layer_weights{1, 1, 1, 1};
  bool use_side = true;
  double side_weight = 0.8;
  // Above 0: the pixel terms are SmoothL1 with this beta (upstream's low-light
  // recipe: beta 1, no side or perceptual term) instead of L1.
  double smooth_l1_beta = 0;
};

struct LossTerms {
  Tensor total;  // scalar, with the graph
  double l_pix = 0, l_side_pix = 0, l_percep = 0, l_side_percep = 0;  // each term as added to the total
};

// The target of the side output: gt downsampled by 8 with PyTorch's bicubic (no gradient).
Tensor side_target(const Tensor& gt);

// P(x, y) as above; y's features are computed without a graph.
Tensor perceptual_loss(const VGG19Features& vgg, const Tensor& x, const Tensor& y, const LossConfig& cfg);

// vgg may be null when cfg.perceptual_weight is 0; out.side must be defined when cfg.use_side.
LossTerms compute_loss(const LIEDNetOutput& out, const Tensor& gt, const VGG19Features* vgg, const LossConfig& cfg);

}  // namespace liednet::net
