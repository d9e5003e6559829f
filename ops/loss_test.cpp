#include <cmath>

#include <doctest/doctest.h>

#include "op_harness.h"
#include "ops/loss.h"
#include "parity.h"

using namespace liednet;
using testing::OpCase;

namespace {
// pred and target lie on opposite sides of 0, in a sign pattern fixed by the
// index, so |pred - target| >= 0.1 everywhere and no finite difference crosses
// the kink of |.|.
double side(int64_t i) { return i % 3 == 0 ? -1.0 : 1.0; }

Tensor separated(int input, const Shape& shape, Generator& gen) {
  Tensor x = Tensor::uniform(shape, 0.05, 1.0, gen, DType::F64);
  double* p = x.data<double>();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] *= input == 0 ? side(i) : -side(i);
  return x;
}

OpCase l1_case(const Shape& s, bool target_grad) {
  return {.name = std::string("l1_loss ") + (target_grad ? "" : "fixed target ") + s.str(),
          .shapes = {s, s},
          .fn = [](auto& x) { return ops::l1_loss(x[0], x[1]); },
          .requires_grad = {true, target_grad},
          .make_input = separated};
}
// Smooth L1: every |pred - target| at least 0.1 away from beta = 1 (below it
// for even indices, above for odd), so no finite difference crosses the
// change of piece.
Tensor smooth_separated(int input, const Shape& shape, Generator& gen) {
  Tensor x = Tensor::uniform(shape, 0.0, 1.0, gen, DType::F64);
  double* p = x.data<double>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double half = i % 2 == 0 ? 0.05 + 0.35 * p[i] : 0.6 + 0.4 * p[i];  // |d| in (0.1, 0.8) or (1.2, 2)
    p[i] = (input == 0 ? half : -half) * side(i);
  }
  return x;
}

OpCase smooth_l1_case(const Shape& s, bool target_grad) {
  return {.name = std::string("smooth_l1_loss ") + (target_grad ? "" : "fixed target ") + s.str(),
          .shapes = {s, s},
          .fn = [](auto& x) { return ops::smooth_l1_loss(x[0], x[1]); },
          .requires_grad = {true, target_grad},
          .make_input = smooth_separated};
}
}  // namespace

TEST_SUITE("ops") {
  TEST_CASE("op smooth_l1_loss") {
    for (const Shape& s : {Shape{1, 3, 5, 7}, Shape{2, 3, 7, 9}}) {
      testing::check_op(smooth_l1_case(s, true));
      testing::check_op(smooth_l1_case(s, false));
    }
    // Against the definition: both pieces, the boundary |d| = beta and d = 0.
    Tensor p = Tensor::from_vector({5}, {0.5, -3, 1, 0, 2}, DType::F64).set_requires_grad();
    Tensor t = Tensor::from_vector({5}, {0, 0, 0, 0, 2.25}, DType::F64).set_requires_grad();
    Tensor loss = ops::smooth_l1_loss(p, t);
    CHECK(loss.shape() == Shape{});
    CHECK(loss.item() == doctest::Approx((0.125 + 2.5 + 0.5 + 0 + 0.03125) / 5.0).epsilon(1e-15));
    loss.backward();
    const std::vector<double> gp = p.grad().to_vector(), gt = t.grad().to_vector();
    const std::vector<double> want{0.1, -0.2, 0.2, 0, -0.05};
    for (size_t i = 0; i < want.size(); ++i) {
      CHECK(gp[i] == doctest::Approx(want[i]).epsilon(1e-15));
      CHECK(gt[i] == doctest::Approx(-want[i]).epsilon(1e-15));
    }
    // beta scales the quadratic piece: 0.5 * 0.25 / 0.5 for d = 0.5, 3 - 0.25 for d = 3.
    Tensor q = Tensor::from_vector({2}, {0.5, 3}, DType::F64);
    CHECK(ops::smooth_l1_loss(q, Tensor::zeros({2}, DType::F64), 0.5).item() ==
          doctest::Approx((0.25 + 2.75) / 2).epsilon(1e-15));
    CHECK_THROWS_WITH(ops::smooth_l1_loss(q, q, 0.0), doctest::Contains("smooth_l1_loss: beta must be positive, got 0"));
    CHECK_THROWS_WITH(ops::smooth_l1_loss(Tensor::zeros({2, 2}), Tensor::zeros({2, 3})),
                      doctest::Contains("smooth_l1_loss: inputs differ"));
  }

  TEST_CASE("op l1_loss") {
    for (const Shape& s : {Shape{1, 3, 5, 7}, Shape{2, 4, 6, 8}, Shape{2, 3, 7, 9}}) {
      testing::check_op(l1_case(s, true));
      testing::check_op(l1_case(s, false));
    }

    // Against the definition, and sign(0) = 0 where the inputs agree.
    Tensor p = Tensor::from_vector({2, 2}, {1, -2, 3, 0.5}, DType::F64).set_requires_grad();
    Tensor t = Tensor::from_vector({2, 2}, {0, -2, 5, 1}, DType::F64).set_requires_grad();
    Tensor loss = ops::l1_loss(p, t);
    CHECK(loss.shape() == Shape{});
    CHECK(loss.item() == doctest::Approx((1 + 0 + 2 + 0.5) / 4.0).epsilon(1e-15));
    loss.backward();
    CHECK(p.grad().to_vector() == std::vector<double>{0.25, 0, -0.25, -0.25});
    CHECK(t.grad().to_vector() == std::vector<double>{-0.25, 0, 0.25, 0.25});
  }

  TEST_CASE("l1_loss errors name the op and both shapes") {
    CHECK_THROWS_WITH(ops::l1_loss(Tensor::zeros({1, 3, 4, 4}), Tensor::zeros({1, 3, 4, 5})),
                      doctest::Contains("l1_loss: inputs differ: f32 (1, 3, 4, 4) cpu vs f32 (1, 3, 4, 5) cpu"));
    CHECK_THROWS_WITH(ops::l1_loss(Tensor::zeros({2, 2}), Tensor::zeros({2, 2}, DType::F64)),
                      doctest::Contains("l1_loss: inputs differ: f32 (2, 2) cpu vs f64 (2, 2) cpu"));
    CHECK_THROWS_WITH(ops::l1_loss(Tensor::zeros({0, 2}), Tensor::zeros({0, 2})),
                      doctest::Contains("l1_loss: empty inputs f32 (0, 2) cpu and f32 (0, 2) cpu"));
  }
}

TEST_SUITE("parity") {
  TEST_CASE("loss parity") {
    testing::ParityGroup g("ops_loss");
    for (const char* shape : {"1x3x5x7", "2x4x6x8", "2x3x64x96"}) {
      g.check(std::string("l1_loss ") + shape, [](auto& x) { return ops::l1_loss(x[0], x[1]); });
      g.check(std::string("l1_loss fixed target ") + shape, [](auto& x) { return ops::l1_loss(x[0], x[1]); });
    }
    g.check("l1_loss equal elements", [](auto& x) { return ops::l1_loss(x[0], x[1]); });
    g.expect_all_checked();
  }

  TEST_CASE("smooth_l1_loss parity") {
    testing::ParityGroup g("ops_loss_llie");
    for (const char* shape : {"1x3x5x7", "2x3x16x24"}) {
      g.check(std::string("smooth_l1_loss ") + shape, [](auto& x) { return ops::smooth_l1_loss(x[0], x[1]); });
      g.check(std::string("smooth_l1_loss fixed target ") + shape,
              [](auto& x) { return ops::smooth_l1_loss(x[0], x[1]); });
      g.check(std::string("smooth_l1_loss beta 0.5 ") + shape,
              [](auto& x) { return ops::smooth_l1_loss(x[0], x[1], 0.5); });
    }
    g.expect_all_checked();
  }
}
