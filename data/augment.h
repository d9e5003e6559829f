// Training samples: both images of a pair loaded, cropped to the same window
// and given the same flips and rotation (BasicSR's paired_random_crop then
// augment), then mapped to the network's range [-1, 1].
#pragma once

#include <string>

#include "data/dataset.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace liednet::data {

struct AugmentOptions {
  int64_t crop = 0;   // side of the square window; 0: whole images
  bool flip = false;  // horizontal flip with probability 1/2 (upstream's use_flip)
  bool rot = false;   // vertical flip, then transpose, each with probability 1/2 (upstream's use_rot)
  // Upstream's low-light recipe instead (data/llie_dataset.h): images kept in
  // [0, 1], reflect-padded to the crop, one draw of 0..8 for the orientation
  // (when flip or rot is on; neither: no orientation draw).
  bool llie = false;
};

struct Sample {
  Tensor lq, gt;  // (3, h, w) f32 in [-1, 1]
  std::string name;
};

// Where the output comes from: the window [top, top + height) x [left, left + width)
// of the source, flipped left-right (hflip), then upside down (vflip), then
// transposed (rows become columns: a 90-degree rotation combined with the flips).
struct Transform {
  int64_t top = 0, left = 0, height = 0, width = 0;
  bool hflip = false, vflip = false, transpose = false;
};

// Draws a transform for a (h, w) image, in this order: top, left (when
// cropping), hflip (when flip), vflip and transpose (when rot). `file` names
// the image in the error when it is smaller than the crop.
Transform draw_transform(int64_t h, int64_t w, const AugmentOptions& a, Generator& rng, const std::string& file);

// The transformed (3, h', w') image, with values mapped by v -> v * scale + shift
// (scale 2, shift -1 takes [0, 1] to [-1, 1]).
Tensor apply_transform(const Tensor& image, const Transform& t, float scale = 1.0f, float shift = 0.0f);

// Loads both images (their sizes must match: an error naming both files
// otherwise), draws one transform and applies it to both, then to [-1, 1].
Sample load_pair(const Pair& p, const AugmentOptions& a, Generator& rng);

}  // namespace liednet::data
