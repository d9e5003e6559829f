#include <doctest/doctest.h>

#include <cmath>

#include "op_harness.h"
#include "ops/resize.h"
#include "parity.h"

using namespace liednet;

namespace {
autograd::TensorFn resize_to(int64_t h, int64_t w) {
  return [h, w](const std::vector<Tensor>& x) { return ops::resize_bicubic(x[0], h, w); };
}
}  // namespace

TEST_SUITE("ops") {
  TEST_CASE("op resize_bicubic") {
    testing::check_op({"resize_bicubic 1x3x5x7 -> 3x4", {{1, 3, 5, 7}}, resize_to(3, 4)});
    testing::check_op({"resize_bicubic 1x3x5x7 -> 11x13", {{1, 3, 5, 7}}, resize_to(11, 13)});
    testing::check_op({"resize_bicubic 2x3x16x24 -> 2x3", {{2, 3, 16, 24}}, resize_to(2, 3)});
    testing::check_op({"resize_bicubic 1x2x32x40 -> 4x5 (down x8)", {{1, 2, 32, 40}}, resize_to(4, 5)});
    testing::check_op({"resize_bicubic 1x2x5x7 -> 1x1", {{1, 2, 5, 7}}, resize_to(1, 1)});
    testing::check_op({"resize_bicubic 1x2x6x9 -> 7x3", {{1, 2, 6, 9}}, resize_to(7, 3)});
    testing::check_op({"resize_bicubic 2x1x1x1 -> 3x2", {{2, 1, 1, 1}}, resize_to(3, 2)});
    testing::check_op({"resize_bicubic 2x1x4x6 -> 4x6 (same size)", {{2, 1, 4, 6}}, resize_to(4, 6)});

    // The taps' weights sum to one, so a constant image stays constant; the
    // same size is the identity.
    Tensor c = Tensor::full({1, 2, 5, 7}, 0.625, DType::F64);
    double worst = 0;
    for (double v : ops::resize_bicubic(c, 11, 3).to_vector()) worst = std::max(worst, std::fabs(v - 0.625));
    CHECK(worst < 1e-15);
    Generator gen(9);
    Tensor x = Tensor::randn({2, 3, 5, 7}, gen, DType::F32);
    CHECK(ops::resize_bicubic(x, 5, 7).to_vector() == x.to_vector());
  }

  TEST_CASE("resize_bicubic errors name the op and the shape") {
    CHECK_THROWS_WITH(ops::resize_bicubic(Tensor::zeros({3, 5, 7}), 2, 2),
                      doctest::Contains("resize_bicubic: x must be (N, C, H, W), got f32 (3, 5, 7) cpu"));
    CHECK_THROWS_WITH(ops::resize_bicubic(Tensor::zeros({1, 3, 5, 7}), 0, 2),
                      doctest::Contains("resize_bicubic: output size (0, 2) must be positive, for x "
                                        "f32 (1, 3, 5, 7) cpu"));
  }
}

TEST_SUITE("parity") {
  TEST_CASE("resize parity") {
    testing::ParityGroup g("ops_resize");
    g.check("1x3x5x7 -> 3x4", resize_to(3, 4));
    g.check("1x3x5x7 -> 11x13", resize_to(11, 13));
    g.check("2x3x16x24 -> 2x3", resize_to(2, 3));
    g.check("1x2x5x7 -> 1x1", resize_to(1, 1));
    g.check("2x3x64x48 -> 8x6 (down x8)", resize_to(8, 6));
    g.check("1x2x6x9 -> 7x3", resize_to(7, 3));
    g.check("1x1x5x7 -> 10x14 (x2)", resize_to(10, 14));
    g.check("2x1x4x6 -> 4x6 (same size)", resize_to(4, 6));
    g.check("1x1x1x1 -> 3x2", resize_to(3, 2));
    g.expect_all_checked();
  }
}
