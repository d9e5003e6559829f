#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "liednet/blocks.h"
#include "op_harness.h"
#include "ops/dgdffn.h"
#include "parity.h"
#include "tensor/parallel.h"
#include "tensor/storage.h"
#include "test_util.h"

using namespace liednet;

namespace {

// Inputs: x, project_in1, project_in2, dwconv1, dwconv2, dwconv3, fusion, project_out.
Tensor fused(const std::vector<Tensor>& in) {
  return ops::dgdffn(in[0], {in[1], in[2], in[3], in[4], in[5], in[6], in[7]});
}

std::vector<Shape> shapes(int64_t n, int64_t c, int64_t h, int64_t w, int64_t hidden) {
  return {{n, c, h, w},        {2 * hidden, c, 1, 1}, {hidden, c, 1, 1},          {hidden, 1, 5, 5},
          {hidden, 1, 3, 3},   {hidden, 1, 3, 3},     {hidden, 2 * hidden, 1, 1}, {c, hidden, 1, 1}};
}

// The module's fused forward and its composition from the basic ops, on the
// same weights and input: output and every gradient.
struct Run {
  Tensor out, dx;
  std::vector<Tensor> grads;
};

Run run(const net::DGDFeedForward& ffn, const Tensor& x, const Tensor& gout, bool composed) {
  Tensor xi = x.detach().clone().set_requires_grad();
  Tensor y = composed ? ffn.forward_composed(xi) : ffn.forward(xi);
  y.backward(gout);
  Run r{y.detach(), xi.grad(), {}};
  for (Tensor p : ffn.parameters()) {
    r.grads.push_back(p.grad());
    p.zero_grad();
  }
  return r;
}
}  // namespace

TEST_SUITE("ops") {
  TEST_CASE("op dgdffn") {
    // A CPU-only fused op: on the GPU the network runs its composition (docs/cuda.md).
    testing::check_op({.name = "dgdffn 2x3x5x7 hidden 4", .shapes = shapes(2, 3, 5, 7, 4), .fn = fused, .cuda = false});
    testing::check_op({.name = "dgdffn 1x2x4x3 hidden 3", .shapes = shapes(1, 2, 4, 3, 3), .fn = fused, .cuda = false});
  }

  TEST_CASE("dgdffn matches the module's composition from the basic ops") {
    for (DType dt : {DType::F64, DType::F32}) {
      Generator gen(5);
      net::DGDFeedForward ffn(8, gen);  // hidden 21
      if (dt == DType::F64) ffn.to(DType::F64);
      Tensor x = Tensor::randn({2, 8, 9, 11}, gen, dt), gout = Tensor::randn({2, 8, 9, 11}, gen, dt);
      const Run a = run(ffn, x, gout, false), b = run(ffn, x, gout, true);
      const double tol = dt == DType::F64 ? 1e-12 : 1e-5;
      INFO(dtype_name(dt));
      CHECK(testing::scaled_max_error(a.out, b.out) < tol);
      CHECK(testing::scaled_max_error(a.dx, b.dx) < tol);
      REQUIRE(a.grads.size() == 7);
      for (size_t i = 0; i < a.grads.size(); ++i) CHECK(testing::scaled_max_error(a.grads[i], b.grads[i]) < tol);
    }
  }

  TEST_CASE("dgdffn keeps x and f for its backward, nothing more") {
    Generator gen(6);
    net::DGDFeedForward ffn(8, gen);
    const int64_t N = 2, C = 8, H = 16, W = 16, h = ffn.hidden;
    Tensor x = Tensor::randn({N, C, H, W}, gen).set_requires_grad();
    const size_t before = host_bytes_in_use();
    Tensor y = ffn.forward(x);
    const size_t kept = host_bytes_in_use() - before;
    // Output (C) and the saved f (h channels; x is the caller's), each allocation rounded up to 64 bytes.
    const size_t plane = N * H * W * sizeof(float);
    CHECK(kept <= (C + h) * plane + 2 * 64);
    CHECK(kept >= (C + h) * plane);
  }

  TEST_CASE("dgdffn gives identical bits for any thread count") {
    Generator gen(7);
    net::DGDFeedForward ffn(8, gen);
    Tensor x = Tensor::randn({2, 8, 33, 40}, gen), gout = Tensor::randn({2, 8, 33, 40}, gen);
    const int saved = num_threads();
    std::vector<Run> runs;
    for (int t : {1, 2, 3}) {
      set_num_threads(t);
      runs.push_back(run(ffn, x, gout, false));
    }
    set_num_threads(saved);
    for (size_t k = 1; k < runs.size(); ++k) {
      CHECK(runs[k].out.to_vector() == runs[0].out.to_vector());
      CHECK(runs[k].dx.to_vector() == runs[0].dx.to_vector());
      for (size_t i = 0; i < runs[0].grads.size(); ++i)
        CHECK(runs[k].grads[i].to_vector() == runs[0].grads[i].to_vector());
    }
  }

  TEST_CASE("dgdffn errors name the weight and the shapes") {
    Generator gen(8);
    std::vector<Tensor> in;
    for (const Shape& s : shapes(1, 3, 4, 4, 2)) in.push_back(Tensor::randn(s, gen));
    in[7] = Tensor::randn({3, 3, 1, 1}, gen);  // project_out with the wrong hidden width
    CHECK_THROWS_WITH(fused(in), doctest::Contains("dgdffn: project_out must be (3, 2, 1, 1)"));
    in[7] = Tensor::randn({3, 2, 1, 1}, gen);
    in[4] = Tensor::randn({2, 1, 4, 4}, gen);  // even kernel
    CHECK_THROWS_WITH(fused(in), doctest::Contains("dgdffn: dwconv2 must have an odd square kernel"));
  }
}

TEST_SUITE("parity") {
  TEST_CASE("dgdffn parity") {
    testing::ParityGroup g("ops_dgdffn");
    g.check("2x3x5x7 h4", fused);
    g.check("1x8x9x6 h21", fused);
    g.expect_all_checked();
  }
}
