// Mistakes in a training config: each an error naming the file and the line or
// the dotted key, whether yaml-cpp or our checks find it.
#include <doctest/doctest.h>

#include "test_util.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>

#include "tensor/error.h"
#include "train/config.h"

using namespace liednet;
using liednet::testing::has;

namespace {
const std::string kData = "datasets:\n  train: {dataroot_gt: g, dataroot_lq: l}\n";

std::string error_of(const std::string& yaml) {
  try {
    train::parse_train_config(yaml, "c.yml");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_SUITE("train") {
  TEST_CASE("config mistakes name the file and the line or key") {
    CHECK(error_of(kData).empty());
    CHECK(error_of("datasets: [unclosed\n") == "c.yml: not valid YAML (end of sequence flow not found at line 2)");
    CHECK(error_of(kData + "train: {total_iter: [1, 2]}\n") ==
          "c.yml: train.total_iter must be an integer in [1, 1000000000000], got a non-scalar");
    CHECK(error_of(kData + "name: [1, 2]\n").rfind("c.yml: 'name' has the wrong type (", 0) == 0);
    CHECK(error_of(kData + "? [a, b]\n: 1\n") == "c.yml: the top level has a key that is not text (line 3)");
    CHECK(error_of("datasets:\n  train: {dataroot_gt: g}\n") ==
          "c.yml: datasets.train.dataroot_gt and datasets.train.dataroot_lq are required");
    CHECK(error_of("datasets:\n  train: {dataroot_gt: g, dataroot_lq: l, crop_size: 12}\n") ==
          "c.yml: datasets.train.crop_size must be a multiple of 8, got 12");
    CHECK(error_of("- a list\n") == "c.yml: the config must be a YAML mapping");
    CHECK_THROWS_WITH(train::load_train_config("/nonexistent/c.yml"), has("/nonexistent/c.yml: cannot open the config file"));
    const std::string dir = std::filesystem::temp_directory_path().string();
    CHECK_THROWS_WITH(train::load_train_config(dir), has(dir + ": is a folder, not a config file"));
  }

  TEST_CASE("skip_bad is a training key; on the validation set it is unknown") {
    const train::TrainConfig c = train::parse_train_config(
        "datasets:\n  train: {dataroot_gt: g, dataroot_lq: l, skip_bad: true}\n"
        "  val: {dataroot_gt: g, dataroot_lq: l, skip_bad: true}\n", "c.yml");
    CHECK(c.train.skip_bad);
    CHECK(std::find(c.warnings.begin(), c.warnings.end(), "unknown key 'datasets.val.skip_bad' (ignored)") !=
          c.warnings.end());
  }

  TEST_CASE("every config value has a range: outside it is an error naming the key, the range and the value") {
    const std::string net = "network_g: {type: LIED, dim: 8, num_blocks: [1, 1, 1]}\n";
    CHECK(error_of(kData + "network_g: {num_blocks: [3, -1, 2]}\n") ==
          "c.yml: network_g.num_blocks must be in [1, 64], got -1");
    CHECK(error_of(kData + "network_g: {num_blocks: [1, 2]}\n") ==
          "c.yml: network_g.num_blocks must list at least 3 numbers, got 2");
    CHECK(error_of(kData + "network_g: {num_blocks: [1, 2, 3, 4]}\n") == "c.yml: network_g.num_blocks must list 3 numbers, got 4");
    CHECK(error_of(kData + "network_g: {dim: 7}\n") == "c.yml: network_g.dim must be even, got 7");
    CHECK(error_of(kData + "train: {optim_g: {lr: -0.5}}\n") == "c.yml: train.optim_g.lr must be in (0, 10], got -0.5");
    CHECK(error_of(kData + "train: {optim_g: {lr: .nan}}\n") == "c.yml: train.optim_g.lr must be in (0, 10], got .nan");
    CHECK(error_of(kData + "train: {optim_g: {eps: 0}}\n") == "c.yml: train.optim_g.eps must be in (0, 1], got 0");
    CHECK(error_of(kData + "train: {scheduler: {periods: []}}\n") ==
          "c.yml: train.scheduler.periods must list at least 1 number, got 0");
    CHECK(error_of(kData + "train: {scheduler: {periods: [10, -3]}}\n") ==
          "c.yml: train.scheduler.periods must be in [1, 1000000000000], got -3");
    CHECK(error_of(kData + "train: {total_iter: 0}\n") == "c.yml: train.total_iter must be in [1, 1000000000000], got 0");
    CHECK(error_of(kData + "train: {total_iter: 2.5}\n") ==
          "c.yml: train.total_iter must be an integer in [1, 1000000000000], got '2.5'");
    CHECK(error_of(kData + "logger: {save_checkpoint_freq: -1}\n") ==
          "c.yml: logger.save_checkpoint_freq must be in [0, 1000000000000], got -1");
    CHECK(error_of(kData + "manual_seed: -2\n") == "c.yml: manual_seed must be in [0, 9223372036854775807], got -2");
    CHECK(error_of(kData + "threads: 1e9\n") == "c.yml: threads must be in [0, 4096], got 1e9");
    CHECK(error_of("datasets:\n  train: {dataroot_gt: g, dataroot_lq: l, num_worker_per_gpu: 65}\n") ==
          "c.yml: datasets.train.num_worker_per_gpu must be in [0, 64], got 65");
    CHECK(error_of(kData + "train: {pixel_opt: {loss_weight: -1}}\n") ==
          "c.yml: train.pixel_opt.loss_weight must be in [0, 1000000], got -1");
    // Upstream writes integers as floats: whole ones are accepted.
    const train::TrainConfig c = train::parse_train_config(kData + net + "logger: {save_checkpoint_freq: !!float 5e3}\n"
                                                           "val: {val_freq: 2e3}\nmanual_seed: 0\n", "c.yml");
    CHECK(c.save_checkpoint_freq == 5000);
    CHECK(c.val_freq == 2000);
    CHECK(c.manual_seed == 0);
    CHECK(c.network.blocks == std::array<int64_t, 3>{1, 1, 1});
  }

  TEST_CASE("a config whose every loss term is off is an error") {
    const train::TrainConfig none = train::parse_train_config(kData, "c.yml");
    CHECK_THROWS_WITH(train::check_losses(none), has("c.yml: every loss term is off"));
    const train::TrainConfig zero =
        train::parse_train_config(kData + "train: {pixel_opt: {type: L1Loss, loss_weight: 0}}\n", "c.yml");
    CHECK_THROWS_WITH(train::check_losses(zero), has("the run would learn nothing"));
    const train::TrainConfig percep = train::parse_train_config(
        kData + "train: {perceptual_opt: {type: PerceptualLoss, perceptual_weight: 0.5}}\n", "c.yml");
    CHECK_NOTHROW(train::check_losses(percep));
    CHECK_NOTHROW(train::check_losses(train::parse_train_config(kData + "train: {pixel_opt: {type: L1Loss}}\n", "c.yml")));
  }

  TEST_CASE("Interval: its text and what it holds") {
    const train::Interval lr{0, 10, true, false};
    CHECK(lr.str() == "(0, 10]");
    CHECK(!lr.contains(0));
    CHECK(lr.contains(10));
    CHECK(!lr.contains(std::nan("")));
    CHECK(!train::Interval{0, 1e300}.contains(INFINITY));
    CHECK(train::Interval{0, 1, false, true}.str() == "[0, 1)");
  }
}
