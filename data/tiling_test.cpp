#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "autograd/autograd.h"
#include "data/tiling.h"
#include "liednet/liednet.h"
#include "ops/elementwise.h"

using namespace liednet;

TEST_SUITE("data") {
  TEST_CASE("tile spans cover the axis and the blending weights sum to one at every pixel") {
    for (auto [length, tile, overlap] : {std::tuple{1000, 256, 32}, {257, 256, 32}, {512, 256, 0}, {100, 256, 32},
                                         {777, 100, 50}, {3000, 1024, 64}}) {
      const auto spans = data::tile_spans(length, tile, overlap);
      std::vector<double> sum(length, 0.0);
      for (size_t i = 0; i < spans.size(); ++i) {
        CHECK(spans[i].start >= 0);
        CHECK(spans[i].start + spans[i].size <= length);
        const auto w = data::tile_weights(spans, i, overlap);
        for (int64_t x = 0; x < spans[i].size; ++x) {
          CHECK(w[x] >= 0.0f);
          sum[spans[i].start + x] += w[x];
        }
      }
      for (int64_t x = 0; x < length; ++x) CHECK(std::abs(sum[x] - 1.0) < 1e-6);
    }
    CHECK_THROWS_WITH(data::tile_spans(100, 64, 40), doctest::Contains("overlap 40 must be between 0 and tile/2"));
  }

  TEST_CASE("tiling an identity reproduces the image; a tile as large as the image is exactly untiled") {
    Generator g(5);
    Tensor img = Tensor::uniform({1, 3, 45, 70}, -1, 1, g);
    Tensor same = data::run_tiled(img, 16, 4, [](const Tensor& t) { return t.clone(); });
    const auto a = img.to_vector(), b = same.to_vector();
    for (size_t i = 0; i < a.size(); ++i) CHECK(std::abs(a[i] - b[i]) < 1e-6);

    net::LIEDNet model({4, {1, 1, 1}, 1, "tiny"}, g);
    autograd::NoGradGuard ng;
    auto run = [&](const Tensor& t) { return model.forward(t).out; };
    Tensor untiled = run(img);
    Tensor one_tile = data::run_tiled(img, 70, 8, run);
    CHECK(one_tile.to_vector() == untiled.to_vector());
    // Several tiles: an approximation (the network is global), but close and seamless.
    Tensor tiled = data::run_tiled(img, 32, 8, run);
    CHECK(tiled.shape() == untiled.shape());
    for (double v : tiled.to_vector()) CHECK(std::isfinite(v));
  }

  TEST_CASE("seams: a different offset per tile is spread over the overlap, never a step") {
    // Each tile adds its own constant (as a global network's statistics would
    // shift a tile's output). Blended, neighbouring output pixels may differ
    // from the input's neighbours by at most the largest offset step divided
    // by overlap + 1; a hard cut would show the whole step.
    Generator g(2);
    Tensor img = Tensor::uniform({1, 1, 40, 61}, -1, 1, g);
    int calls = 0;
    auto offset = [&](const Tensor& t) {
      Tensor y = t.clone();
      const float c = static_cast<float>(calls++ % 2);  // neighbouring tiles in a row differ by 1
      for (int64_t i = 0; i < y.numel(); ++i) y.data<float>()[i] += c;
      return y;
    };
    for (int64_t overlap : {0, 4, 8}) {
      calls = 0;
      const Tensor out = data::run_tiled(img, 24, overlap, offset);
      double worst = 0;  // largest change between neighbours beyond the input's own
      const int64_t H = 40, W = 61;
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
          auto d = [&](int64_t y2, int64_t x2) {
            return std::abs((out.at({0, 0, y2, x2}) - out.at({0, 0, y, x})) - (img.at({0, 0, y2, x2}) - img.at({0, 0, y, x})));
          };
          if (x + 1 < W) worst = std::max(worst, d(y, x + 1));
          if (y + 1 < H) worst = std::max(worst, d(y + 1, x));
        }
      INFO("overlap ", overlap, ": largest step ", worst);
      if (overlap == 0) CHECK(worst >= 0.99);  // hard cuts: the test sees seams when there are some
      else CHECK(worst <= 1.0 / (overlap + 1) + 1e-5);
    }
  }

  TEST_CASE("seams: LIEDNet tiled shows no peak of error steps at tile borders") {
    // e = tiled - untiled. Its mean step between neighbouring columns is a
    // profile over x; a seam is a peak in it where tiles meet. With the
    // cross-fade the profile stays within 2.5 times its median; with hard cuts
    // (overlap 0) the borders stand out above 4 times the median.
    Generator g(5);
    // A smooth image, so that the error is smooth inside a tile and a step stands out.
    Tensor img = Tensor::empty({1, 3, 48, 72});
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 48; ++y)
        for (int64_t x = 0; x < 72; ++x) img.set({0, c, y, x}, 0.8 * std::sin(0.11 * x + 0.07 * y + c));
    net::LIEDNet model({4, {1, 1, 1}, 1, "tiny"}, g);
    autograd::NoGradGuard ng;
    auto run = [&](const Tensor& t) { return model.forward(t).out; };
    const Tensor untiled = run(img);
    // The profile's peak over its median.
    auto peak = [&](int64_t overlap) {
      const Tensor e = ops::sub(data::run_tiled(img, 32, overlap, run), untiled);
      std::vector<double> profile(71, 0.0);
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t y = 0; y < 48; ++y)
          for (int64_t x = 0; x + 1 < 72; ++x) profile[x] += std::abs(e.at({0, c, y, x + 1}) - e.at({0, c, y, x}));
      const double top = *std::max_element(profile.begin(), profile.end());
      std::nth_element(profile.begin(), profile.begin() + 35, profile.end());
      return top / profile[35];
    };
    const double blended = peak(8), cut = peak(0);
    MESSAGE("error-step profile, peak over median: overlap 8 ", blended, ", overlap 0 ", cut);
    CHECK(blended <= 2.5);
    CHECK(cut > 4);
  }
}
