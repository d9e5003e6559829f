#include "nn/optim.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "autograd/profiler.h"
#include "ops/check.h"
#include "ops/cuda/optim.h"
#include "tensor/cuda.h"
#include "tensor/parallel.h"

namespace liednet::nn {

Adam::Adam(const Module& module, AdamOptions opt) : opt_(opt) {
  for (auto& [name, p] : module.named_parameters())
    if (p.requires_grad()) {
      params_.push_back({name, p});
      // The moments live beside the parameter: move parameters before building Adam.
      m_.push_back(Tensor::zeros(p.shape(), p.dtype(), p.device()));
      v_.push_back(Tensor::zeros(p.shape(), p.dtype(), p.device()));
    }
}

void Adam::step(double lr) {
  LIEDNET_PROFILE_OP("adam_step");
  ++steps_;
  // Scalars in double, as torch computes them in Python.
  const double bc1 = 1.0 - std::pow(opt_.beta1, static_cast<double>(steps_));
  const double bc2_sqrt = std::sqrt(1.0 - std::pow(opt_.beta2, static_cast<double>(steps_)));
  const double step_size = lr / bc1;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor p = params_[i].second;
    Tensor g = p.grad();
    if (!g.defined()) continue;
    LIEDNET_CHECK(g.device() == p.device() && m_[i].device() == p.device(), "Adam: parameter '", params_[i].first,
                  "' is ", p.str(), " but its gradient is ", g.str(), " and its moments ", m_[i].str(),
                  " (move parameters to their device before building the optimiser)");
    if (ops::on_cuda("Adam", p)) {
      // The same float operations as below, fused into one kernel.
      ops::cuda::AdamScalars s;
      s.beta1 = static_cast<float>(opt_.beta1);
      s.beta2 = static_cast<float>(opt_.beta2);
      s.one_minus_beta1 = static_cast<float>(1 - opt_.beta1);
      s.one_minus_beta2 = static_cast<float>(1 - opt_.beta2);
      s.weight_decay = static_cast<float>(opt_.weight_decay);
      s.apply_weight_decay = opt_.weight_decay != 0;
      s.eps = static_cast<float>(opt_.eps);
      s.bias_correction2_sqrt = static_cast<float>(bc2_sqrt);
      s.neg_step_size = static_cast<float>(-step_size);
      ops::cuda_kernel(ops::cuda::optim_kernels().adam_step, "Adam")(
          p.data<float>(), g.data<float>(), m_[i].data<float>(), v_[i].data<float>(), p.numel(), s, cuda_stream());
      continue;
    }
    LIEDNET_DISPATCH(p.dtype(), T, {
      T* pp = p.data<T>();
      const T* gp = g.data<T>();
      T* m = m_[i].data<T>();
      T* v = v_[i].data<T>();
      const T b1 = static_cast<T>(opt_.beta1), b2 = static_cast<T>(opt_.beta2);
      const T one_b1 = static_cast<T>(1 - opt_.beta1), one_b2 = static_cast<T>(1 - opt_.beta2);
      const T wd = static_cast<T>(opt_.weight_decay), eps = static_cast<T>(opt_.eps);
      const T bc2s = static_cast<T>(bc2_sqrt), neg_step = static_cast<T>(-step_size);
      parallel_chunks(p.numel(), 1 << 14, [&](int64_t lo, int64_t hi) {
        for (int64_t k = lo; k < hi; ++k) {
          const T gk = opt_.weight_decay != 0 ? gp[k] + wd * pp[k] : gp[k];
          m[k] = m[k] * b1 + gk * one_b1;
          v[k] = v[k] * b2 + one_b2 * gk * gk;
          const T denom = std::sqrt(v[k]) / bc2s + eps;
          pp[k] = pp[k] + neg_step * (m[k] / denom);
        }
      });
    });
  }
}

void Adam::zero_grad() {
  for (auto& kv : params_) kv.second.zero_grad();
}

StateDict Adam::state() const {
  StateDict sd;
  for (size_t i = 0; i < params_.size(); ++i) {
    sd.push_back({"exp_avg." + params_[i].first, m_[i]});
    sd.push_back({"exp_avg_sq." + params_[i].first, v_[i]});
  }
  return sd;
}

void Adam::load_state(const StateDict& sd, int64_t steps, const std::string& source) {
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [k, t] : sd) by_name[k] = &t;
  for (size_t i = 0; i < params_.size(); ++i)
    for (auto [prefix, dst] : {std::pair{"exp_avg.", &m_[i]}, std::pair{"exp_avg_sq.", &v_[i]}}) {
      const std::string key = prefix + params_[i].first;
      auto it = by_name.find(key);
      LIEDNET_CHECK(it != by_name.end(), source, ": optimiser state lacks '", key, "'");
      LIEDNET_CHECK(it->second->shape() == dst->shape(), source, ": optimiser state '", key, "' is ",
                    it->second->shape(), ", the parameter is ", dst->shape());
      dst->copy_(it->second->dtype() == dst->dtype() ? *it->second : it->second->to(dst->dtype()));
    }
  LIEDNET_CHECK(steps >= 0, source, ": negative optimiser step count ", steps);
  steps_ = steps;
}

CosineAnnealingRestart::CosineAnnealingRestart(double base_lr, std::vector<int64_t> periods,
                                               std::vector<double> restart_weights, double eta_min)
    : base_(base_lr), eta_min_(eta_min), periods_(std::move(periods)), weights_(std::move(restart_weights)) {
  LIEDNET_CHECK(!periods_.empty() && periods_.size() == weights_.size(),
                "CosineAnnealingRestartLR: periods and restart_weights must be non-empty and of the same length (",
                periods_.size(), " vs ", weights_.size(), ")");
  int64_t sum = 0;
  for (int64_t p : periods_) {
    LIEDNET_CHECK(p > 0, "CosineAnnealingRestartLR: periods must be positive, got ", p);
    cumulative_.push_back(sum += p);
  }
}

double CosineAnnealingRestart::lr(int64_t e) const {
  if (e > cumulative_.back()) return eta_min_;
  size_t idx = 0;
  while (e > cumulative_[idx]) ++idx;  // the first period whose end is >= e
  const double restart = idx == 0 ? 0.0 : static_cast<double>(cumulative_[idx - 1]);
  return eta_min_ + weights_[idx] * 0.5 * (base_ - eta_min_) *
                        (1.0 + std::cos(M_PI * ((static_cast<double>(e) - restart) / static_cast<double>(periods_[idx]))));
}

MultiStepRestart::MultiStepRestart(double base_lr, std::vector<int64_t> milestones, double gamma,
                                   std::vector<int64_t> restarts, std::vector<double> restart_weights)
    : base_(base_lr), gamma_(gamma), milestones_(std::move(milestones)), restarts_(std::move(restarts)),
      weights_(std::move(restart_weights)) {
  LIEDNET_CHECK(restarts_.size() == weights_.size(), "MultiStepRestartLR: restarts and restart_weights differ in length");
}

double MultiStepRestart::lr(int64_t e) const {
  int64_t restart = 0;
  double weight = 1.0;
  for (size_t i = 0; i < restarts_.size(); ++i)
    if (restarts_[i] <= e && restarts_[i] >= restart) {
      restart = restarts_[i];
      weight = weights_[i];
    }
  int64_t count = 0;
  for (int64_t m : milestones_)
    if (m > restart && m <= e) ++count;
  return base_ * weight * std::pow(gamma_, static_cast<double>(count));
}

WarmupCosineEpochs::WarmupCosineEpochs(double base_lr, int64_t warmup_epochs, int64_t epochs, double eta_min,
                                       int64_t iters_per_epoch)
    : base_(base_lr), eta_min_(eta_min), warmup_(warmup_epochs), epochs_(epochs), per_epoch_(iters_per_epoch) {
  LIEDNET_CHECK(warmup_ >= 1 && epochs_ > warmup_, "WarmupCosineEpochs: needs more epochs (", epochs_,
                ") than warm-up epochs (", warmup_, "), at least 1 of those");
  LIEDNET_CHECK(per_epoch_ >= 1, "WarmupCosineEpochs: iterations per epoch must be at least 1, got ", per_epoch_);
}

double WarmupCosineEpochs::epoch_lr(int64_t epoch) const {
  if (epoch <= warmup_) return base_ * static_cast<double>(epoch) / static_cast<double>(warmup_);
  const double k = static_cast<double>(epoch - warmup_ - 1), T = static_cast<double>(epochs_ - warmup_);
  return eta_min_ + (base_ - eta_min_) * (1 + std::cos(M_PI * k / T)) / 2;
}

double WarmupCosineEpochs::lr(int64_t e) const { return epoch_lr(e / per_epoch_ + 1); }

}  // namespace liednet::nn
