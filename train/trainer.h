// One training run's state and its step: the network, the frozen VGG19 (when
// the perceptual weight is above zero), Adam and the learning-rate schedule.
//
// Iteration i (1-based, as BasicSR counts) trains with lr(i - 1) of the
// schedule, scaled linearly by i / warmup_iter while i < warmup_iter.
// A checkpoint holds everything a resumed run needs to continue exactly: the
// weights, Adam's moments and step count, the iteration, and the data loader's
// position (its randomness is a function of the seed and the position).
#pragma once

#include <memory>
#include <string>

#include "liednet/liednet.h"
#include "liednet/losses.h"
#include "liednet/vgg.h"
#include "nn/optim.h"
#include "train/config.h"

namespace liednet::train {

struct StepReport {
  int64_t iter = 0;  // the iteration just done
  double lr = 0;
  double total = 0, l_pix = 0, l_side_pix = 0, l_percep = 0, l_side_percep = 0;
};

struct LoaderPosition {
  int64_t epoch = 0, cursor = 0;
};

class Trainer {
 public:
  explicit Trainer(const TrainConfig& cfg);

  // One iteration on a batch (N, 3, H, W) in [-1, 1]. A non-finite loss term
  // stops with an error naming the iteration and the term, before any update.
  StepReport step(const Tensor& lq, const Tensor& gt);

  int64_t iter() const { return iter_; }
  double lr_for(int64_t iteration) const;
  net::LIEDNet& model() { return *model_; }
  const TrainConfig& config() const { return cfg_; }

  // Written to a temporary file and renamed.
  void save_checkpoint(const std::string& path, const LoaderPosition& loader) const;
  // Restores the state; returns the loader position to continue from. Errors
  // name the file: truncated, not a liednet checkpoint, another network, ...
  LoaderPosition load_checkpoint(const std::string& path);

 private:
  TrainConfig cfg_;
  Generator init_gen_;
  std::unique_ptr<net::LIEDNet> model_;
  std::unique_ptr<net::VGG19Features> vgg_;
  std::unique_ptr<nn::Adam> adam_;
  std::unique_ptr<nn::LRSchedule> schedule_;
  int64_t iter_ = 0;
};

}  // namespace liednet::train
