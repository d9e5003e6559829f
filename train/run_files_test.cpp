// What a training run writes and reads back: whole log lines and their write
// errors, the config a checkpoint records for --resume, the default
// checkpoint period.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "test_util.h"
#include "train/checkpoint_fit.h"
#include "train/log_file.h"
#include "train/trainer.h"
#include "train_configs.h"

using namespace liednet;
namespace fs = std::filesystem;
using testing::has;

namespace {
const auto tiny_config = [] { return testing::tiny_train_config(); };
}  // namespace

TEST_SUITE("train") {
  TEST_CASE("LogFile appends whole lines; a full disk is an error naming the file and 'no space left'") {
    const fs::path path = fs::temp_directory_path() / ("liednet_log_" + std::to_string(getpid()) + ".jsonl");
    std::ofstream(path) << "{\"iter\":1}\n";
    {
      train::LogFile log(path.string());
      log.append_line("{\"iter\":2}");
      log.append_line("{\"iter\":3}");
    }
    std::ifstream in(path);
    std::string all((std::istreambuf_iterator<char>(in)), {});
    CHECK(all == "{\"iter\":1}\n{\"iter\":2}\n{\"iter\":3}\n");
    fs::remove(path);
    // /dev/full: every write fails with ENOSPC.
    if (fs::exists("/dev/full")) {
      train::LogFile full("/dev/full");
      CHECK_THROWS_WITH(full.append_line("{\"iter\":4}"),
                        has("/dev/full: cannot append to the log (no space left on device)"));
    }
    CHECK_THROWS_WITH(train::LogFile("/nonexistent/dir/log.jsonl"), has("/nonexistent/dir/log.jsonl: cannot open the log"));
  }

  TEST_CASE("compare_fit names every changed key with both values; total_iter may change") {
    train::TrainConfig a = tiny_config(), b = tiny_config();
    b.train.batch_size = 4;
    b.manual_seed = 11;
    b.periods = {200};
    b.total_iter = 200;  // not compared: a finished run can be extended
    const auto changes = train::compare_fit(train::fit_record(a, 100), train::fit_record(b, 90));
    REQUIRE(changes.size() == 4);
    const std::string text = train::describe(changes);
    CHECK(text.find("datasets.train.batch_size_per_gpu: the checkpoint has 1, the config 4") != std::string::npos);
    CHECK(text.find("datasets.train pairs: the checkpoint has 100, the config 90") != std::string::npos);
    CHECK(text.find("manual_seed: the checkpoint has 10, the config 11") != std::string::npos);
    CHECK(text.find("train.scheduler.periods: the checkpoint has [100], the config [200]") != std::string::npos);
    CHECK(train::compare_fit(train::fit_record(a, 100), train::fit_record(a, 100)).empty());
    // An older checkpoint without the record: nothing to compare.
    CHECK(train::compare_fit(nlohmann::json(), train::fit_record(a, 100)).empty());
  }

  TEST_CASE("a checkpoint keeps the world size and the settings a resume checks") {
    const fs::path path = fs::temp_directory_path() / ("liednet_fit_" + std::to_string(getpid()) + ".safetensors");
    train::Trainer t(tiny_config());
    const nlohmann::json fit = train::fit_record(tiny_config(), 12);
    t.save_checkpoint(path.string(), {2, 1, 4, fit});
    train::Trainer u(tiny_config());
    const train::RunPosition pos = u.load_checkpoint(path.string());
    CHECK(pos.epoch == 2);
    CHECK(pos.cursor == 1);
    CHECK(pos.world_size == 4);
    CHECK(pos.fit == fit);
    fs::remove(path);
  }

  TEST_CASE("without logger.save_checkpoint_freq a run saves every 5,000 iterations; 0 keeps only the end") {
    const fs::path path = fs::temp_directory_path() / ("liednet_ckfreq_" + std::to_string(getpid()) + ".yml");
    const std::string base = "datasets:\n  train: {dataroot_gt: a, dataroot_lq: b}\n";
    std::ofstream(path) << base;
    CHECK(train::load_train_config(path.string()).save_checkpoint_freq == 5000);
    std::ofstream(path) << base << "logger: {save_checkpoint_freq: 0}\n";
    CHECK(train::load_train_config(path.string()).save_checkpoint_freq == 0);
    fs::remove(path);
  }
}
