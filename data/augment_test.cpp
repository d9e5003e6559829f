#include <doctest/doctest.h>

#include "test_util.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include <unistd.h>

#include "data/augment.h"
#include "data/image.h"
#include "tensor/error.h"

using namespace liednet;
namespace fs = std::filesystem;

namespace {

using testing::has;

constexpr int64_t kH = 37, kW = 53;  // odd and not square: a transposed window cannot pass for the original

// lq pixel (y, x) holds its coordinates: R = y, G = x, B = (7y + 3x) mod 256
// (8-bit levels); gt = 255 - lq, a known pixel mapping that any mismatch
// between the two images' windows or transforms breaks.
struct Fixture {
  fs::path dir;
  data::Pair pair;
  Fixture() {
    dir = fs::temp_directory_path() / ("liednet_augment_test_" + std::to_string(getpid()));
    fs::create_directories(dir);
    Tensor lq = Tensor::empty({3, kH, kW}), gt = Tensor::empty({3, kH, kW});
    for (int64_t y = 0; y < kH; ++y)
      for (int64_t x = 0; x < kW; ++x) {
        const int64_t v[3] = {y, x, (7 * y + 3 * x) % 256};
        for (int c = 0; c < 3; ++c) {
          lq.set({c, y, x}, v[c] / 255.0);
          gt.set({c, y, x}, (255 - v[c]) / 255.0);
        }
      }
    pair = {"v/coords.png", (dir / "lq.png").string(), (dir / "gt.png").string()};
    data::write_png(pair.lq_path, lq);
    data::write_png(pair.gt_path, gt);
  }
  ~Fixture() { fs::remove_all(dir); }
};

int level(float model_value) { return static_cast<int>(std::lround((model_value + 1.0) * 127.5)); }

struct Observed {
  int64_t top, left;       // the source window's corner
  int di_y, di_x, dj_y, dj_x;  // source step per output row i and per output column j
};

// Checks that the sample is a rigid transform of a crop x crop window (or the
// whole image) inside the source, the same for lq and gt, and returns it.
Observed check_sample(const data::Sample& s, int64_t crop) {
  const int64_t h = s.lq.size(1), w = s.lq.size(2);
  REQUIRE(s.gt.shape() == s.lq.shape());
  const float* lq = s.lq.data<float>();
  const float* gt = s.gt.data<float>();
  auto src = [&](int64_t i, int64_t j) {
    return std::pair<int, int>{level(lq[i * w + j]), level(lq[h * w + i * w + j])};
  };
  const auto [y0, x0] = src(0, 0);
  const auto [y1, x1] = src(1, 0);
  const auto [y2, x2] = src(0, 1);
  Observed o{0, 0, y1 - y0, x1 - x0, y2 - y0, x2 - x0};
  // Unit steps, perpendicular: one of the 8 flips/rotations.
  CHECK(std::abs(o.di_y) + std::abs(o.di_x) == 1);
  CHECK(std::abs(o.dj_y) + std::abs(o.dj_x) == 1);
  CHECK(o.di_y * o.dj_y + o.di_x * o.dj_x == 0);
  int64_t min_y = kH, min_x = kW, max_y = -1, max_x = -1;
  bool all_ok = true;
  for (int64_t i = 0; i < h; ++i)
    for (int64_t j = 0; j < w; ++j) {
      const int64_t y = y0 + i * o.di_y + j * o.dj_y, x = x0 + i * o.di_x + j * o.dj_x;
      const int64_t p = i * w + j;
      const int want[3] = {static_cast<int>(y), static_cast<int>(x), static_cast<int>((7 * y + 3 * x) % 256)};
      for (int c = 0; c < 3; ++c) {
        all_ok &= level(lq[c * h * w + p]) == want[c];
        all_ok &= level(gt[c * h * w + p]) == 255 - want[c];  // same window, same transform
      }
      min_y = std::min(min_y, y), max_y = std::max(max_y, y), min_x = std::min(min_x, x), max_x = std::max(max_x, x);
    }
  CHECK(all_ok);
  CHECK(min_y >= 0);
  CHECK(min_x >= 0);
  CHECK(max_y < kH);
  CHECK(max_x < kW);
  const int64_t eh = crop ? crop : kH, ew = crop ? crop : kW;
  CHECK(max_y - min_y + 1 == eh);
  CHECK(max_x - min_x + 1 == ew);
  o.top = min_y, o.left = min_x;
  return o;
}

// The transform's name from the steps: which way rows and columns run.
std::string kind(const Observed& o) {
  return std::to_string(o.di_y) + "," + std::to_string(o.di_x) + "," + std::to_string(o.dj_y) + "," +
         std::to_string(o.dj_x);
}

}  // namespace

TEST_SUITE("data") {
  TEST_CASE("load_pair: crop 0 and no flips give the whole images in [-1, 1]") {
    Fixture f;
    Generator rng(1);
    const data::Sample s = data::load_pair(f.pair, {}, rng);
    CHECK(s.name == "v/coords.png");
    REQUIRE(s.lq.shape() == Shape{3, kH, kW});
    CHECK(s.lq.to_vector() == data::to_model_range(data::read_image(f.pair.lq_path)).to_vector());
    CHECK(s.gt.to_vector() == data::to_model_range(data::read_image(f.pair.gt_path)).to_vector());
    const Observed o = check_sample(s, 0);
    CHECK(kind(o) == "1,0,0,1");
  }

  TEST_CASE("load_pair: the same window and transform on both images; all 8 transforms occur") {
    Fixture f;
    const int64_t crop = 16;
    std::map<std::string, int> kinds;
    std::set<int64_t> tops, lefts;
    const int draws = 400;
    for (int n = 0; n < draws; ++n) {
      Generator rng(1000 + n);
      const data::Sample s = data::load_pair(f.pair, {crop, true, true}, rng);
      REQUIRE(s.lq.shape() == Shape{3, crop, crop});
      const Observed o = check_sample(s, crop);
      ++kinds[kind(o)];
      tops.insert(o.top);
      lefts.insert(o.left);
    }
    CHECK(kinds.size() == 8);
    for (const auto& [k, count] : kinds) {
      INFO("transform ", k);
      CHECK(count > draws / 8 / 2);  // each about 1/8
    }
    // Windows reach both edges: no off-by-one in the range of corners.
    CHECK(*tops.begin() == 0);
    CHECK(*tops.rbegin() == kH - crop);
    CHECK(*lefts.begin() == 0);
    CHECK(*lefts.rbegin() == kW - crop);
  }

  TEST_CASE("load_pair: flip alone flips left-right only; rot alone never flips left-right by itself") {
    Fixture f;
    std::set<std::string> with_flip, with_rot;
    for (int n = 0; n < 64; ++n) {
      Generator a(n), b(n);
      with_flip.insert(kind(check_sample(data::load_pair(f.pair, {0, true, false}, a), 0)));
      const data::Sample s = data::load_pair(f.pair, {0, false, true}, b);
      // Whole image: transposed samples are (W, H).
      CHECK((s.lq.shape() == Shape{3, kH, kW} || s.lq.shape() == Shape{3, kW, kH}));
      with_rot.insert(kind(check_sample(s, 0)));
    }
    CHECK(with_flip == std::set<std::string>{"1,0,0,1", "1,0,0,-1"});
    // vflip and transpose: identity, vflip, transpose, vflip then transpose.
    CHECK(with_rot == std::set<std::string>{"1,0,0,1", "-1,0,0,1", "0,1,1,0", "0,1,-1,0"});
  }

  TEST_CASE("load_pair is a function of the generator") {
    Fixture f;
    Generator a(77), b(77);
    const data::Sample x = data::load_pair(f.pair, {8, true, true}, a), y = data::load_pair(f.pair, {8, true, true}, b);
    CHECK(x.lq.to_vector() == y.lq.to_vector());
    CHECK(x.gt.to_vector() == y.gt.to_vector());
  }

  TEST_CASE("apply_transform matches BasicSR's order: hflip, vflip, then transpose") {
    // 2 x 3 image, values 0..5; window the whole image.
    Tensor img = Tensor::from_vector({1, 2, 3}, {0, 1, 2, 3, 4, 5});
    data::Transform t{0, 0, 2, 3, true, false, false};
    CHECK(data::apply_transform(img, t).to_vector() == std::vector<double>{2, 1, 0, 5, 4, 3});
    t = {0, 0, 2, 3, false, true, false};
    CHECK(data::apply_transform(img, t).to_vector() == std::vector<double>{3, 4, 5, 0, 1, 2});
    t = {0, 0, 2, 3, false, false, true};
    Tensor out = data::apply_transform(img, t);
    CHECK(out.shape() == Shape{1, 3, 2});
    CHECK(out.to_vector() == std::vector<double>{0, 3, 1, 4, 2, 5});
    t = {0, 0, 2, 3, true, true, true};  // hflip + vflip = 180 degrees, then transpose
    CHECK(data::apply_transform(img, t).to_vector() == std::vector<double>{5, 2, 4, 1, 3, 0});
    t = {1, 1, 1, 2, false, false, false};  // a window
    CHECK(data::apply_transform(img, t, 2.0f, -1.0f).to_vector() == std::vector<double>{7, 9});
    t = {1, 2, 1, 2, false, false, false};
    CHECK_THROWS_WITH(data::apply_transform(img, t), doctest::Contains("outside the image"));
  }

  TEST_CASE("load_pair errors name the files") {
    Fixture f;
    Generator rng(0);
    CHECK_THROWS_WITH(data::load_pair(f.pair, {38, false, false}, rng),
                      has(f.pair.lq_path + ": the image (37x53, H x W) is smaller than the crop 38x38"));
    const std::string other = (f.dir / "other.png").string();
    data::write_png(other, Tensor::zeros({3, kH, kW - 1}));
    data::Pair mismatched{"m.png", f.pair.lq_path, other};
    CHECK_THROWS_WITH(data::load_pair(mismatched, {}, rng),
                      has(f.pair.lq_path + " is 37x53 but " + other + " is 37x52"));
    data::Pair missing{"x.png", (f.dir / "missing.png").string(), other};
    CHECK_THROWS_WITH_AS(data::load_pair(missing, {}, rng), doctest::Contains("missing.png: cannot open image"), Error);
    CHECK_THROWS_WITH(data::load_pair(f.pair, {-1, false, false}, rng), doctest::Contains("crop size must be 0"));
  }
}
