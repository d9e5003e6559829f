// The training config the trainer and data-parallel tests share: a dim-4
// LIEDNet with one block per level, Adam at 1e-3 over a 100-iteration cosine,
// no perceptual loss (no VGG weights in the tests).
#pragma once

#include "train/config.h"

namespace liednet::testing {

inline train::TrainConfig tiny_train_config(DType dtype = DType::F32) {
  train::TrainConfig c;
  c.path = "test";
  c.network = {4, {1, 1, 1}, 1, "tiny"};
  c.adam.lr = 1e-3;
  c.total_iter = 100;
  c.periods = {100};
  c.eta_min = 1e-6;
  c.loss.perceptual_weight = 0;
  c.dtype = dtype;
  return c;
}

}  // namespace liednet::testing
