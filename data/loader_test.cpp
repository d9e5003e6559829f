#include <doctest/doctest.h>

#include "test_util.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "data/image.h"
#include "data/loader.h"
#include "tensor/error.h"

using namespace liednet;
namespace fs = std::filesystem;

namespace {

using testing::has;

// n random pairs of h x w images in lq/ and gt/ under a fresh folder.
struct Dataset {
  fs::path dir;
  std::vector<data::Pair> pairs;
  Dataset(const std::string& tag, int n, int64_t h, int64_t w) {
    dir = fs::temp_directory_path() / ("liednet_loader_test_" + std::to_string(getpid()) + "_" + tag);
    fs::remove_all(dir);
    Generator gen(42);
    for (int i = 0; i < n; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "v%d/%04d.png", i % 3, i);
      for (const char* side : {"lq", "gt"}) {
        fs::create_directories((dir / side / name).parent_path());
        data::write_png((dir / side / name).string(), Tensor::uniform({3, h, w}, 0.0, 1.0, gen));
      }
    }
    pairs = data::pair_folders({(dir / "lq").string(), (dir / "gt").string()});
  }
  ~Dataset() { fs::remove_all(dir); }
};

data::LoaderOptions options(int workers) {
  data::LoaderOptions o;
  o.batch = 3;
  o.seed = 123;
  o.workers = workers;
  o.prefetch = 2;
  o.augment = {8, true, true};
  return o;
}

std::vector<data::TrainLoader::Batch> take(data::TrainLoader& loader, int n) {
  std::vector<data::TrainLoader::Batch> out;
  for (int i = 0; i < n; ++i) out.push_back(loader.next());
  return out;
}

void check_same(const std::vector<data::TrainLoader::Batch>& a, const std::vector<data::TrainLoader::Batch>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("batch ", i);
    CHECK(a[i].names == b[i].names);
    REQUIRE(a[i].lq.shape() == b[i].lq.shape());
    CHECK(a[i].lq.to_vector() == b[i].lq.to_vector());
    CHECK(a[i].gt.to_vector() == b[i].gt.to_vector());
  }
}

}  // namespace

TEST_SUITE("data") {
  TEST_CASE("TrainLoader: batches are (B, 3, crop, crop) in [-1, 1]; each epoch a fresh permutation, last batch dropped") {
    Dataset d("epochs", 13, 12, 14);
    data::TrainLoader loader(d.pairs, options(2));
    CHECK(loader.batches_per_epoch() == 4);  // 13 / 3, the last incomplete batch dropped
    std::vector<std::vector<std::string>> epochs(3);
    for (int e = 0; e < 3; ++e)
      for (int b = 0; b < 4; ++b) {
        CHECK(loader.state().epoch == e);
        CHECK(loader.state().cursor == b);
        const auto batch = loader.next();
        CHECK(batch.lq.shape() == Shape{3, 3, 8, 8});
        CHECK(batch.gt.shape() == Shape{3, 3, 8, 8});
        for (double v : batch.lq.to_vector()) REQUIRE((v >= -1.0 && v <= 1.0));
        epochs[e].insert(epochs[e].end(), batch.names.begin(), batch.names.end());
      }
    CHECK(loader.state().epoch == 3);
    for (int e = 0; e < 3; ++e) {
      CHECK(epochs[e].size() == 12);
      CHECK(std::set<std::string>(epochs[e].begin(), epochs[e].end()).size() == 12);  // no repeats within an epoch
    }
    CHECK(epochs[0] != epochs[1]);
    CHECK(epochs[1] != epochs[2]);
    // The order is epoch_order's.
    const auto order = data::epoch_order(13, true, 123, 1);
    for (int i = 0; i < 12; ++i) CHECK(epochs[1][i] == d.pairs[order[i]].name);
  }

  TEST_CASE("TrainLoader without shuffle goes through the pairs in name order") {
    Dataset d("noshuffle", 7, 10, 10);
    data::LoaderOptions o = options(1);
    o.shuffle = false;
    o.augment = {};
    o.batch = 2;
    data::TrainLoader loader(d.pairs, o);
    std::vector<std::string> seen;
    for (int i = 0; i < 6; ++i) {  // two epochs of 3
      const auto b = loader.next();
      seen.insert(seen.end(), b.names.begin(), b.names.end());
    }
    for (int i = 0; i < 12; ++i) CHECK(seen[i] == d.pairs[i % 6].name);
    // crop 0, no flips: exactly the images.
    data::TrainLoader again(d.pairs, o);
    const auto first = again.next();
    CHECK(first.lq.shape() == Shape{2, 3, 10, 10});
    const auto img = data::to_model_range(data::read_image(d.pairs[1].gt_path)).to_vector();
    const auto all = first.gt.to_vector();
    CHECK(std::vector<double>(all.begin() + 300, all.end()) == img);
  }

  TEST_CASE("TrainLoader: the batches do not depend on the number of workers") {
    Dataset d("workers", 11, 12, 16);
    data::TrainLoader inline_loader(d.pairs, options(0));
    data::TrainLoader one(d.pairs, options(1));
    data::TrainLoader three(d.pairs, options(3));
    const auto a = take(inline_loader, 8), b = take(one, 8), c = take(three, 8);  // crosses two epoch boundaries
    check_same(a, b);
    check_same(a, c);
    // Another seed is another sequence.
    data::LoaderOptions o = options(2);
    o.seed = 124;
    data::TrainLoader other(d.pairs, o);
    CHECK(other.next().lq.to_vector() != a[0].lq.to_vector());
  }

  TEST_CASE("TrainLoader: restore(state()) continues bit-identically") {
    Dataset d("resume", 11, 12, 16);
    data::TrainLoader unbroken(d.pairs, options(2));
    const auto all = take(unbroken, 7);
    data::TrainLoader::State s;
    {
      data::TrainLoader first(d.pairs, options(2));
      take(first, 3);
      s = first.state();
    }  // destroyed with batches decoded ahead
    CHECK(s.epoch == 1);  // 3 batches per epoch
    CHECK(s.cursor == 0);
    data::TrainLoader resumed(d.pairs, options(3));
    resumed.restore(s);
    const auto rest = take(resumed, 4);
    check_same({all.begin() + 3, all.end()}, rest);
    // Restoring an earlier state on a running loader rewinds it.
    resumed.restore({0, 1});
    check_same({all.begin() + 1, all.begin() + 3}, take(resumed, 2));
    CHECK_THROWS_WITH(resumed.restore({0, 3}), doctest::Contains("outside the epoch's 3 batches"));
  }

  TEST_CASE("TrainLoader: a worker's error surfaces in next() naming the file, and shutdown is clean") {
    Dataset d("errors", 9, 10, 12);
    // Break the lq image of the pair that lands in batch 1 of epoch 0.
    data::LoaderOptions o = options(2);
    const auto order = data::epoch_order(9, true, o.seed, 0);
    const std::string broken = d.pairs[order[4]].lq_path;
    std::ofstream(broken) << "not a png";
    {
      data::TrainLoader loader(d.pairs, o);
      CHECK_NOTHROW(loader.next());
      CHECK_THROWS_WITH_AS(loader.next(), has(broken + ": cannot decode image"), Error);
      CHECK_THROWS_WITH_AS(loader.next(), has(broken), Error);  // and again: it does not skip
      CHECK(loader.state().cursor == 1);
    }  // the destructor joins the workers
    {
      data::LoaderOptions inline_o = o;
      inline_o.workers = 0;
      data::TrainLoader loader(d.pairs, inline_o);
      loader.next();
      CHECK_THROWS_WITH_AS(loader.next(), has(broken), Error);
    }
    // Destroyed before ever being asked, while the workers are busy.
    { data::TrainLoader loader(d.pairs, o); }
    // Destroyed while the failed batch waits.
    {
      data::TrainLoader loader(d.pairs, o);
      loader.next();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  TEST_CASE(
      "TrainLoader: a failure in a worker outside a sample's load (an allocation) reaches next(), not terminate") {
    Dataset d("worker_failure", 6, 10, 12);
    {
      data::detail::loader_fail_worker_steps(2);  // both workers' first step
      data::TrainLoader loader(d.pairs, options(2));
      CHECK_THROWS_WITH_AS(loader.next(), has("TrainLoader: a loader worker failed: std::bad_alloc"), Error);
      CHECK_THROWS_WITH_AS(loader.next(), has("a loader worker failed"), Error);  // and again
    }  // the destructor joins the stopped workers
    data::detail::loader_fail_worker_steps(0);
    data::TrainLoader loader(d.pairs, options(2));
    CHECK_NOTHROW(loader.next());
  }

  TEST_CASE("TrainLoader: with crop 0, an image of another size is an error naming it") {
    Dataset d("sizes", 6, 10, 12);
    data::LoaderOptions o = options(2);
    o.augment = {};
    o.shuffle = false;
    o.batch = 2;
    data::write_png(d.pairs[3].lq_path, Tensor::zeros({3, 10, 13}));
    data::write_png(d.pairs[3].gt_path, Tensor::zeros({3, 10, 13}));
    data::TrainLoader loader(d.pairs, o);
    loader.next();
    CHECK_THROWS_WITH(loader.next(), has(d.pairs[3].lq_path + ": its sample is 10x13 but " +
                                                       d.pairs[2].lq_path + "'s is 10x12"));
    // Non-square images with rot and crop 0: transposed samples cannot share a batch.
    Dataset e("rot", 8, 10, 12);
    o.augment = {0, false, true};
    o.shuffle = true;
    data::TrainLoader rot(e.pairs, o);
    bool failed = false;
    for (int i = 0; i < 4 && !failed; ++i) {
      try {
        rot.next();
      } catch (const Error& err) {
        failed = std::string(err.what()).find("be square (rot transposes)") != std::string::npos;
      }
    }
    CHECK(failed);
  }

  TEST_CASE("TrainLoader shards: K loaders of batch B deliver, sample for sample, one loader's batch of K * B") {
    // Shuffled, cropped, flipped and rotated: the augmentation follows the
    // position, so the shards' samples are the single loader's bit for bit.
    Dataset d("shards", 14, 12, 16);
    data::LoaderOptions single = options(2);
    single.batch = 4;
    data::TrainLoader one(d.pairs, single);
    CHECK(one.batches_per_epoch() == 3);
    std::vector<std::unique_ptr<data::TrainLoader>> shards;
    for (int r = 0; r < 2; ++r) {
      data::LoaderOptions o = options(r == 0 ? 0 : 2);  // workers do not matter
      o.batch = 2;
      o.shard = r;
      o.shards = 2;
      shards.push_back(std::make_unique<data::TrainLoader>(d.pairs, o));
      CHECK(shards.back()->batches_per_epoch() == 3);  // 14 / (2 * 2)
    }
    const int64_t n = 3 * 8 * 8;  // one sample's values
    for (int b = 0; b < 7; ++b) {  // crosses two epoch boundaries
      INFO("batch ", b);
      const auto whole = one.next();
      const auto lq = whole.lq.to_vector(), gt = whole.gt.to_vector();
      for (int r = 0; r < 2; ++r) {
        CHECK(shards[r]->state().cursor == b % 3);
        const auto part = shards[r]->next();
        const auto part_lq = part.lq.to_vector(), part_gt = part.gt.to_vector();
        for (int k = 0; k < 2; ++k) {  // shard r's sample k is position r + 2k of the global batch
          const int64_t j = r + 2 * k;
          CHECK(part.names[k] == whole.names[j]);
          CHECK(std::vector<double>(part_lq.begin() + k * n, part_lq.begin() + (k + 1) * n) ==
                std::vector<double>(lq.begin() + j * n, lq.begin() + (j + 1) * n));
          CHECK(std::vector<double>(part_gt.begin() + k * n, part_gt.begin() + (k + 1) * n) ==
                std::vector<double>(gt.begin() + j * n, gt.begin() + (j + 1) * n));
        }
      }
    }
    data::LoaderOptions bad = options(1);
    bad.shard = 2;
    bad.shards = 2;
    CHECK_THROWS_WITH(data::TrainLoader(d.pairs, bad), doctest::Contains("shard 2 of 2 does not exist"));
    bad.shard = 0;
    bad.batch = 8;
    CHECK_THROWS_WITH(data::TrainLoader(d.pairs, bad),
                      "TrainLoader: 14 pairs do not make one batch of 8 per rank on 2 ranks");
  }

  TEST_CASE("TrainLoader: option errors") {
    Dataset d("options", 2, 8, 8);
    data::LoaderOptions o = options(1);
    CHECK_THROWS_WITH(data::TrainLoader(d.pairs, o), "TrainLoader: 2 pairs do not make one batch of 3");
    o.batch = 0;
    CHECK_THROWS_WITH(data::TrainLoader(d.pairs, o), doctest::Contains("batch size must be positive"));
    o.batch = 1;
    o.prefetch = 0;
    CHECK_THROWS_WITH(data::TrainLoader(d.pairs, o), doctest::Contains("prefetch must be at least 1"));
  }

  TEST_CASE("loader seeds differ across epochs and positions") {
    std::set<uint64_t> seeds;
    for (int64_t e = 0; e < 4; ++e) {
      seeds.insert(data::epoch_seed(10, e));
      for (int64_t p = 0; p < 50; ++p) seeds.insert(data::sample_seed(10, e, p));
    }
    CHECK(seeds.size() == 4 + 4 * 50);
    CHECK(data::sample_seed(10, 0, 1) != data::sample_seed(11, 0, 1));
    CHECK(data::epoch_order(5, false, 1, 3) == std::vector<int64_t>{0, 1, 2, 3, 4});
  }
}
