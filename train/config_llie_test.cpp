// Upstream's low-light recipe in liednet train (train/config_llie.h): its own
// file verbatim (tests/upstream/train_LOLv1.yaml, only its three paths
// changed), the same recipe in BasicSR's shape, the errors, and two training
// iterations from the verbatim file.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include <unistd.h>

#include "data/image.h"
#include "data/llie_dataset.h"
#include "data/loader.h"
#include "train/config.h"
#include "train/config_llie.h"
#include "train/run.h"
#include "train/trainer.h"
#include "test_util.h"

using namespace liednet;
namespace fs = std::filesystem;
using liednet::testing::has;

namespace {
// Upstream's file with its three paths replaced: TRAIN_DIR and VAL_DIR by
// root/Train and root/Test, SAVE_DIR by root/ck.
std::string upstream_lolv1(const std::string& root) {
  std::string text = testing::read_file(std::string(LIEDNET_SOURCE_DIR) + "/tests/upstream/train_LOLv1.yaml");
  REQUIRE_MESSAGE(!text.empty(), "tests/upstream/train_LOLv1.yaml is missing");
  const std::pair<std::string, std::string> swaps[] = {{"/data/lowlight_data/LOLv1/Train", root + "/Train"},
                                                       {"/data/lowlight_data/LOLv1/Test", root + "/Test"},
                                                       {"'./checkpoints'", "'" + root + "/ck'"}};
  for (const auto& [from, to] : swaps) {
    const size_t at = text.find(from);
    REQUIRE_MESSAGE(at != std::string::npos, from);
    text.replace(at, from.size(), to);
  }
  return text;
}

const char* kBasicSR = R"(name: LIEDNet_LOLv1
manual_seed: 1234
datasets:
  train:
    type: LowLightPairedDataset
    dataroot: /d/Train
    crop_size: 128
    use_flip: true
    use_rot: true
    batch_size_per_gpu: 8
  val:
    type: LowLightPairedDataset
    dataroot: /d/Test
network_g:
  type: LIED
path:
  experiments_root: /d/ck/LIEDNet_LOLv1
train:
  optim_g: {type: Adam, lr: 1.0e-4, betas: [0.9, 0.999], eps: 1.0e-8}
  scheduler: {type: GradualWarmupCosineAnnealingLR, warmup_epochs: 3, eta_min: 1.0e-6}
  total_epochs: 4000
  pixel_opt: {type: SmoothL1Loss, beta: 1.0}
  use_side_loss: false
val:
  val_freq_epochs: 1
)";
// Both configs describe the same run.
void same_recipe(const train::TrainConfig& a, const train::TrainConfig& b) {
  for (const std::string& w : b.warnings) CHECK_MESSAGE(w.find("unknown key") == std::string::npos, w);
  CHECK(a.llie.on);
  CHECK(b.llie.on);
  CHECK(b.llie.train_dir == a.llie.train_dir);
  CHECK(b.llie.val_dir == a.llie.val_dir);
  CHECK(b.llie.epochs == a.llie.epochs);
  CHECK(b.llie.warmup_epochs == a.llie.warmup_epochs);
  CHECK(b.llie.val_every_epochs == a.llie.val_every_epochs);
  CHECK(b.train.batch_size == a.train.batch_size);
  CHECK(b.train.crop_size == a.train.crop_size);
  CHECK(b.train.use_flip == a.train.use_flip);
  CHECK(b.train.use_rot == a.train.use_rot);
  CHECK(b.adam.lr == a.adam.lr);
  CHECK(b.adam.beta1 == a.adam.beta1);
  CHECK(b.adam.beta2 == a.adam.beta2);
  CHECK(b.adam.eps == a.adam.eps);
  CHECK(b.adam.weight_decay == a.adam.weight_decay);
  CHECK(b.eta_min == a.eta_min);
  CHECK(b.scheduler == a.scheduler);
  CHECK(b.loss.smooth_l1_beta == a.loss.smooth_l1_beta);
  CHECK(b.loss.use_side == a.loss.use_side);
  CHECK(b.loss.perceptual_weight == a.loss.perceptual_weight);
  CHECK(b.loss.pixel_weight == a.loss.pixel_weight);
  CHECK(b.network.name == a.network.name);
  CHECK(b.name == a.name);
  CHECK(train::input_range_of(b) == "0,1");
  CHECK(train::resolve_epochs(b, 485, 1).total_iter == train::resolve_epochs(a, 485, 1).total_iter);
}
}  // namespace

TEST_SUITE("train") {
  TEST_CASE("upstream's train_LOLv1.yaml, verbatim but for its paths, is detected and read with upstream's values") {
    const train::TrainConfig c = train::parse_train_config(upstream_lolv1("/d"), "train_LOLv1.yaml");
    CHECK(c.llie.on);
    CHECK(c.llie.read_as.find("upstream's train_llie.py shape") == 0);
    for (const std::string& w : c.warnings) CHECK_MESSAGE(w.find("unknown key") == std::string::npos, w);
    CHECK(c.warnings.size() == 3);  // GPU, VERBOSE, TRAINING.VAL_PS: accepted, not used
    CHECK(c.name == "LIEDNet_LOLv1");
    CHECK(c.network.name == "liednet");
    CHECK(c.manual_seed == 1234);
    CHECK(c.train.batch_size == 8);
    CHECK(c.llie.epochs == 4000);
    CHECK(c.adam.lr == 1e-4);
    CHECK(c.eta_min == 1e-6);
    CHECK(c.adam.beta1 == 0.9);
    CHECK(c.adam.beta2 == 0.999);
    CHECK(c.adam.eps == 1e-8);
    CHECK(c.llie.val_every_epochs == 1);
    CHECK(c.train.crop_size == 128);
    CHECK(c.llie.train_dir == "/d/Train");
    CHECK(c.llie.val_dir == "/d/Test");
    CHECK(c.experiments_root == "/d/ck/LIEDNet_LOLv1");
    CHECK(c.loss.smooth_l1_beta == 1.0);
    CHECK_FALSE(c.loss.use_side);
    CHECK(c.loss.perceptual_weight == 0);
    CHECK(train::input_range_of(c) == "0,1");
    // 3 pairs in batches of 8, the last incomplete batch kept: 1 iteration per epoch.
    const train::TrainConfig r = train::resolve_epochs(c, 3, 1);
    CHECK(r.llie.iters_per_epoch == 1);
    CHECK(r.total_iter == 4000);
    CHECK(r.val_freq == 1);
    const train::TrainConfig r2 = train::resolve_epochs(c, 485, 1);  // LOL-v1's 485 training pairs
    CHECK(r2.llie.iters_per_epoch == 61);
    CHECK(r2.total_iter == 4000 * 61);
    const train::TrainConfig r4 = train::resolve_epochs(c, 485, 4);  // 4 ranks share upstream's batch of 8
    CHECK(r4.train.batch_size == 2);
    CHECK(r4.llie.iters_per_epoch == 61);
    CHECK_THROWS_WITH(train::resolve_epochs(c, 485, 3), has("'OPTIM.BATCH' (8, the whole step's batch"));
    const auto s = train::make_schedule(r2);
    CHECK(s->lr(0) == doctest::Approx(1e-4 / 3).epsilon(1e-15));
    CHECK(s->lr(61 * 3) == 1e-4);
  }

  TEST_CASE("the low-light recipe in BasicSR's shape is the same recipe as upstream's file") {
    const train::TrainConfig a = train::parse_train_config(upstream_lolv1("/d"), "train_LOLv1.yaml");
    const train::TrainConfig b = train::parse_train_config(kBasicSR, "lolv1_basicsr.yml");
    CHECK(b.llie.read_as.find("BasicSR's shape") == 0);
    same_recipe(a, b);
    CHECK(b.experiments_root == a.experiments_root);
    CHECK(b.manual_seed == a.manual_seed);
    // configs/: the BasicSR-shaped LOL-v1 file is the same run as the upstream-shaped one.
    const std::string dir = std::string(LIEDNET_SOURCE_DIR) + "/configs/";
    same_recipe(train::load_train_config(dir + "train_LOLv1.yaml"), train::load_train_config(dir + "train_LOLv1_basicsr.yml"));
  }

  TEST_CASE("configs/: the low-light configs read as the recipe, each with its data folders and preset") {
    const std::string dir = std::string(LIEDNET_SOURCE_DIR) + "/configs/";
    for (const char* set : {"LOLv1", "LOLv2syn", "FiveK"})
      for (const char* variant : {"", "_L"}) {
        const std::string file = dir + "train_" + set + variant + ".yaml";
        INFO(file);
        const train::TrainConfig c = train::load_train_config(file);
        for (const std::string& w : c.warnings) CHECK_MESSAGE(w.find("unknown key") == std::string::npos, w);
        CHECK(c.llie.on);
        CHECK(c.network.name == (std::string(variant).empty() ? "liednet" : "liednet-l"));
        CHECK(c.llie.train_dir == std::string("datasets/") + set + "/Train");
        CHECK(c.llie.val_dir == std::string("datasets/") + set + "/Test");
        CHECK(c.llie.epochs == 4000);
        CHECK(c.train.batch_size == 8);
        CHECK(c.train.crop_size == 128);
      }
  }

  TEST_CASE("low-light config errors name the file and the key") {
    auto with = [](const std::string& from, const std::string& to) {
      std::string t = upstream_lolv1("/d");
      const size_t at = t.find(from);
      REQUIRE(at != std::string::npos);
      return t.replace(at, from.size(), to);
    };
    CHECK_THROWS_WITH(train::parse_train_config(with("EPOCHS: 4000", "EPOCHS: 3"), "u.yaml"),
                      has("u.yaml: 'OPTIM.EPOCHS' must be more than the 3 warm-up epochs, got 3"));
    CHECK_THROWS_WITH(train::parse_train_config(with("BATCH: 8", "BATCH: eight"), "u.yaml"),
                      has("u.yaml: 'OPTIM.BATCH' has the wrong type"));
    CHECK_THROWS_WITH(train::parse_train_config(with("TRAIN_PS: 128", "TRAIN_PS: 100"), "u.yaml"),
                      has("u.yaml: 'TRAINING.TRAIN_PS' must be a positive multiple of 8, got 100"));
    CHECK_THROWS_WITH(train::parse_train_config(with("  LR_MIN: 1e-6", "  # LR_MIN"), "u.yaml"),
                      has("u.yaml: 'OPTIM.LR_MIN' is required"));
    CHECK_THROWS_WITH(train::parse_train_config(with("RESUME: False", "RESUME: True"), "u.yaml"),
                      has("u.yaml: 'TRAINING.RESUME' is true but /d/ck/LIEDNet_LOLv1/checkpoints holds no checkpoint"));
    const train::TrainConfig typo = train::parse_train_config(with("VAL_AFTER_EVERY", "VAL_AFTER_EVRY"), "u.yaml");
    bool named = false;
    for (const std::string& w : typo.warnings) named |= w == "unknown key 'TRAINING.VAL_AFTER_EVRY' (ignored)";
    CHECK(named);
    std::string basicsr = kBasicSR;
    basicsr.replace(basicsr.find("GradualWarmupCosineAnnealingLR"), 30, "CosineAnnealingRestartLR");
    CHECK_THROWS_WITH(train::parse_train_config(basicsr, "b.yml"),
                      has("b.yml: the low-light recipe needs both datasets.train.type LowLightPairedDataset and "
                          "train.scheduler.type GradualWarmupCosineAnnealingLR"));
  }

  TEST_CASE("upstream's train_LOLv1.yaml trains: its loader (padding, [0, 1], the last batch kept) and two steps") {
    const fs::path root = fs::temp_directory_path() / ("liednet_lolv1_" + std::to_string(::getpid()));
    fs::remove_all(root);
    Generator g(5);
    for (const char* split : {"Train", "Test"})
      for (int i = 0; i < 1; ++i)  // one pair: a batch of 1 (the last incomplete batch kept), a few seconds a step
        for (const char* side : {"low", "high"})
          data::write_png((root / split / side / (std::to_string(i) + ".png")).string(),
                          Tensor::uniform({3, 20, 28}, 0, 1, g));
    const train::TrainConfig c = train::resolve_epochs(
        train::parse_train_config(upstream_lolv1(root.string()), "train_LOLv1.yaml"), 1, 1);
    data::TrainLoader loader(data::pair_sorted_order(c.llie.train_dir), train::loader_options(c));
    CHECK(loader.batches_per_epoch() == 1);
    train::Trainer t(c);
    for (int i = 1; i <= 2; ++i) {
      const data::TrainLoader::Batch batch = loader.next();
      REQUIRE(batch.lq.shape() == Shape{1, 3, 128, 128});  // 20x28 reflect-padded to upstream's 128 crop
      const std::vector<double> v = batch.gt.to_vector();
      CHECK(*std::min_element(v.begin(), v.end()) >= 0.0);
      CHECK(*std::max_element(v.begin(), v.end()) <= 1.0);
      const train::StepReport r = t.step(batch.lq, batch.gt);
      CHECK(r.iter == i);
      CHECK(r.lr == doctest::Approx(1e-4 * i / 3).epsilon(1e-15));  // one iteration per epoch: the warm-up
      CHECK(std::isfinite(r.total));
      CHECK(r.l_side_pix == 0);
      CHECK(r.l_percep == 0);
    }
    fs::remove_all(root);
  }
}
