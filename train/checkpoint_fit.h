// The settings a checkpoint's run trained with that a resumed run must share
// to continue it: the batch size, crop and augmentation, the number of training
// pairs, the seed, and the learning-rate schedule. The checkpoint stores them
// (fit_record); `--resume` compares them with the config (compare_fit): a
// difference is an error naming the key and both values, and `--resume-anyway`
// continues, saying what changed. The network's shape is checked apart: weights
// of another shape cannot be resumed at all. total_iter is not among them, so
// a finished run can be extended.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "train/config.h"

namespace liednet::train {

// A flat JSON object keyed by the config's dotted keys.
nlohmann::json fit_record(const TrainConfig& cfg, int64_t training_pairs);

struct FitChange {
  std::string key, checkpoint, config;  // values as JSON text
};
// Keys in both records whose values differ; keys a record lacks (an older
// checkpoint) are not compared.
std::vector<FitChange> compare_fit(const nlohmann::json& checkpoint, const nlohmann::json& config);

// "key: the checkpoint has A, the config B; key2: ..."
std::string describe(const std::vector<FitChange>& changes);

}  // namespace liednet::train
