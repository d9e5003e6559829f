#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "train/config.h"

using namespace liednet;

namespace {
std::string write_yaml(const std::string& name, const std::string& text) {
  const std::string path = (std::filesystem::temp_directory_path() / name).string();
  std::ofstream(path) << text;
  return path;
}
}  // namespace

TEST_SUITE("train") {
  TEST_CASE("the LOL-Blur config reads with upstream's keys and values") {
    train::TrainConfig c = train::load_train_config(std::string(LIEDNET_SOURCE_DIR) + "/configs/train_LOLBlur.yml");
    CHECK(c.name == "LIEDNet_LOLBlur");
    CHECK(c.manual_seed == 10);
    CHECK(c.train.crop_size == 256);
    CHECK(c.train.batch_size == 8);
    CHECK(c.train.use_flip);
    CHECK(c.train.use_rot);
    CHECK(c.train.workers == 4);
    REQUIRE(c.val.has_value());
    CHECK(c.val->dataroot_lq == "/data/LOLBlur/test/low_blur_noise");
    CHECK(c.network.dim == 32);
    CHECK(c.adam.lr == 1e-4);
    CHECK(c.adam.beta2 == 0.99);
    CHECK(c.scheduler == "CosineAnnealingRestartLR");
    CHECK(c.periods == std::vector<int64_t>{500000});
    CHECK(c.eta_min == 1e-7);
    CHECK(c.total_iter == 500000);
    CHECK(c.loss.perceptual_weight == 0.01);
    CHECK(c.loss.side_weight == 0.8);
    CHECK(c.loss.layer_weights == std::array<double, 4>{1, 1, 1, 1});
    CHECK(c.val_freq == 20000);
    CHECK(c.save_checkpoint_freq == 20000);
    for (const std::string& w : c.warnings) CHECK_MESSAGE(w.find("unknown") == std::string::npos, w);
    auto s = train::make_schedule(c);
    CHECK(s->lr(0) == doctest::Approx(1e-4));
  }

  TEST_CASE("unknown keys are reported and bad values name their key") {
    const std::string base = R"(
datasets:
  train: {dataroot_gt: a, dataroot_lq: b, crop_size: 64, batch_size_per_gpu: 2}
train:
  total_iter: 10
  learning_rate_typo: 3
logger: {print_freq: 1}
)";
    train::TrainConfig c = train::load_train_config(write_yaml("liednet_cfg1.yml", base));
    bool found = false;
    for (const std::string& w : c.warnings) found |= w == "unknown key 'train.learning_rate_typo' (ignored)";
    CHECK(found);
    CHECK(c.loss.perceptual_weight == 0);  // no perceptual_opt: off
    CHECK_THROWS_WITH(train::load_train_config(write_yaml("liednet_cfg2.yml", "datasets:\n  train: {dataroot_gt: a, dataroot_lq: b, batch_size_per_gpu: lots}\n")),
                      doctest::Contains("liednet_cfg2.yml: datasets.train.batch_size_per_gpu must be an integer in [1, 4096], got 'lots'"));
    CHECK_THROWS_WITH(train::load_train_config(write_yaml("liednet_cfg3.yml", "datasets:\n  train: {dataroot_gt: a}\n")),
                      doctest::Contains("datasets.train.dataroot_lq are required"));
    CHECK_THROWS_WITH(train::load_train_config(write_yaml("liednet_cfg4.yml", "datasets:\n  train: {dataroot_gt: a, dataroot_lq: b}\ntrain:\n  optim_g: {type: SGD}\n")),
                      doctest::Contains("only Adam is supported, got SGD"));
    CHECK_THROWS_WITH(train::load_train_config(write_yaml("liednet_cfg5.yml", "datasets: [oops\n")),
                      doctest::Contains("not valid YAML"));
    CHECK_THROWS_WITH(train::load_train_config("/nonexistent/cfg.yml"), doctest::Contains("/nonexistent/cfg.yml: cannot open"));
  }
}
