// skip_bad: a training pair that fails to load is replaced, deterministically,
// by the next loadable pair of the epoch's order; without it the run stops
// with the file named.
#include <doctest/doctest.h>

#include "test_util.h"

#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include "data/image.h"
#include "data/loader.h"
#include "tensor/error.h"

using namespace liednet;
namespace fs = std::filesystem;
using liednet::testing::has;

namespace {

constexpr int kPairs = 7;

// kPairs pairs of 16x16 images; the pair at position 0 of epoch 0 gets a truncated target.
struct DamagedSet {
  fs::path dir = fs::temp_directory_path() / ("liednet_skip_bad_" + std::to_string(::getpid()));
  std::vector<data::Pair> pairs;
  std::string bad_file;
  int64_t bad_index = 0;
  explicit DamagedSet(const data::LoaderOptions& o) {
    fs::remove_all(dir);
    Generator gen(7);
    for (int i = 0; i < kPairs; ++i)
      for (const char* side : {"lq", "gt"})
        data::write_png((dir / side / (std::to_string(i) + ".png")).string(), Tensor::uniform({3, 16, 16}, 0, 1, gen));
    pairs = data::pair_folders({(dir / "lq").string(), (dir / "gt").string()});
    bad_index = data::epoch_order(kPairs, o.shuffle, o.seed, 0)[0];
    bad_file = pairs[bad_index].gt_path;
    fs::resize_file(bad_file, fs::file_size(bad_file) / 2);
  }
  ~DamagedSet() { fs::remove_all(dir); }
};

data::LoaderOptions options(int workers, bool skip_bad) {
  data::LoaderOptions o;
  o.batch = 2;
  o.seed = 5;
  o.workers = workers;
  o.prefetch = 2;
  o.augment = {8, true, true};
  o.skip_bad = skip_bad;
  return o;
}

}  // namespace

TEST_SUITE("data") {
  TEST_CASE("a bad training pair stops the loader with the file named") {
    for (int workers : {0, 2}) {
      INFO("workers ", workers);
      DamagedSet set(options(workers, false));
      data::TrainLoader loader(set.pairs, options(workers, false));
      CHECK_THROWS_WITH(loader.next(), has(set.bad_file + ": truncated PNG"));
      CHECK_THROWS_WITH(loader.next(), has(set.bad_file + ": truncated PNG"));  // and again: nothing is skipped
    }
  }

  TEST_CASE("skip_bad replaces a bad pair by the next one of the epoch, the same for any number of workers") {
    const data::LoaderOptions inline_opt = options(0, true);
    DamagedSet set(inline_opt);
    std::vector<std::vector<data::TrainLoader::Batch>> runs;
    for (int workers : {0, 2}) {
      data::TrainLoader loader(set.pairs, options(workers, true));
      std::vector<data::TrainLoader::Batch> batches;
      std::vector<std::string> warnings;
      for (int i = 0; i < 3 * loader.batches_per_epoch(); ++i) {  // three epochs: the bad pair is met in each
        batches.push_back(loader.next());
        warnings.insert(warnings.end(), batches.back().skipped.begin(), batches.back().skipped.end());
        for (const std::string& name : batches.back().names) CHECK(name != set.pairs[set.bad_index].name);
      }
      REQUIRE(warnings.size() == 1);  // reported once
      CHECK(warnings[0].find(set.bad_file + ": truncated PNG") != std::string::npos);
      CHECK(loader.skipped_count() == 1);
      runs.push_back(std::move(batches));
    }
    REQUIRE(runs[0].size() == runs[1].size());
    for (size_t i = 0; i < runs[0].size(); ++i) {
      CHECK(runs[0][i].names == runs[1][i].names);
      CHECK(runs[0][i].lq.to_vector() == runs[1][i].lq.to_vector());
      CHECK(runs[0][i].gt.to_vector() == runs[1][i].gt.to_vector());
    }
    // Position 0 of epoch 0 holds the next pair in the order, augmented with position 0's generator.
    const std::vector<int64_t> order = data::epoch_order(kPairs, inline_opt.shuffle, inline_opt.seed, 0);
    Generator rng(data::sample_seed(inline_opt.seed, 0, 0));
    const data::Sample expected = data::load_pair(set.pairs[order[1]], inline_opt.augment, rng);
    CHECK(runs[0][0].names[0] == set.pairs[order[1]].name);
    const std::vector<double> first = runs[0][0].lq.to_vector();
    CHECK(std::vector<double>(first.begin(), first.begin() + expected.lq.numel()) == expected.lq.to_vector());
  }

  TEST_CASE("skip_bad with every pair bad is an error") {
    DamagedSet set(options(0, true));
    for (const data::Pair& p : set.pairs) fs::resize_file(p.lq_path, 10);
    data::TrainLoader loader(set.pairs, options(0, true));
    CHECK_THROWS_WITH(loader.next(), has("skip_bad: all 7 pairs failed to load; the first: "));
  }
}
