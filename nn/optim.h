// Adam (PyTorch's update, in its order of operations) and the learning-rate
// schedules of BasicSR: CosineAnnealingRestartLR and MultiStep(Restart)LR.
#pragma once

#include <string>
#include <vector>

#include "nn/module.h"
#include "nn/state_dict.h"

namespace liednet::nn {

struct AdamOptions {
  double lr = 1e-4;
  double beta1 = 0.9, beta2 = 0.99;
  double eps = 1e-8;
  double weight_decay = 0;  // L2, added to the gradient (torch's Adam, not AdamW)
};

class Adam {
 public:
  // Optimises the parameters of `module` that require grad, by name.
  Adam(const Module& module, AdamOptions opt);
  // One update with learning rate lr from the parameters' current .grad (a
  // parameter without a gradient is skipped, as torch does).
  void step(double lr);
  void zero_grad();
  int64_t steps() const { return steps_; }
  const AdamOptions& options() const { return opt_; }

  // Moments and step count, for checkpoints: keys "exp_avg.<name>", "exp_avg_sq.<name>".
  StateDict state() const;
  void load_state(const StateDict& sd, int64_t steps, const std::string& source);

 private:
  AdamOptions opt_;
  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<Tensor> m_, v_;  // (same shapes as the parameters)
  int64_t steps_ = 0;
};

// lr(e): the learning rate for scheduler step e = 0, 1, ... BasicSR steps the
// scheduler before every iteration but the first, so iteration i (1-based)
// trains with lr(i - 1).
class LRSchedule {
 public:
  virtual ~LRSchedule() = default;
  virtual double lr(int64_t e) const = 0;
};

// eta_min + w * (base - eta_min) * (1 + cos(pi * (e - restart) / period)) / 2
// within each period; after the last period the rate stays at eta_min.
class CosineAnnealingRestart : public LRSchedule {
 public:
  CosineAnnealingRestart(double base_lr, std::vector<int64_t> periods, std::vector<double> restart_weights,
                         double eta_min);
  double lr(int64_t e) const override;

 private:
  double base_, eta_min_;
  std::vector<int64_t> periods_, cumulative_;
  std::vector<double> weights_;
};

// base * w_r * gamma^(milestones in (r, e]), r the last restart <= e (MultiStepLR: restarts = {0}).
class MultiStepRestart : public LRSchedule {
 public:
  MultiStepRestart(double base_lr, std::vector<int64_t> milestones, double gamma, std::vector<int64_t> restarts = {0},
                   std::vector<double> restart_weights = {1});
  double lr(int64_t e) const override;

 private:
  double base_, gamma_;
  std::vector<int64_t> milestones_, restarts_;
  std::vector<double> weights_;
};

// Upstream's low-light recipe (train_llie.py): the rate changes once per
// epoch, as GradualWarmupScheduler(multiplier 1, warmup epochs) followed by
// CosineAnnealingLR(T_max = epochs - warmup, eta_min), stepped once before
// training and after every epoch. Epoch E (1-based) trains with
//   base * E / warmup                                                  E <= warmup
//   eta_min + (base - eta_min) * (1 + cos(pi * (E - warmup - 1) / (epochs - warmup))) / 2   otherwise
// (epoch warmup + 1 repeats the base rate, as PyTorch's pair does). Iteration
// e (0-based) lies in epoch e / iters_per_epoch + 1.
class WarmupCosineEpochs : public LRSchedule {
 public:
  WarmupCosineEpochs(double base_lr, int64_t warmup_epochs, int64_t epochs, double eta_min, int64_t iters_per_epoch);
  double lr(int64_t e) const override;
  double epoch_lr(int64_t epoch) const;  // 1-based

 private:
  double base_, eta_min_;
  int64_t warmup_, epochs_, per_epoch_;
};

}  // namespace liednet::nn
