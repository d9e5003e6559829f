#include <doctest/doctest.h>

#include "op_harness.h"
#include "ops/activation.h"
#include "ops/elementwise.h"
#include "ops/layernorm.h"
#include "ops/norm_gate.h"
#include "parity.h"
#include "scan_cases.h"
#include "tensor/parallel.h"

using namespace liednet;

namespace {
Tensor gate(const std::vector<Tensor>& x) { return ops::norm_silu_gate(x[0], x[1], x[2], x[3]); }
// The op chain the fused op replaces.
Tensor chain(const std::vector<Tensor>& x) {
  return ops::mul(ops::layer_norm_channels(x[0], x[1], x[2]), ops::silu(x[3]));
}

std::vector<Shape> gate_shapes(const Shape& y) { return {y, {y[1]}, {y[1]}, y}; }

// y, weight, bias, z in f64; z spread wide so the SiLU is seen on both sides.
std::vector<Tensor> gate_inputs(const Shape& y, uint64_t seed) {
  Generator g(seed);
  return {Tensor::randn(y, g, DType::F64), Tensor::randn({y[1]}, g, DType::F64), Tensor::randn({y[1]}, g, DType::F64),
          ops::scale(Tensor::randn(y, g, DType::F64), 4.0)};
}
}  // namespace

TEST_SUITE("ops") {
  TEST_CASE("op norm_silu_gate") {
    // A CPU-only fused op: on the GPU the network runs its composition (docs/cuda.md).
    testing::check_op({.name = "norm_silu_gate 2x5x3x4", .shapes = gate_shapes({2, 5, 3, 4}), .fn = gate, .cuda = false});
    // P = 99 spans two tiles of pixels, the second partial.
    testing::check_op({.name = "norm_silu_gate 1x3x9x11 two tiles", .shapes = gate_shapes({1, 3, 9, 11}), .fn = gate, .cuda = false});
    testing::check_op({.name = "norm_silu_gate C=1", .shapes = gate_shapes({2, 1, 3, 4}), .fn = gate, .cuda = false});
    testing::check_op({.name = "norm_silu_gate grads of y and z only",
                       .shapes = gate_shapes({1, 4, 5, 3}),
                       .fn = gate,
                       .requires_grad = {true, false, false, true},
                       .cuda = false});
    testing::check_op({.name = "norm_silu_gate grads of weight and bias only",
                       .shapes = gate_shapes({1, 4, 5, 3}),
                       .fn = gate,
                       .requires_grad = {false, true, true, false},
                       .cuda = false});
  }

  TEST_CASE("norm_silu_gate matches layer_norm_channels then silu then mul") {
    // Several tiles (P = 143), wide z: the output and all four gradients.
    const auto xs = gate_inputs({2, 24, 13, 11}, 3);
    for (DType dt : {DType::F64, DType::F32}) {
      INFO(dtype_name(dt));
      auto fused = testing::outputs_and_grads(gate, xs, dt, 4);
      auto ref = testing::outputs_and_grads(chain, xs, dt, 4);
      const double tol = dt == DType::F64 ? 1e-13 : 2e-6;  // f32: the fast exp against std::exp
      for (size_t i = 0; i < fused.size(); ++i) {
        INFO("tensor ", i, " (0 = output, then the gradients of y, weight, bias, z)");
        CHECK(testing::scaled_max_error(fused[i], ref[i]) <= tol);
      }
    }
  }

  TEST_CASE("norm_silu_gate is bit-identical for any thread count") {
    const auto xs = gate_inputs({3, 16, 17, 19}, 5);
    const int saved = num_threads();
    std::vector<std::vector<double>> runs[3];
    for (int r = 0; r < 3; ++r) {
      set_num_threads(r + 1);
      for (const Tensor& t : testing::outputs_and_grads(gate, xs, DType::F32, 6)) runs[r].push_back(t.to_vector());
    }
    set_num_threads(saved);
    for (size_t i = 0; i < runs[0].size(); ++i) {
      CHECK(runs[0][i] == runs[1][i]);
      CHECK(runs[0][i] == runs[2][i]);
    }
  }

  TEST_CASE("norm_silu_gate errors name the op and the shapes") {
    Tensor y = Tensor::zeros({2, 3, 4, 4});
    CHECK_THROWS_WITH(ops::norm_silu_gate(y, Tensor::zeros({4}), Tensor::zeros({3}), y),
                      doctest::Contains("norm_silu_gate: weight and bias must be (3) for y f32 (2, 3, 4, 4) cpu, got "
                                        "weight f32 (4) cpu, bias f32 (3) cpu"));
    CHECK_THROWS_WITH(ops::norm_silu_gate(y, Tensor::zeros({3}), Tensor::zeros({3}), Tensor::zeros({2, 3, 4, 5})),
                      doctest::Contains("norm_silu_gate: inputs differ: f32 (2, 3, 4, 4) cpu vs f32 (2, 3, 4, 5) cpu"));
    CHECK_THROWS_WITH(ops::norm_silu_gate(Tensor::zeros({5}), Tensor::zeros({3}), Tensor::zeros({3}), y),
                      doctest::Contains("norm_silu_gate: y must be (N, C, ...), got f32 (5) cpu"));
  }
}

TEST_SUITE("parity") {
  TEST_CASE("norm_silu_gate parity") {
    testing::ParityGroup g("ops_norm_gate");
    g.check("norm_silu_gate 2x5x3x4", gate);
    g.check("norm_silu_gate 1x12x9x11 offset", gate);
    g.check("norm_silu_gate y and z grads only", gate);
    g.expect_all_checked();
  }
}
