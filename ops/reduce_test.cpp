#include <cmath>
#include <cstring>

#include <doctest/doctest.h>

#include "op_harness.h"
#include "ops/loss.h"
#include "ops/reduce.h"
#include "parity.h"
#include "tensor/parallel.h"

using namespace liednet;
using testing::OpCase;

namespace {
const Shape kSmall{1, 3, 5, 7}, kBatch{2, 4, 6, 8}, kOdd{2, 3, 7, 9};

bool bit_identical(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.numel() * dtype_size(a.dtype())) == 0;
}

// Reference sum with long double and Kahan compensation, element by element.
long double reference_sum(const Tensor& x) {
  long double s = 0, c = 0;
  for (double v : x.to_vector()) {
    const long double y = v - c, t = s + y;
    c = (t - s) - y;
    s = t;
  }
  return s;
}
}  // namespace

TEST_SUITE("ops") {
  TEST_CASE("op sum") {
    for (const Shape& s : {kSmall, kBatch, kOdd})
      testing::check_op({"sum " + s.str(), {s}, [](auto& x) { return ops::sum(x[0]); }});
    testing::check_op({"sum (5)", {{5}}, [](auto& x) { return ops::sum(x[0]); }});
    CHECK(ops::sum(Tensor::zeros({2, 0, 3})).item() == 0);
    CHECK(ops::sum(Tensor::ones({2, 3})).shape() == Shape{});
  }

  TEST_CASE("op mean") {
    for (const Shape& s : {kSmall, kBatch, kOdd})
      testing::check_op({"mean " + s.str(), {s}, [](auto& x) { return ops::mean(x[0]); }});
  }

  TEST_CASE("op mean_hw") {
    for (const Shape& s : {kSmall, kBatch, kOdd})
      testing::check_op({"mean_hw " + s.str(), {s}, [](auto& x) { return ops::mean_hw(x[0]); }});
    testing::check_op({"mean_hw 1x1 planes", {{3, 2, 1, 1}}, [](auto& x) { return ops::mean_hw(x[0]); }});
  }

  TEST_CASE("reductions of a large f32 tensor are accurate") {
    // 1.5 M elements of mean ~1: float accumulation would be off by ~1e-4 relative.
    Generator gen(7);
    Tensor x = Tensor::uniform({8, 3, 256, 256}, 0.0, 2.0, gen, DType::F32);
    const long double ref = reference_sum(x);
    const double s = ops::sum(x).item(), m = ops::mean(x).item();
    CHECK(std::fabs(s / double(ref) - 1) < 1e-7);  // f32 output rounding only
    CHECK(std::fabs(m / double(ref / x.numel()) - 1) < 1e-7);
    // One plane (0, 1) by the reference as well.
    const std::vector<double> all = x.to_vector();
    Tensor plane = Tensor::from_vector({256, 256}, std::vector<double>(all.begin() + 65536, all.begin() + 2 * 65536),
                                       DType::F64);
    const double plane_mean = double(reference_sum(plane) / 65536);
    CHECK(std::fabs(ops::mean_hw(x).at({0, 1}) / plane_mean - 1) < 1e-7);
  }

  TEST_CASE("reductions are bit-identical for any thread count") {
    const int saved_threads = num_threads();
    Generator gen(11);
    // Larger than one ordered_sum block per plane, and many blocks in all.
    Tensor x = Tensor::randn({8, 3, 256, 256}, gen, DType::F32);
    Tensor y = Tensor::randn({8, 3, 256, 256}, gen, DType::F32);
    // In f64 too: rounding the double sum to f32 could hide a change of order.
    Tensor x64 = x.to(DType::F64), y64 = y.to(DType::F64);
    Tensor big_plane = Tensor::randn({1, 1, 600, 700}, gen, DType::F64);
    std::vector<std::vector<Tensor>> runs;
    for (int threads : {1, 2, 3, 8}) {
      set_num_threads(threads);
      runs.push_back({ops::sum(x), ops::mean(x), ops::mean_hw(x), ops::l1_loss(x, y), ops::sum(x64), ops::mean(x64),
                      ops::mean_hw(x64), ops::l1_loss(x64, y64), ops::mean_hw(big_plane)});
    }
    set_num_threads(saved_threads);
    for (size_t r = 1; r < runs.size(); ++r)
      for (size_t k = 0; k < runs[0].size(); ++k) {
        INFO("run ", r, " result ", k);
        CHECK(bit_identical(runs[r][k], runs[0][k]));
      }
  }

  TEST_CASE("reduction errors name the op and the shape") {
    CHECK_THROWS_WITH(ops::mean_hw(Tensor::zeros({2, 3, 4})),
                      doctest::Contains("mean_hw: x must have 4 dimensions, got f32 (2, 3, 4) cpu"));
    CHECK_THROWS_WITH(ops::mean_hw(Tensor::zeros({2, 3, 0, 4})),
                      doctest::Contains("mean_hw: empty planes in f32 (2, 3, 0, 4) cpu"));
    CHECK_THROWS_WITH(ops::mean(Tensor::zeros({0, 3})), doctest::Contains("mean: empty input f32 (0, 3) cpu"));
    CHECK_THROWS_WITH(ops::sum(Tensor()), doctest::Contains("sum: undefined input"));
  }
}

TEST_SUITE("parity") {
  TEST_CASE("reduce parity") {
    testing::ParityGroup g("ops_reduce");
    for (const char* shape : {"1x3x5x7", "2x4x6x8", "2x3x64x96"}) {
      g.check(std::string("sum ") + shape, [](auto& x) { return ops::sum(x[0]); });
      g.check(std::string("mean ") + shape, [](auto& x) { return ops::mean(x[0]); });
      g.check(std::string("mean_hw ") + shape, [](auto& x) { return ops::mean_hw(x[0]); });
    }
    g.expect_all_checked();
  }
}
