// Upstream's low-light sampling (data/llie_dataset.h) and the loader's keep_last.
#include <doctest/doctest.h>

#include <filesystem>

#include "data/image.h"
#include "data/llie_dataset.h"
#include "data/loader.h"
#include "parity.h"
#include "tensor/safetensors.h"
#include "test_util.h"

using namespace liednet;
namespace fs = std::filesystem;

namespace {
// A folder of (3, h, w) PNGs named `names`, pixel value (k + 1) * 10 / 255 for the k-th name.
void write_folder(const fs::path& dir, const std::vector<std::string>& names, int64_t h, int64_t w) {
  fs::create_directories(dir);
  for (size_t k = 0; k < names.size(); ++k)
    data::write_png((dir / names[k]).string(), Tensor::full({3, h, w}, static_cast<double>((k + 1) * 10) / 255.0));
}

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("liednet_llie_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}
}  // namespace

TEST_SUITE("data") {
  TEST_CASE("llie pairing: low/ and high/ sorted and paired by position, not by name") {
    const fs::path d = fresh_dir("pairs");
    write_folder(d / "low", {"c.png", "a.png", "b.png"}, 4, 4);
    write_folder(d / "high", {"z.png", "x.png", "y.png"}, 4, 4);
    fs::create_directories(d / "low" / "sub");  // folders are not images, and not entered
    const std::vector<data::Pair> p = data::pair_sorted_order(d.string());
    REQUIRE(p.size() == 3);
    CHECK(p[0].name == "a.png");
    CHECK(fs::path(p[0].lq_path).filename() == "a.png");
    CHECK(fs::path(p[0].gt_path).filename() == "x.png");
    CHECK(fs::path(p[2].lq_path).filename() == "c.png");
    CHECK(fs::path(p[2].gt_path).filename() == "z.png");
    // Symbolic links to the folders are followed (docs/data.md's way to other layouts).
    const fs::path linked = fresh_dir("linked");
    fs::create_directories(linked);
    fs::create_directory_symlink(d / "low", linked / "low");
    fs::create_directory_symlink(d / "high", linked / "high");
    CHECK(data::pair_sorted_order(linked.string()).size() == 3);
    fs::remove_all(linked);
    write_folder(d / "high", {"w.png"}, 4, 4);
    CHECK_THROWS_WITH(data::pair_sorted_order(d.string()), testing::has("has 3 images but " + (d / "high").string() + " has 4"));
    CHECK_THROWS_WITH(data::pair_sorted_order((d / "nothing").string()), doctest::Contains("not found or not a folder"));
    fs::remove_all(d);
  }

  TEST_CASE("llie sample: a small image is reflect-padded to the crop, values stay in [0, 1]") {
    const fs::path d = fresh_dir("sample");
    write_folder(d / "low", {"a.png"}, 5, 6);
    write_folder(d / "high", {"a.png"}, 5, 6);
    const std::vector<data::Pair> p = data::pair_sorted_order(d.string());
    data::AugmentOptions a{8, true, true, true};
    for (uint64_t seed = 0; seed < 20; ++seed) {
      Generator rng(seed);
      const data::Sample s = data::load_llie_pair(p[0], a, rng);
      CHECK(s.lq.shape() == Shape{3, 8, 8});
      const std::vector<double> v = s.gt.to_vector();
      for (double x : v) CHECK(x == doctest::Approx(10.0 / 255.0).epsilon(1e-6));
    }
    fs::remove_all(d);
  }

  TEST_CASE("TrainLoader keep_last: the epoch's last incomplete batch is delivered, smaller") {
    const fs::path d = fresh_dir("keep");
    write_folder(d / "low", {"a.png", "b.png", "c.png", "d.png", "e.png"}, 8, 8);
    write_folder(d / "high", {"a.png", "b.png", "c.png", "d.png", "e.png"}, 8, 8);
    data::LoaderOptions o;
    o.batch = 2;
    o.shuffle = false;
    o.keep_last = true;
    o.augment.llie = true;
    for (int workers : {0, 2}) {
      o.workers = workers;
      data::TrainLoader l(data::pair_sorted_order(d.string()), o);
      CHECK(l.batches_per_epoch() == 3);
      std::vector<int64_t> sizes;
      std::vector<std::string> names;
      for (int i = 0; i < 6; ++i) {
        data::TrainLoader::Batch b = l.next();
        sizes.push_back(b.lq.size(0));
        names.insert(names.end(), b.names.begin(), b.names.end());
      }
      CHECK(sizes == std::vector<int64_t>{2, 2, 1, 2, 2, 1});
      CHECK(names[4] == "e.png");
      CHECK(names[5] == "a.png");
    }
    o.keep_last = false;
    CHECK(data::TrainLoader(data::pair_sorted_order(d.string()), o).batches_per_epoch() == 2);
    // Two shards of batch 2: the remainder of 1 cannot give both a sample, so it is dropped.
    o.keep_last = true;
    o.shards = 2;
    CHECK(data::TrainLoader(data::pair_sorted_order(d.string()), o).batches_per_epoch() == 1);
    fs::remove_all(d);
  }
}

TEST_SUITE("parity") {
  TEST_CASE("llie sampling: the seven orientations and reflect padding equal torch's and numpy's") {
    const std::string path = testing::oracle_file("llie_data.safetensors");
    if (!fs::exists(path)) {
      MESSAGE("skipped: ", path, " is absent (run tests/oracle/llie_cases.py)");
      return;
    }
    const SafetensorsContents c = load_safetensors(path);
    const Tensor& x = c.at("orient/in");
    for (int draw : {0, 8}) CHECK(data::apply_transform(x, data::orient({0, 0, 5, 7}, draw)).to_vector() == x.to_vector());
    for (int k = 1; k <= 7; ++k) {
      const Tensor got = data::apply_transform(x, data::orient({0, 0, 5, 7}, k));
      const Tensor& want = c.at("orient/" + std::to_string(k));
      INFO("orientation ", k);
      CHECK(got.shape() == want.shape());
      CHECK(got.to_vector() == want.to_vector());
    }
    for (const char* name : {"small", "beyond"}) {
      const Tensor& want = c.at(std::string("pad/") + name + "/out");
      const Tensor got = data::reflect_pad(c.at(std::string("pad/") + name + "/in"), want.size(1), want.size(2));
      INFO(name);
      CHECK(got.to_vector() == want.to_vector());
    }
  }
}
