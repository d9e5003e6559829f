// What `liednet info` prints, by arithmetic: every stage's output shape,
// parameters and forward FLOPs for a given input size, read from the network's
// modules (their weight shapes and options) without running a forward, so any
// size answers at once and in no more memory than the weights.
//
// FLOPs are counted as the ops count them while they run (ops/flops.h):
// convolutions and linear layers (multiply-add = 2, plus bias adds), the fused
// feed-forward and the 2D scan (projections and recurrence); elementwise work
// is not counted. liednet/summary_test.cpp checks every stage against a real
// forward under ops::FlopCounter.
#pragma once

#include <string>
#include <vector>

#include "liednet/liednet.h"

namespace liednet::net {

struct StageSummary {
  std::string name;       // as LIEDNet::observer names it: "patch_embed", "encoder_level1.0", ..., "output"
  Shape output;           // at the padded size (sides rounded up to multiples of 8)
  int64_t params = 0;     // parameters of the stage's modules
  int64_t flops = 0;      // forward FLOPs of the stage
  bool training_only = false;  // side_out: not part of inference
};

struct NetworkSummary {
  std::vector<StageSummary> stages;  // in the forward's order
  int64_t params = 0;                // all parameters
  int64_t flops = 0;                 // inference FLOPs (training-only stages left out)
};

// The largest side `summarize` accepts: keeps every count inside 64 bits.
constexpr int64_t kMaxSummarySide = 65536;

// The summary of model.forward on a (1, 3, H, W) input, with the side output
// when `with_side` (H and W must then be multiples of 8).
NetworkSummary summarize(const LIEDNet& model, int64_t H, int64_t W, bool with_side);

}  // namespace liednet::net
