// Spatial padding and cropping of (N, C, H, W) maps, for running the network on
// images whose sides are not multiples of 8: pad, run, crop back.
#pragma once

#include "tensor/tensor.h"

namespace liednet::ops {

// Mirror padding without repeating the edge (torch's 'reflect'): for a row
// a b c d, padding 2 on the right gives a b c d c b. Pads larger than the side
// keep mirroring back and forth; a side of 1 repeats its one value.
Tensor pad_reflect(const Tensor& x, int64_t top, int64_t bottom, int64_t left, int64_t right);

// The source index of position i (which may lie outside [0, n)) under that
// mirroring: ..., 2, 1, [0, 1, ..., n-1], n-2, ..., repeated past a whole side.
inline int64_t reflect_index(int64_t i, int64_t n) {
  if (n == 1) return 0;
  const int64_t period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

// The window [top, top + h) x [left, left + w) of x.
Tensor crop(const Tensor& x, int64_t top, int64_t left, int64_t h, int64_t w);

}  // namespace liednet::ops
