#include <doctest/doctest.h>

#include <cmath>

#include "op_harness.h"
#include "ops/selective_scan.h"
#include "parity.h"
#include "scan_cases.h"
#include "tensor/parallel.h"

using namespace liednet;

namespace {
using testing::scan_inputs;
using testing::scan_shapes;
using ScanShape = testing::ScanShape;

autograd::TensorFn scan_fn(ops::ScanOptions opt, bool with_d = true, bool with_bias = true, bool reference = false) {
  return [=](const std::vector<Tensor>& x) {
    Tensor D = with_d ? x[5] : Tensor(), bias = with_bias ? x[6] : Tensor();
    return reference ? ops::selective_scan_reference(x[0], x[1], x[2], x[3], x[4], D, bias, opt)
                     : ops::selective_scan(x[0], x[1], x[2], x[3], x[4], D, bias, opt);
  };
}

using testing::make_scan_inputs;
using testing::outputs_and_grads;
}  // namespace

TEST_SUITE("ops") {
  TEST_CASE("op selective_scan") {
    using testing::check_op;
    const ops::ScanOptions chunk3{.chunk = 3};
    check_op({.name = "selective_scan 2x4 L=7 N=3 G=2, chunk 3",
              .shapes = scan_shapes({2, 4, 7, 3, 2}),
              .fn = scan_fn(chunk3),
              .make_input = scan_inputs()});
    check_op({.name = "selective_scan L=1",
              .shapes = scan_shapes({1, 2, 1, 4, 1}),
              .fn = scan_fn(chunk3),
              .make_input = scan_inputs()});
    check_op({.name = "selective_scan N=16 (vector path), chunk 5",
              .shapes = scan_shapes({1, 2, 11, 16, 1}),
              .fn = scan_fn({.chunk = 5}),
              .make_input = scan_inputs()});
    check_op({.name = "selective_scan N=8, G=4, one chunk",
              .shapes = scan_shapes({1, 4, 6, 8, 4}),
              .fn = scan_fn({}),
              .make_input = scan_inputs()});
    check_op({.name = "selective_scan without D and delta_bias",
              .shapes = scan_shapes({1, 2, 5, 3, 1}),
              .fn = scan_fn(chunk3, false, false),
              .requires_grad = {true, true, true, true, true, false, false},
              .make_input = scan_inputs()});
    check_op({.name = "selective_scan without softplus",
              .shapes = scan_shapes({1, 2, 5, 3, 2}),
              .fn = scan_fn({.delta_softplus = false, .chunk = 2}),
              .make_input = [](int i, const Shape& s, Generator& g) {
                Tensor t = scan_inputs()(i, s, g);
                if (i == 1)  // keep dt positive and away from 0 when softplus is off
                  for (int64_t k = 0; k < t.numel(); ++k) t.data<double>()[k] = 0.2 + std::fabs(t.data<double>()[k]);
                return t;
              }});
    // delta + bias around 21-23: softplus is the identity there (torch's threshold 20).
    check_op({.name = "selective_scan large delta (softplus above 20)",
              .shapes = scan_shapes({1, 3, 6, 3, 1}),
              .fn = scan_fn(chunk3),
              .make_input = scan_inputs(22.0)});
    // dt*A around -1e3: exp underflows to exactly 0 in double; gradients stay finite.
    check_op({.name = "selective_scan decay underflow",
              .shapes = scan_shapes({1, 2, 6, 3, 1}),
              .fn = scan_fn(chunk3),
              .make_input = scan_inputs(3.0, 6.0)});
  }

  TEST_CASE("selective_scan fast kernel matches the naive reference") {
    for (auto [shape, chunk] : {std::pair{ScanShape{2, 6, 300, 16, 2}, int64_t{64}},
                                {ScanShape{1, 3, 257, 5, 1}, int64_t{256}},
                                {ScanShape{2, 4, 40, 16, 4}, int64_t{7}},
                                {ScanShape{1, 2, 1, 16, 1}, int64_t{256}}}) {
      auto xs = make_scan_inputs(shape, 5);
      for (DType dt : {DType::F64, DType::F32}) {
        INFO("L=", shape.length, " N=", shape.state, " chunk=", chunk, " ", dtype_name(dt));
        auto fast = outputs_and_grads(scan_fn({.chunk = chunk}), xs, dt, 9);
        auto ref = outputs_and_grads(scan_fn({}, true, true, true), xs, dt, 9);
        const double tol = dt == DType::F64 ? 1e-12 : 2e-5;
        for (size_t i = 0; i < fast.size(); ++i) {
          INFO("tensor ", i, " (0 = output, then the gradients of u, delta, A, B, C, D, delta_bias)");
          CHECK(testing::scaled_max_error(fast[i], ref[i]) <= tol);
        }
      }
    }
  }

  TEST_CASE("selective_scan is bit-identical for any thread count") {
    auto xs = make_scan_inputs({2, 40, 500, 16, 2}, 6);
    const int saved = num_threads();
    std::vector<std::vector<double>> runs[3];
    for (int threads : {1, 2, 3}) {
      set_num_threads(threads);
      for (const Tensor& t : outputs_and_grads(scan_fn({.chunk = 100}), xs, DType::F32, 3))
        runs[threads - 1].push_back(t.to_vector());
    }
    set_num_threads(saved);
    for (size_t i = 0; i < runs[0].size(); ++i) {
      CHECK(runs[0][i] == runs[1][i]);
      CHECK(runs[0][i] == runs[2][i]);
    }
  }

  TEST_CASE("selective_scan shape errors") {
    auto xs = make_scan_inputs({1, 4, 5, 3, 2}, 1);
    Tensor badA = Tensor::zeros({3, 3}, DType::F64);
    CHECK_THROWS_WITH(ops::selective_scan(xs[0], xs[1], badA, xs[3], xs[4], xs[5], xs[6]),
                      doctest::Contains("selective_scan: A f64 (3, 3) cpu must be (4, N) for u f64 (1, 4, 5) cpu"));
    Tensor badB = Tensor::zeros({1, 3, 3, 5}, DType::F64);
    CHECK_THROWS_WITH(ops::selective_scan(xs[0], xs[1], xs[2], badB, badB, xs[5], xs[6]),
                      doctest::Contains("with G dividing 4"));
    CHECK_THROWS_WITH(ops::selective_scan(xs[0], xs[1], xs[2], xs[3], xs[4], xs[5], xs[6], {.chunk = 0}),
                      doctest::Contains("chunk must be positive"));
  }
}
