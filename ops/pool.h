// Pooling.
#pragma once

#include "tensor/tensor.h"

namespace liednet::ops {

// (N, C, H, W) -> (N, C, H/2, W/2): max over 2x2 windows with stride 2; an odd
// last row or column is dropped (floor), as torch's F.max_pool2d(x, 2, 2).
// Ties go to the first maximum in row-major window order and a NaN wins its
// window, as torch's CPU kernel; the gradient flows to the winner only.
Tensor max_pool2x2(const Tensor& x);

}  // namespace liednet::ops
