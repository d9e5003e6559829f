#include <doctest/doctest.h>

#include "op_harness.h"
#include "ops/shuffle.h"
#include "parity.h"

using namespace liednet;

TEST_SUITE("ops") {
  TEST_CASE("op pixel_shuffle") {
    testing::check_op({"pixel_shuffle r2 1x12x5x7", {{1, 12, 5, 7}}, [](auto& x) { return ops::pixel_shuffle(x[0]); }});
    testing::check_op(
        {"pixel_shuffle r3 2x18x3x4", {{2, 18, 3, 4}}, [](auto& x) { return ops::pixel_shuffle(x[0], 3); }});
    testing::check_op(
        {"pixel_shuffle r1 1x3x5x7", {{1, 3, 5, 7}}, [](auto& x) { return ops::pixel_shuffle(x[0], 1); }});

    // The channel order, from the definition: out[n, c, h*r + i, w*r + j] = x[n, c*r*r + i*r + j, h, w].
    Generator gen(3);
    Tensor x = Tensor::randn({2, 8, 3, 5}, gen, DType::F64);
    Tensor y = ops::pixel_shuffle(x, 2);
    CHECK(y.shape() == Shape{2, 2, 6, 10});
    bool all_equal = true;
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t c = 0; c < 2; ++c)
        for (int64_t h = 0; h < 3; ++h)
          for (int64_t w = 0; w < 5; ++w)
            for (int64_t i = 0; i < 2; ++i)
              for (int64_t j = 0; j < 2; ++j)
                all_equal = all_equal && y.at({n, c, h * 2 + i, w * 2 + j}) == x.at({n, c * 4 + i * 2 + j, h, w});
    CHECK(all_equal);
    CHECK(ops::pixel_unshuffle(y, 2).to_vector() == x.to_vector());
  }

  TEST_CASE("op pixel_unshuffle") {
    testing::check_op(
        {"pixel_unshuffle r2 1x3x10x14", {{1, 3, 10, 14}}, [](auto& x) { return ops::pixel_unshuffle(x[0]); }});
    testing::check_op(
        {"pixel_unshuffle r3 2x2x9x6", {{2, 2, 9, 6}}, [](auto& x) { return ops::pixel_unshuffle(x[0], 3); }});
    Generator gen(4);
    Tensor x = Tensor::randn({1, 3, 6, 12}, gen, DType::F32);
    Tensor y = ops::pixel_unshuffle(x, 3);
    CHECK(y.shape() == Shape{1, 27, 2, 4});
    CHECK(ops::pixel_shuffle(y, 3).to_vector() == x.to_vector());
  }

  TEST_CASE("pixel (un)shuffle errors name the op and the shape") {
    CHECK_THROWS_WITH(ops::pixel_shuffle(Tensor::zeros({1, 6, 4, 4}), 2),
                      doctest::Contains("pixel_shuffle: channels of x f32 (1, 6, 4, 4) cpu are not a multiple "
                                        "of r*r = 4"));
    CHECK_THROWS_WITH(ops::pixel_unshuffle(Tensor::zeros({1, 3, 4, 5}), 2),
                      doctest::Contains("pixel_unshuffle: height and width of x f32 (1, 3, 4, 5) cpu are not "
                                        "multiples of r = 2"));
    CHECK_THROWS_WITH(ops::pixel_shuffle(Tensor::zeros({4, 4, 4}), 2),
                      doctest::Contains("pixel_shuffle: x must be (N, C, H, W), got f32 (4, 4, 4) cpu"));
    CHECK_THROWS_WITH(ops::pixel_unshuffle(Tensor::zeros({1, 4, 4, 4}), 0),
                      doctest::Contains("pixel_unshuffle: factor must be >= 1, got 0 for x f32 (1, 4, 4, 4) cpu"));
  }
}

TEST_SUITE("parity") {
  TEST_CASE("shuffle parity") {
    testing::ParityGroup g("ops_shuffle");
    g.check("pixel_shuffle r2 1x12x5x7", [](auto& x) { return ops::pixel_shuffle(x[0], 2); });
    g.check("pixel_shuffle r3 2x18x3x4", [](auto& x) { return ops::pixel_shuffle(x[0], 3); });
    g.check("pixel_shuffle r2 2x8x6x4", [](auto& x) { return ops::pixel_shuffle(x[0], 2); });
    g.check("pixel_unshuffle r2 1x3x10x14", [](auto& x) { return ops::pixel_unshuffle(x[0], 2); });
    g.check("pixel_unshuffle r3 2x2x9x6", [](auto& x) { return ops::pixel_unshuffle(x[0], 3); });
    g.check("pixel_unshuffle r2 2x5x6x8", [](auto& x) { return ops::pixel_unshuffle(x[0], 2); });
    g.expect_all_checked();
  }
}
