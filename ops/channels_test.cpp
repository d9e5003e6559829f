#include <doctest/doctest.h>

#include "op_harness.h"
#include "ops/channels.h"
#include "ops/elementwise.h"
#include "parity.h"

using namespace liednet;

TEST_SUITE("ops") {
  TEST_CASE("op concat_channels") {
    testing::check_op({"concat_channels 1x{2,1,4}x5x7",
                       {{1, 2, 5, 7}, {1, 1, 5, 7}, {1, 4, 5, 7}},
                       [](auto& x) { return ops::concat_channels({x[0], x[1], x[2]}); }});
    testing::check_op({"concat_channels 2x{3,2}x5x7",
                       {{2, 3, 5, 7}, {2, 2, 5, 7}},
                       [](auto& x) { return ops::concat_channels({x[0], x[1]}); }});
    testing::check_op({"concat_channels (N,C,L) 2x{3,1}x9",
                       {{2, 3, 9}, {2, 1, 9}},
                       [](auto& x) { return ops::concat_channels({x[0], x[1]}); }});
    testing::check_op(
        {"concat_channels one input", {{2, 3, 4, 5}}, [](auto& x) { return ops::concat_channels({x[0]}); }});
    testing::check_op({"concat_channels same input twice",
                       {{2, 3, 4, 5}},
                       [](auto& x) { return ops::concat_channels({x[0], x[0]}); }});
    testing::check_op({.name = "concat_channels middle input without grad",
                       .shapes = {{2, 1, 3, 5}, {2, 2, 3, 5}, {2, 3, 3, 5}},
                       .fn = [](auto& x) { return ops::concat_channels({x[0], x[1], x[2]}); },
                       .requires_grad = {true, false, true}});
  }

  TEST_CASE("op split_channels") {
    // Each piece scaled differently and put back in another order: every
    // piece's gradient path is seen, and a swapped one would show.
    testing::check_op({"split_channels 2x6x5x7 {1,2,3}", {{2, 6, 5, 7}}, [](auto& x) {
                         auto p = ops::split_channels(x[0], {1, 2, 3});
                         return ops::concat_channels({ops::scale(p[2], 0.7), ops::scale(p[0], -1.3), p[1]});
                       }});
    testing::check_op({"split_channels 1x3x5x7 {1,1,1}", {{1, 3, 5, 7}}, [](auto& x) {
                         auto p = ops::split_channels(x[0], {1, 1, 1});
                         return ops::add(ops::add(ops::scale(p[0], 0.5), ops::scale(p[1], -2.0)), p[2]);
                       }});
    // The middle piece is unused: its channels get no gradient.
    testing::check_op({"split_channels unused piece", {{2, 7, 3, 4}}, [](auto& x) {
                         auto p = ops::split_channels(x[0], {2, 3, 2});
                         return ops::concat_channels({p[2], ops::scale(p[0], 3.0)});
                       }});
    Generator gen(5);
    Tensor x = Tensor::randn({2, 7, 3, 4}, gen, DType::F64).set_requires_grad();
    auto p = ops::split_channels(x, {2, 3, 2});
    REQUIRE(p.size() == 3);
    CHECK(p[1].shape() == Shape{2, 3, 3, 4});
    CHECK(p[1].at({1, 2, 2, 3}) == x.at({1, 4, 2, 3}));
    ops::scale(p[2], 2.0).backward(Tensor::ones(p[2].shape(), DType::F64));
    Tensor gx = x.grad();
    CHECK(gx.at({0, 0, 1, 1}) == 0.0);
    CHECK(gx.at({1, 4, 2, 3}) == 0.0);
    CHECK(gx.at({1, 5, 2, 3}) == 2.0);
    CHECK(gx.at({0, 6, 0, 0}) == 2.0);
  }

  TEST_CASE("op slice_channels") {
    testing::check_op(
        {"slice_channels 2x5x5x7 [1,4)", {{2, 5, 5, 7}}, [](auto& x) { return ops::slice_channels(x[0], 1, 4); }});
    testing::check_op(
        {"slice_channels 1x3x5x7 [0,3)", {{1, 3, 5, 7}}, [](auto& x) { return ops::slice_channels(x[0], 0, 3); }});
    testing::check_op(
        {"slice_channels (N,C,L) 2x4x9 [3,4)", {{2, 4, 9}}, [](auto& x) { return ops::slice_channels(x[0], 3, 4); }});
  }

  TEST_CASE("channel op errors name the op and the shapes") {
    CHECK_THROWS_WITH(ops::concat_channels({Tensor::zeros({2, 3, 4, 4}), Tensor::zeros({2, 1, 4, 5})}),
                      doctest::Contains("concat_channels: inputs must be (N, C_i, ...) with equal dims but C, dtype "
                                        "and device: f32 (2, 3, 4, 4) cpu, f32 (2, 1, 4, 5) cpu"));
    CHECK_THROWS_WITH(ops::concat_channels({Tensor::zeros({2, 3, 4}), Tensor::zeros({2, 3, 4}, DType::F64)}),
                      doctest::Contains("concat_channels: inputs must be (N, C_i, ...) with equal dims but C, dtype "
                                        "and device: f32 (2, 3, 4) cpu, f64 (2, 3, 4) cpu"));
    CHECK_THROWS_WITH(ops::concat_channels({}), doctest::Contains("concat_channels: no inputs"));
    CHECK_THROWS_WITH(ops::split_channels(Tensor::zeros({1, 5, 2, 2}), {2, 2}),
                      doctest::Contains("split_channels: sizes [2, 2] must be positive and sum to the channels of x "
                                        "f32 (1, 5, 2, 2) cpu"));
    CHECK_THROWS_WITH(ops::split_channels(Tensor::zeros({1, 2, 2, 2}), {3, -1}),
                      doctest::Contains("split_channels: sizes [3, -1] must be positive"));
    CHECK_THROWS_WITH(ops::slice_channels(Tensor::zeros({1, 5, 2, 2}), 3, 6),
                      doctest::Contains("slice_channels: channels [3, 6) are not a non-empty range within x "
                                        "f32 (1, 5, 2, 2) cpu"));
    CHECK_THROWS_WITH(ops::slice_channels(Tensor::zeros({5}), 0, 1),
                      doctest::Contains("slice_channels: x must be (N, C, ...), got f32 (5) cpu"));
  }
}

TEST_SUITE("parity") {
  TEST_CASE("channels parity") {
    testing::ParityGroup g("ops_channels");
    auto cat3 = [](auto& x) { return ops::concat_channels({x[0], x[1], x[2]}); };
    g.check("cat 1x{2,1,4}x5x7", cat3);
    g.check("cat 2x{1,2,3}x3x5 middle without grad", cat3);
    g.check("cat NCL 2x{3,1}x9", [](auto& x) { return ops::concat_channels({x[0], x[1]}); });
    g.check("split equal weighted sum", [](auto& x) {
      auto p = ops::split_channels(x[0], {2, 2, 2});
      return ops::add(ops::add(ops::mul(p[0], x[1]), ops::mul(p[1], x[2])), ops::mul(p[2], x[3]));
    });
    g.check("split {1,2,3} weighted reordered", [](auto& x) {
      auto p = ops::split_channels(x[0], {1, 2, 3});
      return ops::concat_channels({ops::mul(p[2], x[3]), ops::mul(p[0], x[1]), ops::mul(p[1], x[2])});
    });
    g.check("split unused piece", [](auto& x) {
      auto p = ops::split_channels(x[0], {2, 3, 2});
      return ops::add(ops::mul(p[0], x[1]), ops::mul(p[2], x[2]));
    });
    g.check("slice 1:4", [](auto& x) { return ops::slice_channels(x[0], 1, 4); });
    g.expect_all_checked();
  }
}
