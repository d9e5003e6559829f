// One training run as `liednet train` does it: pairs the data folders, builds
// the trainer and the loader, resumes from a checkpoint when asked, then
// trains, logs (stdout and JSON lines), validates, saves checkpoints and draws
// the curves under the config's experiments_root.
#pragma once

#include <string>

#include "train/config.h"

namespace liednet::train {

struct RunOptions {
  std::string resume;  // a checkpoint to continue from; empty: the config's path.resume_state, if any
};

// Returns the exit status (0); errors are exceptions.
int run_training(const TrainConfig& cfg, const RunOptions& options);

}  // namespace liednet::train
