#include "liednet/losses.h"

#include "autograd/autograd.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/resize.h"

namespace liednet::net {

Tensor side_target(const Tensor& gt) {
  LIEDNET_CHECK(gt.ndim() == 4 && gt.size(2) % 8 == 0 && gt.size(3) % 8 == 0,
                "side_target: gt must be (N, 3, H, W) with H and W multiples of 8, got ", gt.str());
  autograd::NoGradGuard no_grad;
  return ops::resize_bicubic(gt.detach(), gt.size(2) / 8, gt.size(3) / 8);
}

Tensor perceptual_loss(const VGG19Features& vgg, const Tensor& x, const Tensor& y, const LossConfig& cfg) {
  std::array<Tensor, 4> fy;
  {
    autograd::NoGradGuard no_grad;
    fy = vgg.forward(y.detach());
  }
  const std::array<Tensor, 4> fx = vgg.forward(x);
  Tensor total;
  for (int l = 0; l < 4; ++l) {
    if (cfg.layer_weights[l] == 0) continue;
    Tensor term = ops::scale(ops::l1_loss(fx[l], fy[l]), cfg.layer_weights[l]);
    total = total.defined() ? ops::add(total, term) : term;
  }
  LIEDNET_CHECK(total.defined(), "perceptual_loss: every layer weight is 0");
  return ops::scale(total, cfg.perceptual_weight);
}

LossTerms compute_loss(const LIEDNetOutput& out, const Tensor& gt, const VGG19Features* vgg, const LossConfig& cfg) {
  LIEDNET_CHECK(out.out.shape() == gt.shape(), "loss: output ", out.out.str(), " and target ", gt.str(), " differ");
  const bool percep = cfg.perceptual_weight > 0;
  LIEDNET_CHECK(!percep || vgg, "loss: the perceptual weight is ", cfg.perceptual_weight, " but no VGG19 is loaded");
  LIEDNET_CHECK(!cfg.use_side || out.side.defined(), "loss: the side loss is on but the network gave no side output");
  LossTerms t;
  auto add = [&](const Tensor& term, double& value) {
    value = term.item();
    t.total = t.total.defined() ? ops::add(t.total, term) : term;
  };
  auto pixel = [&](const Tensor& x, const Tensor& y) {
    return cfg.smooth_l1_beta > 0 ? ops::smooth_l1_loss(x, y, cfg.smooth_l1_beta) : ops::l1_loss(x, y);
  };
  add(ops::scale(pixel(out.out, gt), cfg.pixel_weight), t.l_pix);
  Tensor side_gt = cfg.use_side ? side_target(gt) : Tensor();
  if (cfg.use_side) add(ops::scale(pixel(out.side, side_gt), cfg.pixel_weight * cfg.side_weight), t.l_side_pix);
  if (percep) {
    add(perceptual_loss(*vgg, out.out, gt, cfg), t.l_percep);
    if (cfg.use_side) add(ops::scale(perceptual_loss(*vgg, out.side, side_gt, cfg), cfg.side_weight), t.l_side_percep);
  }
  return t;
}

}  // namespace liednet::net
