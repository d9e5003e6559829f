#include <doctest/doctest.h>

#include <cmath>

#include "autograd/autograd.h"
#include "data/tiling.h"
#include "liednet/liednet.h"

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
}
