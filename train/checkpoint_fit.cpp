#include "train/checkpoint_fit.h"

namespace liednet::train {

nlohmann::json fit_record(const TrainConfig& cfg, int64_t training_pairs) {
  return {
      {"datasets.train.batch_size_per_gpu", cfg.train.batch_size},
      {"datasets.train.crop_size", cfg.train.crop_size},
      {"datasets.train.use_flip", cfg.train.use_flip},
      {"datasets.train.use_rot", cfg.train.use_rot},
      {"datasets.train.use_shuffle", cfg.train.use_shuffle},
      {"datasets.train pairs", training_pairs},
      {"manual_seed", cfg.manual_seed},
      {"train.optim_g.lr", cfg.adam.lr},
      {"train.scheduler.type", cfg.scheduler},
      {"train.scheduler.periods", cfg.periods},
      {"train.scheduler.restart_weights", cfg.restart_weights},
      {"train.scheduler.eta_min", cfg.eta_min},
      {"train.scheduler.milestones", cfg.milestones},
      {"train.scheduler.gamma", cfg.gamma},
      {"train.scheduler.restarts", cfg.restarts},
      {"train.warmup_iter", cfg.warmup_iter},
  };
}

std::vector<FitChange> compare_fit(const nlohmann::json& checkpoint, const nlohmann::json& config) {
  std::vector<FitChange> out;
  if (!checkpoint.is_object() || !config.is_object()) return out;
  for (auto it = config.begin(); it != config.end(); ++it) {
    auto saved = checkpoint.find(it.key());
    if (saved == checkpoint.end() || *saved == it.value()) continue;
    out.push_back({it.key(), saved->dump(), it.value().dump()});
  }
  return out;
}

std::string describe(const std::vector<FitChange>& changes) {
  std::string s;
  for (const FitChange& c : changes) {
    if (!s.empty()) s += "; ";
    s += c.key + ": the checkpoint has " + c.checkpoint + ", the config " + c.config;
  }
  return s;
}

}  // namespace liednet::train
