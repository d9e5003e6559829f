#include <doctest/doctest.h>

#include "op_harness.h"
#include "ops/pad.h"
#include "parity.h"

using namespace liednet;

TEST_SUITE("ops") {
  TEST_CASE("op pad_reflect") {
    testing::check_op({.name = "pad_reflect 1x3x5x7 by (0, 3, 0, 1)",
                       .shapes = {{1, 3, 5, 7}},
                       .fn = [](auto& x) { return ops::pad_reflect(x[0], 0, 3, 0, 1); }});
    testing::check_op({.name = "pad_reflect 2x2x4x3 on every side",
                       .shapes = {{2, 2, 4, 3}},
                       .fn = [](auto& x) { return ops::pad_reflect(x[0], 2, 1, 2, 2); }});
    testing::check_op({.name = "pad_reflect beyond the side (mirrors back and forth)",
                       .shapes = {{1, 1, 3, 2}},
                       .fn = [](auto& x) { return ops::pad_reflect(x[0], 0, 5, 0, 4); }});
  }

  TEST_CASE("op crop") {
    testing::check_op({.name = "crop 1x3x5x7 to 3x4 at (1, 2)",
                       .shapes = {{1, 3, 5, 7}},
                       .fn = [](auto& x) { return ops::crop(x[0], 1, 2, 3, 4); }});
  }

  TEST_CASE("pad_reflect mirrors without repeating the edge") {
    Tensor x = Tensor::from_vector({1, 1, 1, 4}, {1, 2, 3, 4});
    CHECK(ops::pad_reflect(x, 0, 0, 2, 2).to_vector() == std::vector<double>{3, 2, 1, 2, 3, 4, 3, 2});
    CHECK(ops::pad_reflect(x, 0, 0, 0, 7).to_vector() == std::vector<double>{1, 2, 3, 4, 3, 2, 1, 2, 3, 4, 3});
    Tensor one = Tensor::from_vector({1, 1, 1, 1}, {5});
    CHECK(ops::pad_reflect(one, 1, 1, 1, 1).to_vector() == std::vector<double>(9, 5.0));
  }

  TEST_CASE("pad and crop errors") {
    Tensor x = Tensor::zeros({1, 3, 5, 7});
    CHECK_THROWS_WITH(ops::crop(x, 3, 0, 3, 7), doctest::Contains("crop: window (top 3, left 0, 3x7) does not fit in f32 (1, 3, 5, 7) cpu"));
    CHECK_THROWS_WITH(ops::pad_reflect(x, -1, 0, 0, 0), doctest::Contains("pad_reflect: negative padding"));
    CHECK_THROWS_WITH(ops::pad_reflect(Tensor::zeros({3, 5, 7}), 1, 1, 1, 1), doctest::Contains("x must have 4 dimensions"));
  }
}

TEST_SUITE("parity") {
  TEST_CASE("pad parity") {
    testing::ParityGroup g("ops_pad");
    g.check("pad_reflect bottom right", [](auto& x) { return ops::pad_reflect(x[0], 0, 3, 0, 1); });
    g.check("pad_reflect all sides", [](auto& x) { return ops::pad_reflect(x[0], 2, 1, 2, 2); });
    g.check("crop", [](auto& x) { return ops::crop(x[0], 1, 2, 3, 4); });
    g.expect_all_checked();
  }
}
