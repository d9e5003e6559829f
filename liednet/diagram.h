// Pictures drawn from the code, so they cannot drift from it (docs/architecture.md embeds them; the ctest
// entry doc_diagrams regenerates them and compares them with the committed files).
#pragma once

#include <string>

#include "liednet/liednet.h"

namespace liednet::net {

// The U-Net of `model` as an SVG: one box per stage (a level of blocks is one box with its block count),
// each with its output channels and spatial size for an H x W input, the forward's connections, the two skip
// concatenations, the global residual and the training-only side output. Channels, sizes and block counts
// come from running the model's forward on a small input and reading its observer; the connections are
// those of LIEDNet::forward_padded. H and W must be multiples of 8.
std::string unet_svg(const LIEDNet& model, int64_t H, int64_t W);

// The four scan orders of SS2D on an H x W grid (ops::ss2d_pixel): four panels, each cell numbered with
// the step that visits it, the path drawn through the cells from step 0 (a dot) to the last step (an arrow).
std::string scan_orders_svg(int64_t H, int64_t W);

}  // namespace liednet::net
