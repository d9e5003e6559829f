#include <doctest/doctest.h>

#include <cmath>

#include "op_harness.h"
#include "ops/activation.h"
#include "ops/elementwise.h"
#include "ops/ss2d_scan.h"
#include "parity.h"
#include "scan_cases.h"
#include "ops/selective_scan.h"
#include "tensor/parallel.h"

using namespace liednet;

namespace {
using testing::make_ss2d_inputs;
using testing::outputs_and_grads;
using testing::SS2DShape;
using testing::ss2d_inputs;
using testing::ss2d_shapes;

autograd::TensorFn ss2d_fn(int64_t chunk, bool reference = false, bool silu_input = false) {
  return [=](const std::vector<Tensor>& x) {
    return reference ? ops::ss2d_scan_reference(x[0], x[1], x[2], x[3], x[4], x[5])
                     : ops::ss2d_scan(x[0], x[1], x[2], x[3], x[4], x[5], {.chunk = chunk, .silu_input = silu_input});
  };
}

// The op chain that silu_input replaces: ops::silu, then the scan.
autograd::TensorFn silu_then_scan(int64_t chunk) {
  return [=](const std::vector<Tensor>& x) {
    return ops::ss2d_scan(ops::silu(x[0]), x[1], x[2], x[3], x[4], x[5], {.chunk = chunk});
  };
}

}  // namespace

TEST_SUITE("ops") {
  TEST_CASE("ss2d direction index maps") {
    // 2x3 map, pixels numbered row-major 0..5:  0 1 2 / 3 4 5
    std::vector<int64_t> want[4] = {{0, 1, 2, 3, 4, 5}, {0, 3, 1, 4, 2, 5}, {5, 4, 3, 2, 1, 0}, {5, 2, 4, 1, 3, 0}};
    for (int k = 0; k < 4; ++k)
      for (int64_t t = 0; t < 6; ++t) CHECK(ops::ss2d_pixel(k, t, 2, 3) == want[k][t]);
  }

  TEST_CASE("op ss2d_scan") {
    using testing::check_op;
    check_op({.name = "ss2d_scan 1x2x3x5 R=1 N=3, chunk 4 (4 chunks)",
              .shapes = ss2d_shapes({1, 2, 3, 5, 1, 3}),
              .fn = ss2d_fn(4),
              .make_input = ss2d_inputs()});
    check_op({.name = "ss2d_scan 2x2x7x2 (batch 2, odd H), chunk 3",
              .shapes = ss2d_shapes({2, 2, 7, 2, 2, 2}),
              .fn = ss2d_fn(3),
              .make_input = ss2d_inputs()});
    check_op({.name = "ss2d_scan L=1",
              .shapes = ss2d_shapes({1, 3, 1, 1, 1, 2}),
              .fn = ss2d_fn(256),
              .make_input = ss2d_inputs()});
    check_op({.name = "ss2d_scan N=16 (vector path) 1x2x3x4 R=2, chunk 5",
              .shapes = ss2d_shapes({1, 2, 3, 4, 2, 16}),
              .fn = ss2d_fn(5),
              .make_input = ss2d_inputs()});
    check_op({.name = "ss2d_scan large delta (softplus above 20)",
              .shapes = ss2d_shapes({1, 2, 2, 3, 1, 3}),
              .fn = ss2d_fn(4),
              .make_input = ss2d_inputs(23.0)});
    check_op({.name = "ss2d_scan decay underflow (A*dt near -1e3)",
              .shapes = ss2d_shapes({1, 2, 3, 3, 1, 3}),
              .fn = ss2d_fn(4),
              .make_input = ss2d_inputs(1.0, 7.0)});
    check_op({.name = "ss2d_scan silu_input N=16 2x3x3x4 R=2, chunk 5",
              .shapes = ss2d_shapes({2, 3, 3, 4, 2, 16}),
              .fn = ss2d_fn(5, false, true),
              .make_input = ss2d_inputs(),
              .cuda = false});  // silu_input has no CUDA kernel
    check_op({.name = "ss2d_scan silu_input N=3 1x2x3x5 R=1, chunk 4",
              .shapes = ss2d_shapes({1, 2, 3, 5, 1, 3}),
              .fn = ss2d_fn(4, false, true),
              .make_input = ss2d_inputs(),
              .cuda = false});  // silu_input has no CUDA kernel
  }

  TEST_CASE("ss2d_scan silu_input matches ops::silu then the scan") {
    auto xs = make_ss2d_inputs({2, 12, 9, 13, 2, 16}, 23);
    xs[0] = ops::scale(xs[0], 3.0);  // both sides of the SiLU
    for (DType dt : {DType::F64, DType::F32}) {
      INFO(dtype_name(dt));
      auto fused = outputs_and_grads(ss2d_fn(32, false, true), xs, dt, 4);
      auto ref = outputs_and_grads(silu_then_scan(32), xs, dt, 4);
      const double tol = dt == DType::F64 ? 1e-12 : 5e-6;  // f32: the fast exp against std::exp
      for (size_t i = 0; i < fused.size(); ++i) {
        INFO("tensor ", i, " (0 = output, then the gradients of x, x_proj_weight, dt_projs_weight, "
                           "dt_projs_bias, A_logs, Ds)");
        CHECK(testing::scaled_max_error(fused[i], ref[i]) <= tol);
      }
    }
  }

  TEST_CASE("ss2d_scan fast kernel matches the naive reference") {
    for (auto [shape, chunk] : {std::pair{SS2DShape{2, 12, 9, 13, 2, 16}, int64_t{32}},
                                {SS2DShape{1, 16, 20, 20, 4, 16}, int64_t{256}},
                                {SS2DShape{1, 3, 5, 1, 1, 5}, int64_t{2}}}) {
      auto xs = make_ss2d_inputs(shape, 21);
      for (DType dt : {DType::F64, DType::F32}) {
        INFO(shape.batch, "x", shape.d, "x", shape.H, "x", shape.W, " N=", shape.N, " chunk=", chunk, " ",
             dtype_name(dt));
        auto fast = outputs_and_grads(ss2d_fn(chunk), xs, dt, 4);
        auto ref = outputs_and_grads(ss2d_fn(0, true), xs, dt, 4);
        const double tol = dt == DType::F64 ? 1e-12 : 5e-5;
        for (size_t i = 0; i < fast.size(); ++i) {
          INFO("tensor ", i, " (0 = output, then the gradients of x, x_proj_weight, dt_projs_weight, "
                             "dt_projs_bias, A_logs, Ds)");
          CHECK(testing::scaled_max_error(fast[i], ref[i]) <= tol);
        }
      }
    }
  }

  TEST_CASE("ss2d_scan is bit-identical across runs and thread counts") {
    // 2 samples of 24 channels: 3 channel blocks. 1 to 3 threads run a block's
    // four directions in one task; 8 threads (more than the 6 forward tasks and
    // the 3 backward ones) split them by direction.
    auto xs = make_ss2d_inputs({2, 24, 16, 12, 2, 16}, 8);
    const int saved = num_threads();
    const int threads[] = {1, 2, 3, 8, 1};
    std::vector<std::vector<double>> runs[5];
    for (int r = 0; r < 5; ++r) {
      set_num_threads(threads[r]);
      for (bool silu : {false, true})
        for (const Tensor& t : outputs_and_grads(ss2d_fn(40, false, silu), xs, DType::F32, 5))
          runs[r].push_back(t.to_vector());
    }
    set_num_threads(saved);
    for (size_t i = 0; i < runs[0].size(); ++i)
      for (int r = 1; r < 5; ++r) {
        INFO("output or gradient ", i, ", ", threads[r], " threads");
        CHECK(runs[0][i] == runs[r][i]);
      }
  }

  TEST_CASE("ss2d_scan keeps state only at chunk boundaries") {
    // What the graph holds after the forward, for a short and a whole-sequence
    // chunk: the difference is exactly the extra chunk states.
    const SS2DShape s{1, 32, 32, 32, 2, 16};
    auto xs = make_ss2d_inputs(s, 2);
    std::vector<Tensor> in;
    for (const Tensor& x : xs) in.push_back(x.to(DType::F32).set_requires_grad());
    auto held = [&](int64_t chunk) {
      const size_t before = host_bytes_in_use();
      Tensor y = ops::ss2d_scan(in[0], in[1], in[2], in[3], in[4], in[5], {.chunk = chunk});
      return static_cast<int64_t>(host_bytes_in_use() - before);
    };
    const int64_t L = 32 * 32;
    const int64_t small = held(64), whole = held(L);
    const int64_t expect = ops::ss2d_saved_state_bytes({1, 32, 32, 32}, 16, {.chunk = 64}, DType::F32) -
                           ops::ss2d_saved_state_bytes({1, 32, 32, 32}, 16, {.chunk = L}, DType::F32);
    CHECK(expect == 1 * 32 * 4 * (16 - 1) * 16 * 4);
    CHECK(std::abs(small - whole - expect) <= 64);  // allocations are rounded to 64 bytes
    // Everything held (output, per-pixel projections, chunk states) is a small
    // part of the O(L N) per channel that keeping every state would take.
    const int64_t every_state = 32 * 4 * L * 16 * 4;
    CHECK(small < every_state / 4);
  }

  TEST_CASE("ss2d_scan shape errors name every shape") {
    auto xs = make_ss2d_inputs({1, 4, 3, 3, 1, 3}, 1);
    Tensor bad_wx = Tensor::zeros({4, 6, 4}, DType::F64);
    CHECK_THROWS_WITH(ops::ss2d_scan(xs[0], bad_wx, xs[2], xs[3], xs[4], xs[5]),
                      doctest::Contains("ss2d_scan: x_proj_weight must be (4, R+2N, d) = (4, 7, 4) (x f64 (1, 4, 3, 3) "
                                        "cpu, x_proj_weight f64 (4, 6, 4) cpu"));
    CHECK_THROWS_WITH(ops::ss2d_scan(xs[0], xs[1], xs[2], xs[3], xs[4], Tensor::zeros({4}, DType::F64)),
                      doctest::Contains("Ds must be (4*d)"));
    CHECK_THROWS_WITH(ops::ss2d_scan(xs[0].to(DType::F32), xs[1], xs[2], xs[3], xs[4], xs[5]),
                      doctest::Contains("inputs differ in dtype or device"));
  }
}

TEST_SUITE("parity") {
  TEST_CASE("scan parity") {
    testing::ParityGroup g("ops_scan");
    auto plain = [](const std::vector<Tensor>& x) {
      return ops::selective_scan(x[0], x[1], x[2], x[3], x[4], x[5], x[6], {.chunk = 4});
    };
    g.check("selective_scan 2x4 L=9 N=3 G=2", plain);
    g.check("selective_scan 1x6 L=40 N=16 G=1", plain);
    g.check("selective_scan without D, bias, softplus", [](const std::vector<Tensor>& x) {
      return ops::selective_scan(x[0], x[1], x[2], x[3], x[4], Tensor(), Tensor(), {.delta_softplus = false, .chunk = 3});
    });
    auto fused = [](const std::vector<Tensor>& x) {
      return ops::ss2d_scan(x[0], x[1], x[2], x[3], x[4], x[5], {.chunk = 7});
    };
    g.check("ss2d_scan 1x4x5x7 R=1 N=4", fused);
    g.check("ss2d_scan 2x3x3x5 R=2 N=16", fused);
    g.check("ss2d_scan 1x8x8x6 R=2 N=16", fused);
    g.check("ss2d_scan silu input 1x8x8x6 R=2 N=16", [](const std::vector<Tensor>& x) {
      return ops::ss2d_scan(x[0], x[1], x[2], x[3], x[4], x[5], {.chunk = 7, .silu_input = true});
    });
    g.expect_all_checked();
  }
}
