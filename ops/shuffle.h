// Pixel shuffle: trades channels for spatial resolution (the U-Net's up- and
// downsampling), in torch's channel order.
#pragma once

#include "tensor/tensor.h"

namespace liednet::ops {

// (N, C*r*r, H, W) -> (N, C, H*r, W*r): out[n, c, h*r + i, w*r + j] = x[n, c*r*r + i*r + j, h, w].
Tensor pixel_shuffle(const Tensor& x, int64_t r = 2);
// (N, C, H*r, W*r) -> (N, C*r*r, H, W): the inverse of pixel_shuffle.
Tensor pixel_unshuffle(const Tensor& x, int64_t r = 2);

}  // namespace liednet::ops
