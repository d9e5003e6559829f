// Running a network on an image larger than memory allows: overlapping tiles,
// blended with linear cross-fades.
//
// Along each axis the tiles start every (tile - overlap) pixels, the last one
// moved back to end at the border. A tile's weight ramps linearly from its
// inner edges over `overlap` pixels; at each pixel the weights are divided by
// their sum over the tiles covering it (two, or three where the last tile was
// moved back), so they sum to one. The 2D weight of a tile is the product of
// its row and column weights, so the weights of all tiles sum to one at every
// pixel and an identity network returns its input.
// LIEDNet is global (the scan and the channel attention see the whole input),
// so a tiled result only approximates the untiled one; a tile at least as
// large as the image gives exactly the untiled result.
#pragma once

#include <functional>
#include <vector>

#include "tensor/tensor.h"

namespace liednet::data {

struct TileSpan {
  int64_t start = 0, size = 0;
};

// Tiles along one axis of `length` pixels; 0 <= overlap <= tile / 2.
std::vector<TileSpan> tile_spans(int64_t length, int64_t tile, int64_t overlap);

// The blending weight of each pixel of span i (size spans[i].size).
std::vector<float> tile_weights(const std::vector<TileSpan>& spans, size_t i, int64_t overlap);

// f maps a (1, C, h, w) tile to a (1, C', h, w) tile; the result is (1, C', H, W).
Tensor run_tiled(const Tensor& image, int64_t tile, int64_t overlap, const std::function<Tensor(const Tensor&)>& f);

}  // namespace liednet::data
