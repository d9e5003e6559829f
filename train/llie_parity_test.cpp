// The low-light recipe against PyTorch (tests/oracle/llie_train_cases.py):
// the config as liednet reads upstream's file (Adam 0.9/0.999, SmoothL1 on
// the output alone, the per-epoch warm-up + cosine schedule), 10 steps from
// the same weights on the same batches (augmentation off, the crop the whole
// image), every step's learning rate and loss and the final weights.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "nn/state_dict.h"
#include "parity.h"
#include "tensor/safetensors.h"
#include "train/config.h"
#include "train/config_llie.h"
#include "train/trainer.h"

using namespace liednet;

namespace {
Tensor rows(const Tensor& t, int64_t first, int64_t n) {
  std::vector<int64_t> dims = t.shape().vec();
  const int64_t per = t.numel() / dims[0];
  dims[0] = n;
  Tensor out = Tensor::empty(Shape(dims), t.dtype());
  std::memcpy(out.raw_data(), static_cast<const char*>(t.raw_data()) + first * per * dtype_size(t.dtype()),
              n * per * dtype_size(t.dtype()));
  return out;
}

const char* kRecipe = R"(GPU: [0]
VERBOSE: False
MODEL:
  MODE: 'parity'
OPTIM:
  BATCH: 2
  EPOCHS: 6
  LR_INITIAL: 1e-3
  LR_MIN: 1e-6
TRAINING:
  VAL_AFTER_EVERY: 1
  RESUME: False
  TRAIN_PS: 16
  VAL_PS: 16
  TRAIN_DIR: '/unused/Train'
  VAL_DIR: '/unused/Test'
  SAVE_DIR: '/unused'
)";
}  // namespace

TEST_SUITE("parity") {
  TEST_CASE("10 steps of the low-light recipe match PyTorch: learning rates, losses, final weights") {
    const std::string path = testing::oracle_file("llie_train.safetensors");
    if (!std::filesystem::exists(path)) {
      MESSAGE("skipped: ", path, " is absent (run tests/oracle/llie_train_cases.py)");
      return;
    }
    const SafetensorsContents ref = load_safetensors(path);
    nn::StateDict init;
    for (const auto& [k, t] : ref.tensors)
      if (k.rfind("init/", 0) == 0) init.push_back({k.substr(5), t});
    for (DType dt : {DType::F64, DType::F32}) {
      const std::string run = dt == DType::F64 ? "f64" : "f32";
      INFO("our ", run, " run against torch's ", run, " run");
      train::TrainConfig c = train::resolve_epochs(train::parse_train_config(kRecipe, "parity.yaml"), 4, 1);
      REQUIRE(c.llie.iters_per_epoch == 2);
      c.network = {8, {1, 1, 1}, 1, "dim8"};
      c.dtype = dt;
      train::Trainer t(c);
      nn::load_state_dict(t.model(), init, true, "llie_train.safetensors init");
      const Tensor lq = ref.at("lq").to(dt), gt = ref.at("gt").to(dt);
      const Tensor curve = ref.at(run + "/curve");
      double worst_loss = 0, worst_lr = 0;
      for (int64_t i = 0; i < 10; ++i) {
        const int64_t first = (2 * i) % 4;
        const train::StepReport r = t.step(rows(lq, first, 2), rows(gt, first, 2));
        worst_lr = std::max(worst_lr, std::abs(r.lr - curve.at({i, 0})) / curve.at({i, 0}));
        worst_loss = std::max(worst_loss, std::abs(r.total - curve.at({i, 1})) / curve.at({i, 1}));
      }
      const testing::TrainingGap gap = testing::training_gap(
          t.model().named_parameters(), [&](const std::string& k) { return ref.at(run + "/final/" + k); },
          [&](const std::string& k) { return ref.at("init/" + k); });
      std::printf("[llie parity] %s: worst step loss rel error %.2e, lr %.2e; final weights %.2e, updates %.2e\n",
                  run.c_str(), worst_loss, worst_lr, gap.worst_w, gap.worst_update);
      // The bounds README states for the LOL-Blur recipe's 10-step test.
      testing::check_training_bounds(dt, worst_loss, worst_lr, gap);
    }
  }
}
