// Bicubic resizing of images, as torch.nn.functional.interpolate(x, size=...,
// mode='bicubic', align_corners=False) without antialias.
#pragma once

#include "tensor/tensor.h"

namespace liednet::ops {

// x (N, C, H, W) -> (N, C, out_h, out_w). Cubic convolution with A = -0.75;
// output pixel d samples the input at (d + 0.5) * (in / out) - 0.5 (not
// clamped), from the 4 nearest taps whose indices are clamped to the border.
// Linear in x; the backward scatters the same weights.
Tensor resize_bicubic(const Tensor& x, int64_t out_h, int64_t out_w);

}  // namespace liednet::ops
