#include <doctest/doctest.h>

#include <cmath>
#include <span>

#include "op_harness.h"
#include "ops/layernorm.h"
#include "parity.h"
#include "tensor/parallel.h"

using namespace liednet;

namespace {
Tensor ln_affine(const std::vector<Tensor>& x) { return ops::layer_norm_channels(x[0], x[1], x[2]); }

// One pixel at a time, straight from the definition: the reference the tiled
// kernels are compared with on shapes of several tiles. f64 only.
struct Reference {
  Tensor y, gx, gw, gb;
};
Reference layer_norm_reference(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& g, double eps) {
  const int64_t n = x.size(0), c = x.size(1), p = x.numel() / (n * c);
  Reference r{Tensor::zeros(x.shape(), DType::F64), Tensor::zeros(x.shape(), DType::F64),
              Tensor::zeros({c}, DType::F64), Tensor::zeros({c}, DType::F64)};
  const double *xp = x.data<double>(), *wp = w.data<double>(), *bp = b.data<double>(), *gp = g.data<double>();
  double *yp = r.y.data<double>(), *gxp = r.gx.data<double>();
  for (int64_t s = 0; s < n; ++s)
    for (int64_t i = 0; i < p; ++i) {
      auto at = [&](int64_t ch) { return (s * c + ch) * p + i; };
      double mean = 0, var = 0;
      for (int64_t ch = 0; ch < c; ++ch) mean += xp[at(ch)] / c;
      for (int64_t ch = 0; ch < c; ++ch) var += (xp[at(ch)] - mean) * (xp[at(ch)] - mean) / c;
      const double rstd = 1 / std::sqrt(var + eps);
      double sum_gh = 0, sum_ghxh = 0;
      for (int64_t ch = 0; ch < c; ++ch) {
        const double xh = (xp[at(ch)] - mean) * rstd, gh = gp[at(ch)] * wp[ch];
        yp[at(ch)] = xh * wp[ch] + bp[ch];
        sum_gh += gh;
        sum_ghxh += gh * xh;
        r.gw.data<double>()[ch] += gp[at(ch)] * xh;
        r.gb.data<double>()[ch] += gp[at(ch)];
      }
      for (int64_t ch = 0; ch < c; ++ch) {
        const double xh = (xp[at(ch)] - mean) * rstd;
        gxp[at(ch)] = rstd * (gp[at(ch)] * wp[ch] - sum_gh / c - xh * sum_ghxh / c);
      }
    }
  return r;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  double m = 0;
  std::vector<double> va = a.to_vector(), vb = b.to_vector();
  for (size_t i = 0; i < va.size(); ++i) m = std::max(m, std::fabs(va[i] - vb[i]));
  return m;
}

// Gradients of x, w, b at dtype `dt` with `threads` threads.
std::vector<Tensor> ln_grads(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& g, DType dt,
                             int threads) {
  const int before = num_threads();
  set_num_threads(threads);
  std::vector<Tensor> in{x.to(dt), w.to(dt), b.to(dt)};
  for (Tensor& t : in) t.set_requires_grad();
  ops::layer_norm_channels(in[0], in[1], in[2]).backward(g.to(dt));
  set_num_threads(before);
  return {in[0].grad(), in[1].grad(), in[2].grad()};
}
}  // namespace

TEST_SUITE("ops") {
  TEST_CASE("op layer_norm_channels") {
    testing::check_op({"layer_norm_channels 1x3x5x7", {{1, 3, 5, 7}, {3}, {3}}, ln_affine});
    testing::check_op({"layer_norm_channels 2x4x3x5", {{2, 4, 3, 5}, {4}, {4}}, ln_affine});
    testing::check_op({"layer_norm_channels (N,C,L) 2x5x9", {{2, 5, 9}, {5}, {5}}, ln_affine});
    // P = 323 spans two tiles of pixels, the second partial.
    testing::check_op({"layer_norm_channels 2x6x17x19 two tiles", {{2, 6, 17, 19}, {6}, {6}}, ln_affine});
    testing::check_op({"layer_norm_channels C=1", {{2, 1, 3, 4}, {1}, {1}}, ln_affine});
    testing::check_op({"layer_norm_channels eps 1e-3", {{2, 3, 5, 7}, {3}, {3}}, [](auto& x) {
                         return ops::layer_norm_channels(x[0], x[1], x[2], 1e-3);
                       }});
    testing::check_op({"layer_norm_channels no affine", {{2, 3, 5, 7}}, [](auto& x) {
                         return ops::layer_norm_channels(x[0], Tensor(), Tensor());
                       }});
    testing::check_op({"layer_norm_channels weight only", {{1, 4, 5, 7}, {4}}, [](auto& x) {
                         return ops::layer_norm_channels(x[0], x[1], Tensor());
                       }});
    // The backward's paths when x needs no gradient: weight and bias, bias alone.
    testing::check_op({.name = "layer_norm_channels grads of w, b only",
                       .shapes = {{2, 3, 5, 7}, {3}, {3}},
                       .fn = ln_affine,
                       .requires_grad = {false, true, true}});
    testing::check_op({.name = "layer_norm_channels grad of b only",
                       .shapes = {{2, 3, 5, 7}, {3}, {3}},
                       .fn = ln_affine,
                       .requires_grad = {false, false, true}});
    // A mean far from zero against a small spread: the variance must not cancel.
    testing::check_op({.name = "layer_norm_channels offset input",
                       .shapes = {{2, 5, 4, 6}, {5}, {5}},
                       .fn = ln_affine,
                       .make_input = [](int i, const Shape& s, Generator& gen) {
                         Tensor t = Tensor::randn(s, gen, DType::F64);
                         if (i == 0)
                           for (double& v : std::span(t.data<double>(), t.numel())) v = 10 + 0.5 * v;
                         return t;
                       }});

    {
      INFO("the tiled kernels match a per-pixel reference over several tiles");
      Generator gen(7);
      const Shape s{2, 40, 23, 29};  // P = 667: three tiles, the last partial
      Tensor x = Tensor::randn(s, gen, DType::F64), w = Tensor::randn({40}, gen, DType::F64),
             b = Tensor::randn({40}, gen, DType::F64), g = Tensor::randn(s, gen, DType::F64);
      Reference ref = layer_norm_reference(x, w, b, g, 1e-5);
      std::vector<Tensor> grads = ln_grads(x, w, b, g, DType::F64, num_threads());
      CHECK(max_abs_diff(ops::layer_norm_channels(x, w, b), ref.y) < 1e-12);
      CHECK(max_abs_diff(grads[0], ref.gx) < 1e-11);
      CHECK(max_abs_diff(grads[1], ref.gw) < 1e-10);
      CHECK(max_abs_diff(grads[2], ref.gb) < 1e-10);
    }

    {
      INFO("gradients do not depend on the thread count");
      Generator gen(8);
      const Shape s{3, 16, 31, 33};
      Tensor x = Tensor::randn(s, gen, DType::F64), w = Tensor::randn({16}, gen, DType::F64),
             b = Tensor::randn({16}, gen, DType::F64), g = Tensor::randn(s, gen, DType::F64);
      std::vector<Tensor> one = ln_grads(x, w, b, g, DType::F32, 1), three = ln_grads(x, w, b, g, DType::F32, 3);
      for (int i = 0; i < 3; ++i) CHECK(one[i].to_vector() == three[i].to_vector());
    }
  }

  TEST_CASE("layer_norm_channels errors name the op and the shapes") {
    Tensor x = Tensor::zeros({2, 3, 4, 4});
    CHECK_THROWS_WITH(ops::layer_norm_channels(x, Tensor::zeros({4}), Tensor::zeros({3})),
                      doctest::Contains("layer_norm_channels: weight must be f32 (3) cpu for x f32 (2, 3, 4, 4) cpu, "
                                        "got weight f32 (4) cpu, bias f32 (3) cpu"));
    CHECK_THROWS_WITH(ops::layer_norm_channels(x, Tensor(), Tensor::zeros({3}, DType::F64)),
                      doctest::Contains("layer_norm_channels: bias must be f32 (3) cpu for x f32 (2, 3, 4, 4) cpu, "
                                        "got weight none, bias f64 (3) cpu"));
    CHECK_THROWS_WITH(ops::layer_norm_channels(Tensor::zeros({5}), Tensor(), Tensor()),
                      doctest::Contains("layer_norm_channels: x must be (N, C, ...), got f32 (5) cpu"));
    CHECK_THROWS_WITH(ops::layer_norm_channels(x, Tensor(), Tensor(), -1.0),
                      doctest::Contains("layer_norm_channels: eps must be finite and >= 0, got -1"));
  }
}

TEST_SUITE("parity") {
  TEST_CASE("layernorm parity") {
    testing::ParityGroup g("ops_layernorm");
    g.check("nn.LayerNorm 1x3x5x7", ln_affine);
    g.check("layer_norm 2x4x6x5", ln_affine);
    g.check("layer_norm NCL 2x5x9", ln_affine);
    g.check("layer_norm 2x16x23x29 offset", ln_affine);
    g.check("layer_norm eps 1e-6", [](auto& x) { return ops::layer_norm_channels(x[0], x[1], x[2], 1e-6); });
    g.check("layer_norm no affine", [](auto& x) { return ops::layer_norm_channels(x[0], Tensor(), Tensor()); });
    g.check("layer_norm x only grad", ln_affine);
    g.expect_all_checked();
  }
}
