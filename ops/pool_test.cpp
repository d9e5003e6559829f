#include <algorithm>
#include <cmath>
#include <numeric>

#include <doctest/doctest.h>

#include "op_harness.h"
#include "ops/pool.h"
#include "parity.h"

using namespace liednet;
using testing::OpCase;

namespace {
// A random permutation of a grid with step 0.01: no two elements of a window
// are within 2 eps of each other, so finite differences never change a winner.
Tensor distinct_values(int, const Shape& shape, Generator& gen) {
  std::vector<double> v(shape.numel());
  std::iota(v.begin(), v.end(), 0.0);
  for (int64_t i = shape.numel() - 1; i > 0; --i) std::swap(v[i], v[gen.below(i + 1)]);
  for (double& e : v) e = (e - shape.numel() / 2.0) * 0.01;
  return Tensor::from_vector(shape, v, DType::F64);
}

OpCase pool_case(const Shape& s) {
  return {.name = "max_pool2x2 " + s.str(),
          .shapes = {s},
          .fn = [](auto& x) { return ops::max_pool2x2(x[0]); },
          .make_input = distinct_values};
}
}  // namespace

TEST_SUITE("ops") {
  TEST_CASE("op max_pool2x2") {
    for (const Shape& s : {Shape{1, 3, 5, 7}, Shape{2, 4, 6, 8}, Shape{2, 3, 7, 9}, Shape{1, 2, 2, 3}})
      testing::check_op(pool_case(s));

    // Against the definition, on a 2x5x7 plane (odd last row and column dropped).
    Generator gen(3);
    Tensor x = distinct_values(0, {2, 1, 5, 7}, gen);
    Tensor y = ops::max_pool2x2(x);
    CHECK(y.shape() == Shape{2, 1, 2, 3});
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t i = 0; i < 2; ++i)
        for (int64_t j = 0; j < 3; ++j)
          CHECK(y.at({n, 0, i, j}) == std::max({x.at({n, 0, 2 * i, 2 * j}), x.at({n, 0, 2 * i, 2 * j + 1}),
                                                x.at({n, 0, 2 * i + 1, 2 * j}), x.at({n, 0, 2 * i + 1, 2 * j + 1})}));
  }

  TEST_CASE("max_pool2x2 ties go to the first maximum in row-major order") {
    // Windows: all equal; max at (1,0) and (1,1); max at (0,1) and (1,0); a NaN.
    Tensor x = Tensor::from_vector({1, 1, 2, 8}, {3, 3, 0, 1, 1, 5, 2, 1,  //
                                                  3, 3, 2, 2, 5, 4, 1, NAN},
                                   DType::F64)
                   .set_requires_grad();
    Tensor y = ops::max_pool2x2(x);
    CHECK(y.at({0, 0, 0, 0}) == 3);
    CHECK(y.at({0, 0, 0, 1}) == 2);
    CHECK(y.at({0, 0, 0, 2}) == 5);
    CHECK(std::isnan(y.at({0, 0, 0, 3})));
    y.backward(Tensor::from_vector({1, 1, 1, 4}, {1, 2, 3, 4}, DType::F64));
    CHECK(x.grad().to_vector() == std::vector<double>{1, 0, 0, 0, 0, 3, 0, 0,  //
                                                      0, 0, 2, 0, 0, 0, 0, 4});
  }

  TEST_CASE("max_pool2x2 errors name the op and the shape") {
    CHECK_THROWS_WITH(ops::max_pool2x2(Tensor::zeros({3, 4, 4})),
                      doctest::Contains("max_pool2x2: x must have 4 dimensions, got f32 (3, 4, 4) cpu"));
    CHECK_THROWS_WITH(ops::max_pool2x2(Tensor::zeros({1, 3, 1, 4})),
                      doctest::Contains("max_pool2x2: H and W must be at least 2, got f32 (1, 3, 1, 4) cpu"));
  }
}

TEST_SUITE("parity") {
  TEST_CASE("pool parity") {
    testing::ParityGroup g("ops_pool");
    for (const char* name : {"max_pool2x2 1x3x5x7", "max_pool2x2 2x4x6x8", "max_pool2x2 2x3x7x9",
                             "max_pool2x2 ties 2x3x7x9"})
      g.check(name, [](auto& x) { return ops::max_pool2x2(x[0]); });
    g.expect_all_checked();
  }
}
