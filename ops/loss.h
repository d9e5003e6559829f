// Losses.
#pragma once

#include "tensor/tensor.h"

namespace liednet::ops {

// mean |pred - target| over all elements -> shape () scalar, as torch's
// F.l1_loss. Both inputs get gradients when they require them (a fixed target
// need not); the subgradient at pred == target is 0, as torch's sign(0).
Tensor l1_loss(const Tensor& pred, const Tensor& target);

// mean over all elements of 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta
// (d = pred - target) -> shape () scalar, as torch's F.smooth_l1_loss (the
// low-light recipe's loss, beta 1). beta must be positive. The gradient of
// each element is clamp(d / beta, -1, 1) / numel; at |d| == beta both pieces
// agree.
Tensor smooth_l1_loss(const Tensor& pred, const Tensor& target, double beta = 1.0);

}  // namespace liednet::ops
