#include <doctest/doctest.h>

#include <cmath>

#include "autograd/autograd.h"
#include "liednet/losses.h"

using namespace liednet;

TEST_SUITE("nn") {
  TEST_CASE("VGG19 features have torchvision's layout and stay frozen") {
    Generator g(2);
    net::VGG19Features vgg(g);
    auto params = vgg.named_parameters();
    CHECK(params.size() == 24);
    CHECK(params.front().first == "features.0.weight");
    CHECK(params.back().first == "features.25.bias");
    for (auto& [n, p] : params) CHECK(!p.requires_grad());
    vgg.to(DType::F64);
    for (auto& [n, p] : vgg.named_parameters()) CHECK(!p.requires_grad());
    autograd::NoGradGuard ng;
    auto f = vgg.forward(Tensor::zeros({1, 3, 32, 48}, DType::F64));
    CHECK(f[0].shape() == Shape{1, 64, 32, 48});
    CHECK(f[1].shape() == Shape{1, 128, 16, 24});
    CHECK(f[2].shape() == Shape{1, 256, 8, 12});
    CHECK(f[3].shape() == Shape{1, 512, 4, 6});
  }

  TEST_CASE("the loss assembly's gradient matches central differences (f64, tiny LIEDNet, random VGG)") {
    Generator g(3);
    net::LIEDNet model({4, {1, 1, 1}, 1, "tiny"}, g);
    net::VGG19Features vgg(g);
    model.to(DType::F64);
    vgg.to(DType::F64);
    Tensor lq = Tensor::uniform({1, 3, 64, 64}, -1, 1, g, DType::F64).set_requires_grad();
    Tensor gt = Tensor::uniform({1, 3, 64, 64}, -1, 1, g, DType::F64);
    const net::LossConfig cfg;  // upstream's: pixel 1, perceptual 0.01, side 0.8
    auto loss = [&] { return net::compute_loss(model.forward(lq, true), gt, &vgg, cfg); };

    net::LossTerms t = loss();
    CHECK(t.l_side_pix > 0);
    CHECK(t.l_percep > 0);
    CHECK(t.l_side_percep > 0);
    CHECK(t.total.item() == doctest::Approx(t.l_pix + t.l_side_pix + t.l_percep + t.l_side_percep).epsilon(1e-12));
    t.total.backward();

    // Every parameter and the input at once: the derivative along random
    // directions against central differences.
    std::vector<Tensor> leaves = model.parameters();
    leaves.push_back(lq);
    for (const Tensor& p : leaves) REQUIRE(p.grad().defined());
    for (uint64_t trial = 0; trial < 3; ++trial) {
      Generator dg(100 + trial);
      std::vector<Tensor> dirs;
      double analytic = 0;
      for (const Tensor& p : leaves) {
        Tensor d = Tensor::randn(p.shape(), dg, DType::F64);
        const auto gv = p.grad().to_vector(), dv = d.to_vector();
        for (size_t k = 0; k < gv.size(); ++k) analytic += gv[k] * dv[k];
        dirs.push_back(d);
      }
      // The L1 terms and the ReLUs are not smooth: a step of eps along a random
      // direction crosses some kinks, which biases the difference quotient by
      // O(eps) (measured: relative 5e-3 at 1e-4, 2e-5 at 1e-6, 2e-7 at 1e-7,
      // while rounding stays below 1e-9). So the step is small.
      const double eps = 1e-7;
      auto shifted = [&](double s) {
        autograd::NoGradGuard ng;
        for (size_t i = 0; i < leaves.size(); ++i) {
          Tensor p = leaves[i];
          double* pp = p.data<double>();
          const double* dp = dirs[i].data<double>();
          for (int64_t k = 0; k < p.numel(); ++k) pp[k] += s * dp[k];
        }
        const double v = loss().total.item();
        for (size_t i = 0; i < leaves.size(); ++i) {
          Tensor p = leaves[i];
          double* pp = p.data<double>();
          const double* dp = dirs[i].data<double>();
          for (int64_t k = 0; k < p.numel(); ++k) pp[k] -= s * dp[k];
        }
        return v;
      };
      const double numeric = (shifted(eps) - shifted(-eps)) / (2 * eps);
      INFO("direction ", trial, ": analytic ", analytic, ", numeric ", numeric);
      CHECK(std::abs(analytic - numeric) <= 1e-6 * std::abs(numeric) + 1e-9);
    }
  }

  TEST_CASE("losses check their inputs") {
    Generator g(4);
    net::LIEDNetOutput out{Tensor::zeros({1, 3, 16, 16}), Tensor()};
    CHECK_THROWS_WITH(net::compute_loss(out, Tensor::zeros({1, 3, 16, 16}), nullptr, {}),
                      doctest::Contains("perceptual weight is 0.01 but no VGG19 is loaded"));
    CHECK_THROWS_WITH(net::compute_loss(out, Tensor::zeros({1, 3, 16, 16}), nullptr, {.perceptual_weight = 0}),
                      doctest::Contains("side loss is on but the network gave no side output"));
    CHECK_THROWS_WITH(net::side_target(Tensor::zeros({1, 3, 12, 16})), doctest::Contains("multiples of 8"));
  }
}
