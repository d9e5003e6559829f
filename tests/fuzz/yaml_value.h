// The input of fuzz_yaml_value: a valid training config with one value taken
// from the fuzzer's bytes. The first byte picks the key, the rest is its value
// as written in the YAML file. Shared by the fuzz target and the corpus replay
// (tests/fuzz_corpus_test.cpp).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "tensor/error.h"
#include "train/config.h"

namespace liednet::fuzz {

// "@" is where the value goes.
inline constexpr const char* kValueSlots[] = {
    "manual_seed: @\n",
    "threads: @\n",
    "network_g: {type: LIED, dim: @}\n",
    "network_g:\n  num_blocks: @\n",
    "network_g: {num_refinement_blocks: @}\n",
    "train:\n  optim_g: {type: Adam, lr: @}\n  pixel_opt: {type: L1Loss}\n",
    "train:\n  optim_g:\n    betas: @\n  pixel_opt: {type: L1Loss}\n",
    "train:\n  scheduler:\n    type: CosineAnnealingRestartLR\n    periods: @\n    restart_weights: [1, 0.5]\n"
    "  pixel_opt: {type: L1Loss}\n",
    "train:\n  scheduler: {type: MultiStepLR, milestones: @, gamma: 0.5}\n  pixel_opt: {type: L1Loss}\n",
    "train:\n  total_iter: @\n  pixel_opt: {type: L1Loss}\n",
    "train:\n  pixel_opt: {type: L1Loss, loss_weight: @}\n",
    "train:\n  perceptual_opt:\n    type: PerceptualLoss\n    layer_weights: {conv1_2: @}\n",
    "logger: {print_freq: 1, save_checkpoint_freq: @}\n",
    "val: {val_freq: @}\n",
};
inline constexpr size_t kValueSlotCount = sizeof(kValueSlots) / sizeof(kValueSlots[0]);

inline std::string config_with_value(const uint8_t* data, size_t size) {
  std::string slot = kValueSlots[size == 0 ? 0 : data[0] % kValueSlotCount];
  const std::string value = size == 0 ? std::string() : std::string(reinterpret_cast<const char*>(data) + 1, size - 1);
  slot.replace(slot.find('@'), 1, value);
  return "datasets:\n  train: {dataroot_gt: g, dataroot_lq: l, num_worker_per_gpu: 1}\n" + slot;
}

// Parses it: a liednet::Error, or a config whose loss check and schedule give
// finite, non-negative learning rates. False when that does not hold (a bug).
inline bool value_reads_sanely(const std::string& yaml, const std::string& name) {
  try {
    const train::TrainConfig cfg = train::parse_train_config(yaml, name);
    train::check_losses(cfg);
    const auto schedule = train::make_schedule(cfg);
    for (const int64_t e : {int64_t{0}, int64_t{1}, cfg.total_iter / 2, cfg.total_iter - 1}) {
      const double lr = schedule->lr(e);
      if (!std::isfinite(lr) || lr < 0) return false;
    }
    return cfg.network.dim >= 2 && cfg.network.blocks[0] >= 1 && cfg.train.workers <= train::kMaxWorkers;
  } catch (const Error&) {
    return true;
  }
}

}  // namespace liednet::fuzz
