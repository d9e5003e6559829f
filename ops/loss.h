// Losses.
#pragma once

#include "tensor/tensor.h"

namespace liednet::ops {

// mean |pred - target| over all elements -> shape () scalar, as torch's
// F.l1_loss. Both inputs get gradients when they require them (a fixed target
// need not); the subgradient at pred == target is 0, as torch's sign(0).
Tensor l1_loss(const Tensor& pred, const Tensor& target);

}  // namespace liednet::ops
