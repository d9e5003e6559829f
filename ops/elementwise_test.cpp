#include <doctest/doctest.h>

#include "op_harness.h"
#include "ops/elementwise.h"
#include "parity.h"

using namespace liednet;
using testing::OpCase;

TEST_SUITE("ops") {
  TEST_CASE("elementwise gradcheck") {
    const Shape s{1, 3, 5, 7};
    testing::check_op({"add", {s, s}, [](auto& x) { return ops::add(x[0], x[1]); }});
    testing::check_op({"sub", {s, s}, [](auto& x) { return ops::sub(x[0], x[1]); }});
    testing::check_op({"mul", {s, s}, [](auto& x) { return ops::mul(x[0], x[1]); }});
    testing::check_op({"mul same input twice", {s}, [](auto& x) { return ops::mul(x[0], x[0]); }});
    testing::check_op({"scale", {s}, [](auto& x) { return ops::scale(x[0], -0.37); }});
    testing::check_op({"add_scalar", {s}, [](auto& x) { return ops::add_scalar(x[0], 1.25); }});
    testing::check_op({"add_channel (C)", {{2, 3, 5, 7}, {3}}, [](auto& x) { return ops::add_channel(x[0], x[1]); }});
    testing::check_op(
        {"add_channel (N,C)", {{2, 3, 5, 7}, {2, 3}}, [](auto& x) { return ops::add_channel(x[0], x[1]); }});
    testing::check_op({"mul_channel (C)", {{2, 3, 5, 7}, {3}}, [](auto& x) { return ops::mul_channel(x[0], x[1]); }});
    testing::check_op(
        {"mul_channel (N,C)", {{2, 3, 5, 7}, {2, 3}}, [](auto& x) { return ops::mul_channel(x[0], x[1]); }});
    testing::check_op({"mul_channel (N,C,L)", {{2, 4, 9}, {4}}, [](auto& x) { return ops::mul_channel(x[0], x[1]); }});
  }

  TEST_CASE("elementwise errors name the op and both shapes") {
    Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({3, 2});
    CHECK_THROWS_WITH(ops::add(a, b), doctest::Contains("add: inputs differ: f32 (2, 3) cpu vs f32 (3, 2) cpu"));
    CHECK_THROWS_WITH(ops::mul(a, a.to(DType::F64)), doctest::Contains("mul: inputs differ"));
    CHECK_THROWS_WITH(ops::add_channel(Tensor::zeros({2, 3, 4, 4}), Tensor::zeros({4})),
                      doctest::Contains("add_channel: per-channel tensor must be (3) or (2, 3), got f32 (4) cpu"));
  }
}

TEST_SUITE("parity") {
  TEST_CASE("elementwise parity") {
    testing::ParityGroup g("ops_elementwise");
    g.check("add", [](auto& x) { return ops::add(x[0], x[1]); });
    g.check("sub", [](auto& x) { return ops::sub(x[0], x[1]); });
    g.check("mul", [](auto& x) { return ops::mul(x[0], x[1]); });
    g.check("scale", [](auto& x) { return ops::scale(x[0], -0.37); });
    g.check("add_scalar", [](auto& x) { return ops::add_scalar(x[0], 1.25); });
    g.check("add_channel C", [](auto& x) { return ops::add_channel(x[0], x[1]); });
    g.check("add_channel NC", [](auto& x) { return ops::add_channel(x[0], x[1]); });
    g.check("mul_channel C", [](auto& x) { return ops::mul_channel(x[0], x[1]); });
    g.check("mul_channel NC", [](auto& x) { return ops::mul_channel(x[0], x[1]); });
    g.expect_all_checked();
  }
}
