// Upstream's low-light recipe (train_llie.py, options/train_LOLv1.yaml) in
// liednet train. Two ways to write it:
// - upstream's own file, verbatim: top-level GPU, VERBOSE, MODEL.MODE,
//   OPTIM.{BATCH, EPOCHS, LR_INITIAL, LR_MIN}, TRAINING.{VAL_AFTER_EVERY,
//   RESUME, TRAIN_PS, VAL_PS, TRAIN_DIR, VAL_DIR, SAVE_DIR}; recognised by
//   those keys. Our additions: MODEL.PRESET (liednet | liednet-l), THREADS,
//   SEED (upstream seeds 1234), LOGGER.PRINT_FREQ.
// - BasicSR's shape (train/config.h) with datasets.train.type
//   LowLightPairedDataset (dataroot: a folder with low/ and high/),
//   train.total_epochs, train.scheduler.type GradualWarmupCosineAnnealingLR
//   (warmup_epochs, eta_min), train.pixel_opt.type SmoothL1Loss (beta) and
//   val.val_freq_epochs.
// Either way the recipe is the same (docs/training.md has both side by side).
#pragma once

#include <string>

#include <yaml-cpp/yaml.h>

#include "train/config.h"

namespace liednet::train {

// Whether `root` is upstream's train_llie.py shape (its OPTIM and TRAINING mappings).
bool is_upstream_llie_config(const YAML::Node& root);

// Reads that shape into the internal config; errors name the file and key.
TrainConfig read_upstream_llie_config(const YAML::Node& root, const std::string& path);

// Checks a BasicSR-shaped config that asks for the low-light recipe (the
// dataset type LowLightPairedDataset) and fills in what follows from it.
void finish_basicsr_llie(TrainConfig& cfg);

// The range the network is fed: "0,1" for the low-light recipe, "-1,1" for LOL-Blur's.
std::string input_range_of(const TrainConfig& cfg);

// With the number of training pairs and ranks known: the batch per rank
// (upstream's OPTIM.BATCH is the whole step's, split over the ranks as
// DataParallel splits it over GPUs; BasicSR's batch_size_per_gpu is per
// rank already), iterations per epoch
// (the loader's batches per epoch, the last incomplete batch kept), the total
// iterations, the validation and checkpoint frequencies in iterations. The
// LOL-Blur recipe comes back unchanged.
TrainConfig resolve_epochs(const TrainConfig& cfg, int64_t pairs, int world);

// The low-light schedule (nn::WarmupCosineEpochs) of a resolved config.
std::unique_ptr<nn::LRSchedule> make_llie_schedule(const TrainConfig& cfg);

}  // namespace liednet::train
