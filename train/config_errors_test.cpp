// Mistakes in a training config: each an error naming the file and the line or
// the dotted key, whether yaml-cpp or our checks find it.
#include <doctest/doctest.h>

#include "test_util.h"

#include <algorithm>
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
    CHECK(error_of(kData + "train: {total_iter: [1, 2]}\n").rfind("c.yml: 'train.total_iter' has the wrong type (", 0) == 0);
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
}
