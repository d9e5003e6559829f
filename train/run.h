// One training run as `liednet train` does it: pairs the data folders, builds
// the trainer and the loader, resumes from a checkpoint when asked, then
// trains, logs (stdout and JSON lines), validates, saves checkpoints and draws
// the curves under the config's experiments_root.
//
// With `--launcher mpi` the run is data parallel over the ranks an MPI
// launcher started (docs/distributed.md): rank r loads its share of every
// global batch, gradients are averaged every step, and rank 0 alone prints and
// writes files. An error on any rank ends every rank (MPI_Abort) after that
// rank's one-line error.
//
// SIGINT or SIGTERM stops after the current step with a checkpoint of it, its
// path and the command that resumes it, and returns 130 or 143 (train/interrupt.h).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "data/loader.h"
#include "train/config.h"

namespace liednet::train {

// The training loader's options as `liednet train` sets them from the config,
// for shard `shard` of `shards` (ranks).
data::LoaderOptions loader_options(const TrainConfig& cfg, int shard = 0, int shards = 1);

enum class Launcher { None, Mpi };
// "none" or "mpi" (BasicSR's --launcher); anything else is an error naming it,
// and so is "mpi" in a build without MPI.
Launcher parse_launcher(const std::string& name);

struct RunOptions {
  std::string resume;  // a checkpoint to continue from; empty: the config's path.resume_state, if any
  bool resume_anyway = false;  // continue even when the config no longer fits the checkpoint
  Launcher launcher = Launcher::None;
  std::vector<std::string> arguments;  // the command's own arguments, for the printed resume command
  // --max-iters N: stop after iteration N (the schedule stays the config's);
  // 0 builds everything (data, loader, trainer) and stops before the first
  // step. -1: the config's whole run. For trying a config on small data.
  int64_t max_iters = -1;
  // Called with each line written to train_log.jsonl ("train") or val_log.jsonl
  // ("val"), after it is written; rank 0 only. The Python module's on_log.
  std::function<void(const std::string& log, const std::string& json_line)> on_log;
};

// Returns the exit status: 0, or 130 / 143 after SIGINT / SIGTERM; errors are exceptions.
int run_training(const TrainConfig& cfg, const RunOptions& options);

}  // namespace liednet::train
