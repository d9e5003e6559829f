// Spatial padding and cropping of (N, C, H, W) maps, for running the network on
// images whose sides are not multiples of 8: pad, run, crop back.
#pragma once

#include "tensor/tensor.h"

namespace liednet::ops {

// Mirror padding without repeating the edge (torch's 'reflect'): for a row
// a b c d, padding 2 on the right gives a b c d c b. Pads larger than the side
// keep mirroring back and forth; a side of 1 repeats its one value.
Tensor pad_reflect(const Tensor& x, int64_t top, int64_t bottom, int64_t left, int64_t right);

// The window [top, top + h) x [left, left + w) of x.
Tensor crop(const Tensor& x, int64_t top, int64_t left, int64_t h, int64_t w);

}  // namespace liednet::ops
