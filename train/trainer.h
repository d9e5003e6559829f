// One training run's state and its step: the network, the frozen VGG19 (when
// the perceptual weight is above zero), Adam and the learning-rate schedule.
//
// Iteration i (1-based, as BasicSR counts) trains with lr(i - 1) of the
// schedule, scaled linearly by i / warmup_iter while i < warmup_iter.
// A checkpoint holds everything a resumed run needs to continue exactly: the
// weights, Adam's moments and step count, the iteration, and the data loader's
// position (its randomness is a function of the seed and the position).
//
// Data parallel: given a communicator, every step averages the parameters'
// gradients over the ranks after the backward and before Adam, in one call on
// one flat buffer (train/comm.h), so every rank makes the same update.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "liednet/liednet.h"
#include "liednet/losses.h"
#include "liednet/vgg.h"
#include "nn/optim.h"
#include "train/comm.h"
#include "train/config.h"

namespace liednet::train {

struct StepReport {
  int64_t iter = 0;  // the iteration just done
  double lr = 0;
  double total = 0, l_pix = 0, l_side_pix = 0, l_percep = 0, l_side_percep = 0;
};

// What a checkpoint records beside the weights and Adam: where the data
// loader stands, the world size of the run that wrote it, and the settings a
// resumed run must share (train/checkpoint_fit.h; null in older checkpoints).
struct RunPosition {
  int64_t epoch = 0, cursor = 0;  // the loader's next (global) batch
  int world_size = 1;
  nlohmann::json fit;
};

class Trainer {
 public:
  // `comm`: the ranks of a data-parallel run (not owned; null: one process).
  explicit Trainer(const TrainConfig& cfg, Communicator* comm = nullptr);

  // One iteration on a batch (N, 3, H, W) in [-1, 1]. A non-finite loss term
  // stops with an error naming the iteration and the term, before any update.
  // The report's loss terms are this rank's.
  StepReport step(const Tensor& lq, const Tensor& gt);

  // Rank `root`'s weights, Adam moments and step count, and iteration, on
  // every rank (one broadcast of one flat buffer).
  void broadcast_state(int root);
  // Milliseconds the last step spent averaging gradients (packing included).
  double last_reduce_ms() const { return reduce_ms_; }

  int64_t iter() const { return iter_; }
  double lr_for(int64_t iteration) const;
  net::LIEDNet& model() { return *model_; }
  const TrainConfig& config() const { return cfg_; }

  // Written to a temporary file and renamed.
  void save_checkpoint(const std::string& path, const RunPosition& position) const;
  // Restores the state; returns the position to continue from. Errors name
  // the file: truncated, not a liednet checkpoint, another network, ...
  RunPosition load_checkpoint(const std::string& path);

 private:
  TrainConfig cfg_;
  Generator init_gen_;
  std::unique_ptr<net::LIEDNet> model_;
  std::unique_ptr<net::VGG19Features> vgg_;
  std::unique_ptr<nn::Adam> adam_;
  std::unique_ptr<nn::LRSchedule> schedule_;
  int64_t iter_ = 0;

  void reduce_gradients();
  Communicator* comm_ = nullptr;
  std::vector<Tensor> params_;  // the trained parameters, in the flat buffer's order
  Tensor flat_grads_;           // (sum of their sizes,): one all-reduce per step
  double reduce_ms_ = 0;
};

}  // namespace liednet::train
