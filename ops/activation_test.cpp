#include <cmath>

#include <doctest/doctest.h>

#include "op_harness.h"
#include "ops/activation.h"
#include "parity.h"

using namespace liednet;
using testing::OpCase;

namespace {
// Standard normal pushed away from 0 by 0.05, so no finite difference straddles relu's kink.
Tensor away_from_zero(int, const Shape& shape, Generator& gen) {
  Tensor x = Tensor::randn(shape, gen, DType::F64);
  double* p = x.data<double>();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] = std::copysign(0.05 + std::fabs(p[i]), p[i]);
  return x;
}

// Normal values with every 5th element at +-40 (+ noise): exp(40) would do in
// f64 but a naive 1 / (1 + exp(-x)) in f32 overflows at -89.
Tensor with_large_values(int, const Shape& shape, Generator& gen) {
  Tensor x = Tensor::randn(shape, gen, DType::F64);
  double* p = x.data<double>();
  for (int64_t i = 0; i < x.numel(); i += 5) p[i] = (p[i] > 0 ? 40.0 : -40.0) + 0.1 * p[i];
  return x;
}

// Around softplus's threshold 20 (18..22, never within 0.1 of it), far negative (-30 +- 1), and ordinary.
Tensor softplus_input(int, const Shape& shape, Generator& gen) {
  Tensor x = Tensor::randn(shape, gen, DType::F64);
  double* p = x.data<double>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double u = p[i];
    if (i % 3 == 0) p[i] = 20.0 + std::copysign(0.1 + std::fmod(std::fabs(u), 1.9), u);
    else if (i % 3 == 1 && i % 2 == 0) p[i] = -30.0 + 0.5 * u;
    else p[i] = 3.0 * u;
  }
  return x;
}

const Shape kSmall{1, 3, 5, 7}, kBatch{2, 4, 6, 8};
}  // namespace

TEST_SUITE("ops") {
  TEST_CASE("op relu") {
    for (const Shape& s : {kSmall, kBatch})
      testing::check_op({.name = "relu " + s.str(), .shapes = {s}, .fn = [](auto& x) { return ops::relu(x[0]); },
                         .make_input = away_from_zero});
    // At the kink the gradient is 0 (torch's choice), and NaN passes through.
    Tensor x = Tensor::from_vector({4}, {-1, 0, 2, NAN}, DType::F64).set_requires_grad();
    Tensor y = ops::relu(x);
    CHECK(y.at({0}) == 0);
    CHECK(y.at({2}) == 2);
    CHECK(std::isnan(y.at({3})));
    y.backward(Tensor::ones({4}, DType::F64));
    CHECK(x.grad().at({1}) == 0);
    CHECK(x.grad().at({2}) == 1);
  }

  TEST_CASE("op silu") {
    for (const Shape& s : {kSmall, kBatch})
      testing::check_op({"silu " + s.str(), {s}, [](auto& x) { return ops::silu(x[0]); }});
    testing::check_op({.name = "silu with |x| = 40", .shapes = {kBatch}, .fn = [](auto& x) { return ops::silu(x[0]); },
                       .make_input = with_large_values});
  }

  TEST_CASE("op gelu") {
    for (const Shape& s : {kSmall, kBatch})
      testing::check_op({"gelu " + s.str(), {s}, [](auto& x) { return ops::gelu(x[0]); }});
    // Exact (erf) GELU, not the tanh approximation, which differs by ~1e-4 near |x| = 2.
    for (double v : {-2.0, -0.5, 0.0, 1.0, 2.0})
      CHECK(ops::gelu(Tensor::scalar(v, DType::F64)).item() ==
            doctest::Approx(0.5 * v * (1 + std::erf(v / std::sqrt(2.0)))).epsilon(1e-15));
  }

  TEST_CASE("f32 gelu and its derivative against double over [-12, 12]") {
    // The float path has its own erfc (ops/activation.h). The error is relative
    // to the size of the terms, over 1 + x^2: Phi(x) at x < 0 has condition
    // number about x^2, so rounding x itself to float costs that much, and the
    // derivative Phi(x) + x phi(x) cancels near x = -0.75. The far left tail
    // keeps its digits (a float 1 + erf(x / sqrt 2) would lose them all by x = -6).
    std::vector<float> xs;
    for (int i = -120000; i <= 120000; ++i) xs.push_back(static_cast<float>(i) * 1e-4f);
    const Tensor x = Tensor::from_vector({static_cast<int64_t>(xs.size())}, std::vector<double>(xs.begin(), xs.end()));
    const std::vector<double> y = ops::gelu(x).to_vector();
    double worst_value = 0, worst_grad = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
      const double v = xs[i], cdf = 0.5 * std::erfc(-v / std::sqrt(2.0));
      const double pdf = std::exp(-0.5 * v * v) / std::sqrt(2.0 * M_PI);
      const double scale = 1 + v * v;
      if (v != 0) worst_value = std::max(worst_value, std::fabs(y[i] - v * cdf) / (std::fabs(v * cdf) * scale));
      const double g = ops::detail::gelu_derivative(xs[i]);
      worst_grad = std::max(worst_grad, std::fabs(g - (cdf + v * pdf)) / ((cdf + std::fabs(v * pdf)) * scale));
    }
    MESSAGE("f32 gelu: worst scaled relative error ", worst_value, " (value), ", worst_grad, " (derivative)");
    CHECK(worst_value < 1e-6);
    CHECK(worst_grad < 1e-6);
    CHECK(y[xs.size() / 2] == 0.0);  // GELU(0) = 0 exactly
  }

  TEST_CASE("op sigmoid") {
    for (const Shape& s : {kSmall, kBatch})
      testing::check_op({"sigmoid " + s.str(), {s}, [](auto& x) { return ops::sigmoid(x[0]); }});
    testing::check_op({.name = "sigmoid with |x| = 40",
                       .shapes = {kBatch},
                       .fn = [](auto& x) { return ops::sigmoid(x[0]); },
                       .make_input = with_large_values});
    // Far beyond where exp overflows, in both dtypes: finite, and the gradient too.
    for (DType dt : {DType::F32, DType::F64}) {
      Tensor x = Tensor::from_vector({4}, {-1000, -100, 100, 1000}, dt).set_requires_grad();
      Tensor y = ops::sigmoid(x);
      CHECK(y.at({0}) == 0);
      CHECK(y.at({1}) >= 0);
      CHECK(y.at({1}) < 1e-40);
      CHECK(y.at({2}) == 1);
      CHECK(y.at({3}) == 1);
      y.backward(Tensor::ones({4}, dt));
      for (double v : x.grad().to_vector()) CHECK(std::isfinite(v));
      Tensor s = ops::silu(x.detach());
      CHECK(s.at({0}) == 0);
      CHECK(s.at({3}) == 1000);
    }
  }

  TEST_CASE("op softplus") {
    testing::check_op({"softplus " + kSmall.str(), {kSmall}, [](auto& x) { return ops::softplus(x[0]); }});
    testing::check_op({.name = "softplus around 20 and -30",
                       .shapes = {kBatch},
                       .fn = [](auto& x) { return ops::softplus(x[0]); },
                       .make_input = softplus_input});
    for (DType dt : {DType::F32, DType::F64}) {
      Tensor y = ops::softplus(Tensor::from_vector({4}, {-1000, -30, 25, 1000}, dt));
      CHECK(y.at({0}) == 0);
      CHECK(std::fabs(y.at({1}) / std::exp(-30.0) - 1) < 1e-6);  // log1p, not log(1 + tiny)
      CHECK(y.at({2}) == 25);  // above the threshold: the identity, exactly
      CHECK(y.at({3}) == 1000);
    }
  }

  TEST_CASE("op exp") {
    for (const Shape& s : {kSmall, kBatch})
      testing::check_op({"exp " + s.str(), {s}, [](auto& x) { return ops::exp(x[0]); }});
  }

  TEST_CASE("activation errors name the op") {
    CHECK_THROWS_WITH(ops::relu(Tensor()), doctest::Contains("relu: undefined input"));
    CHECK_THROWS_WITH(ops::softplus(Tensor()), doctest::Contains("softplus: undefined input"));
  }
}

TEST_SUITE("parity") {
  TEST_CASE("activation parity") {
    testing::ParityGroup g("ops_activation");
    const std::pair<const char*, Tensor (*)(const Tensor&)> ops_by_name[] = {
        {"relu", ops::relu}, {"silu", ops::silu}, {"gelu", ops::gelu}, {"sigmoid", ops::sigmoid}, {"exp", ops::exp}};
    for (auto [name, op] : ops_by_name)
      for (const char* shape : {" 1x3x5x7", " 2x4x6x8"})
        g.check(std::string(name) + shape, [op](auto& x) { return op(x[0]); });
    g.check("silu wide", [](auto& x) { return ops::silu(x[0]); });
    g.check("sigmoid wide", [](auto& x) { return ops::sigmoid(x[0]); });
    g.check("gelu wide", [](auto& x) { return ops::gelu(x[0]); });
    g.check("softplus 1x3x5x7", [](auto& x) { return ops::softplus(x[0]); });
    g.check("softplus 2x4x6x8 threshold", [](auto& x) { return ops::softplus(x[0]); });
    g.expect_all_checked();
  }
}
