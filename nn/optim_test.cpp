#include <doctest/doctest.h>

#include <cmath>

#include "nn/layers.h"
#include "nn/optim.h"

using namespace liednet;

TEST_SUITE("nn") {
  TEST_CASE("CosineAnnealingRestart follows BasicSR's closed form") {
    nn::CosineAnnealingRestart s(1e-4, {500000}, {1}, 1e-7);
    CHECK(s.lr(0) == doctest::Approx(1e-4).epsilon(1e-12));
    CHECK(s.lr(250000) == doctest::Approx(1e-7 + 0.5 * (1e-4 - 1e-7)).epsilon(1e-12));
    CHECK(s.lr(500000) == doctest::Approx(1e-7).epsilon(1e-9));
    CHECK(s.lr(600000) == 1e-7);
    // Restarts: periods [10, 10], weights [1, 0.5]; e = 10 ends the first cycle, 11 is in the second.
    nn::CosineAnnealingRestart r(1.0, {10, 10}, {1, 0.5}, 0.0);
    CHECK(r.lr(10) == doctest::Approx(0.0).epsilon(1e-12));
    CHECK(r.lr(11) == doctest::Approx(0.5 * 0.5 * (1 + std::cos(M_PI * 1 / 10))));
    CHECK(r.lr(15) == doctest::Approx(0.25));
    CHECK_THROWS_WITH(nn::CosineAnnealingRestart(1.0, {10}, {1, 1}, 0.0), doctest::Contains("same length"));
  }

  TEST_CASE("MultiStepRestart decays at milestones and restarts with weights") {
    nn::MultiStepRestart s(1.0, {200, 300, 300}, 0.5);
    CHECK(s.lr(199) == 1.0);
    CHECK(s.lr(200) == 0.5);
    CHECK(s.lr(300) == 0.125);  // a milestone listed twice counts twice (BasicSR's Counter)
    nn::MultiStepRestart r(1.0, {100, 300}, 0.1, {0, 200}, {1, 0.5});
    CHECK(r.lr(150) == doctest::Approx(0.1));
    CHECK(r.lr(200) == 0.5);
    CHECK(r.lr(350) == doctest::Approx(0.05));
  }

  TEST_CASE("Adam matches the update written out by hand") {
    Generator g(1);
    nn::Linear lin(3, 2, true, g);
    lin.to(DType::F64);
    nn::Adam adam(lin, {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8, .weight_decay = 0.01});
    const std::vector<double> w0 = lin.weight.to_vector();
    // Two steps with a constant gradient 1.5 on every weight.
    std::vector<double> w = w0, m(w.size(), 0), v(w.size(), 0);
    for (int step = 1; step <= 2; ++step) {
      lin.weight.set_grad(Tensor::full(lin.weight.shape(), 1.5, DType::F64));
      lin.bias.set_grad(Tensor::full(lin.bias.shape(), 1.5, DType::F64));
      adam.step(0.1);
      for (size_t k = 0; k < w.size(); ++k) {
        const double gk = 1.5 + 0.01 * w[k];
        m[k] = 0.9 * m[k] + 0.1 * gk;
        v[k] = 0.99 * v[k] + 0.01 * gk * gk;
        const double mhat = m[k] / (1 - std::pow(0.9, step)), vhat = v[k] / (1 - std::pow(0.99, step));
        w[k] -= 0.1 * mhat / (std::sqrt(vhat) + 1e-8 * std::sqrt(1.0)) * 1.0;
      }
    }
    const std::vector<double> got = lin.weight.to_vector();
    for (size_t k = 0; k < w.size(); ++k) CHECK(got[k] == doctest::Approx(w[k]).epsilon(1e-9));
    CHECK(adam.steps() == 2);
    // The state round-trips into a fresh optimiser.
    nn::Adam other(lin, {.lr = 0.1});
    other.load_state(adam.state(), adam.steps(), "test");
    CHECK(other.steps() == 2);
    CHECK(other.state()[0].second.to_vector() == adam.state()[0].second.to_vector());
    CHECK_THROWS_WITH(other.load_state({}, 2, "ckpt.safetensors"), doctest::Contains("ckpt.safetensors: optimiser state lacks 'exp_avg.weight'"));
  }
}
