// Upstream's low-light data (train_llie.py with basicsr/transform's
// DataLoaderTrain and DataLoaderVal_), for the LOL-v1, LOL-v2-synthetic and
// FiveK recipe:
// - a folder DIR holds DIR/low and DIR/high; their image files (not
//   recursive) are sorted by name and paired by position, not by name;
// - images stay in [0, 1] (the LOL-Blur recipe maps them to [-1, 1]);
// - a training image smaller than the patch is reflect-padded at the bottom
//   and right to the patch size, then a random patch is cropped and one draw
//   of 0..8 picks the orientation: 1-7 the seven flips and rotations below,
//   0 and 8 none;
// - validation runs on whole images, the input reflect-padded at the bottom
//   and right to a multiple of 16 and the output cropped back.
#pragma once

#include <string>
#include <vector>

#include "data/augment.h"
#include "data/dataset.h"

namespace liednet::data {

// DIR/low and DIR/high paired by sorted position; an error naming both
// folders when their counts differ (upstream would index past the shorter
// list), when either is missing or has no images. A pair's name is its low
// file's name.
std::vector<Pair> pair_sorted_order(const std::string& dir);

// The window `t` (crop) with orientation `draw` (0..8) as flips and a
// transpose (Transform's convention), equal to upstream's
//   1: flip rows   2: flip columns   3, 4, 5: rot90 k = 1, 2, 3 (dims H, W)
//   6: rot90(flip rows)   7: rot90(flip columns)   0, 8: unchanged.
Transform orient(Transform t, int draw);

// `image` (C, H, W) extended at the bottom and right to (C, h, w) (h >= H,
// w >= W) by reflection without repeating the edge (numpy's 'reflect', which
// PIL padding in torchvision uses), repeated as often as needed.
Tensor reflect_pad(const Tensor& image, int64_t h, int64_t w);

// (h, w) rounded up to the next multiple of `m` (unchanged when already one).
int64_t round_up(int64_t n, int64_t m);

// One training sample as upstream draws it: both images read (sizes must
// match), reflect-padded to at least a.crop, a crop window (top, then left,
// uniform) and an orientation 0..8 drawn from `rng`, values kept in [0, 1].
Sample load_llie_pair(const Pair& p, const AugmentOptions& a, Generator& rng);

}  // namespace liednet::data
