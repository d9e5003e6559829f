// Seeing inside LIEDNet: effective receptive fields (ERF), the four scan
// directions of SS2D, the LFM's channel weights and the stages' feature maps.
// `liednet explain` (cli/cmd_explain.cpp) turns the result into pictures and a
// page; everything here works on its own, on tensors, in f32 or f64.
#pragma once

#include <array>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "liednet/liednet.h"

namespace liednet::net {

// The stages whose ERF is computed, in forward order: patch_embed, encoder_level1,
// encoder_level2, encoder_level3, decoder_level2, decoder_level1, refinement and
// "output" (the final output, after the global residual). A level's output is
// its last block's.
const std::vector<std::string>& erf_stages();

// The fractions of ERF mass whose radii are reported (RepLKNet's 20/50/90%).
constexpr std::array<double, 3> kMassFractions{0.2, 0.5, 0.9};

struct StageERF {
  std::string stage;
  // (H, W) f64 on the CPU: for a stage output F (N, C, h, w), the input gradient
  // g = d(sum_c F[n, c, h/2, w/2]) / dx[n], summed as |g| over the 3 input
  // channels and averaged over the N images.
  Tensor map;
  std::array<double, 3> radius{};  // mass_radii(map)
  Shape shape;                     // the stage output's (C, h, w)
};

// The ERF of every stage of erf_stages() on images x (N, 3, H, W) in [-1, 1],
// H and W multiples of 8, on the model's device and dtype. Images go through
// the network `batch` at a time: one forward, then one backward per stage
// (images are independent in LIEDNet, so one backward gives every image's
// gradient). Gradients reach x only; the parameters' gradients are left alone.
std::vector<StageERF> effective_receptive_fields(LIEDNet& model, const Tensor& x, int64_t batch = 1);

// For each fraction f of kMassFractions, the smallest radius r (in pixels,
// Euclidean, around pixel (H/2, W/2)) such that the pixels within distance r
// hold at least f of the map's total; 0 for an all-zero map.
std::array<double, 3> mass_radii(const Tensor& map);

// The four directions of a block's SS2D on the block's input x (N, C, h, w):
// y_k (N, d, h, w) f64 on the CPU, the selective scan of direction k (k0
// row-major, k1 column-major, k2 and k3 their reverses) with each step's output
// written back to its pixel, before the merge sums them. Recomputed with the
// plain ops::selective_scan over explicitly reordered sequences, as upstream
// computes it, so that each direction can be looked at alone.
std::array<Tensor, 4> scan_directions(const LocalMambaBlock& block, const Tensor& x);

// The LFM's channel weights (N, C) (the sigmoid output) of a block on its input x (N, C, h, w).
Tensor lfm_channel_weights(const LocalMambaBlock& block, const Tensor& x);

struct ExplainOptions {
  bool without_ss2d = false;             // also the ERFs with every SS2D output replaced by zeros
  std::vector<std::string> scan_blocks;  // blocks for the scan maps; per level, the default is its first block
  bool direction_erfs = true;            // the per-direction ERFs of the scan blocks (Explanation::erf_dir)
  int64_t batch = 1;                     // images per forward: memory grows with it
  int64_t mosaic_channels = 16;          // feature channels shown per stage
  // Called after each batch: the pass ("network" or "without SS2D"), images done, images in all.
  std::function<void(const std::string& pass, int64_t done, int64_t total)> progress;
};

struct Explanation {
  int64_t images = 0, height = 0, width = 0;
  std::vector<StageERF> erf;
  std::vector<StageERF> erf_without_ss2d;  // when asked for
  // Per chosen block: mean over channels of |y_k| per direction, (h, w) f64, averaged over the images.
  std::vector<std::pair<std::string, std::array<Tensor, 4>>> scan;
  // Per chosen block (the same blocks as `scan`) and direction j = 0..3: the ERF of the block's output, as for a
  // stage (the input gradient of the sum over channels of its centre pixel, |g| summed over the 3 input
  // channels, (H, W) f64, averaged over the images), computed with that block's SS2D keeping only direction j
  // (SS2D::only_direction: the other three directions' scan outputs are zero before the merge; every other
  // block unchanged). Shows what each direction lets the block see.
  std::vector<std::pair<std::string, std::array<Tensor, 4>>> erf_dir;
  // Per block: the LFM's channel weights (C) f64, averaged over the images.
  std::vector<std::pair<std::string, Tensor>> lfm;
  // Per stage except "output": the first image's mosaic_channels channels with the
  // largest mean |activation| over all images and pixels, (k, h, w) f64, and their indices.
  struct Features {
    std::string stage;
    Tensor maps;
    std::vector<int64_t> channels;
  };
  std::vector<Features> features;
  Tensor output;  // (N, 3, H, W) f32 on the CPU, the model's range [-1, 1]
  Tensor side;    // (N, 3, H/8, W/8) f32 on the CPU: the x8 side output
};

// Everything above for images x (N, 3, H, W) in [-1, 1] on the model's device.
// The model comes back as it was (parameters' requires_grad, the SS2D switch).
Explanation explain(LIEDNet& model, const Tensor& x, const ExplainOptions& opt = {});

}  // namespace liednet::net
