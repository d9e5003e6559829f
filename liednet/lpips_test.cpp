// LPIPS (VGG) against the PyTorch reference of tests/oracle/lpips_cases.py (random VGG16 and heads).
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "liednet/lpips.h"
#include "parity.h"
#include "tensor/safetensors.h"
#include "test_util.h"

using namespace liednet;

TEST_SUITE("nn") {
  TEST_CASE("LPIPS: zero for equal images, positive and symmetric otherwise; bad weights are named") {
    Generator g(3);
    net::LPIPS m(g);
    const Tensor x = Tensor::uniform({1, 3, 16, 16}, 0, 1, g), y = Tensor::uniform({1, 3, 16, 16}, 0, 1, g);
    CHECK(m.distance(x, x)[0] == 0.0);
    const double d = m.distance(x, y)[0], e = m.distance(y, x)[0];
    CHECK(d > 0);
    CHECK(d == doctest::Approx(e).epsilon(1e-6));
    CHECK_THROWS_WITH(m.distance(x, Tensor::zeros({1, 3, 16, 8})), doctest::Contains("lpips: needs two (N, 3, H, W)"));
    const std::string f = (std::filesystem::temp_directory_path() / "liednet_lpips_bad.safetensors").string();
    save_safetensors(f, {{"features.0.weight", Tensor::zeros({64, 3, 3, 3})}});
    CHECK_THROWS_WITH(net::load_lpips_weights(m, {f}), testing::has(f + ": not LPIPS (VGG) weights: 30 of the 31 keys"));
    std::filesystem::remove(f);
  }
}

TEST_SUITE("parity") {
  TEST_CASE("LPIPS matches the PyTorch reference to 1e-5 (f32) and 1e-10 (f64)") {
    const std::string weights = testing::oracle_file("lpips_weights.safetensors");
    const std::string cases = testing::oracle_file("lpips_cases.safetensors");
    if (!std::filesystem::exists(weights) || !std::filesystem::exists(cases)) {
      MESSAGE("skipped: ", cases, " is absent (run tests/oracle/lpips_cases.py)");
      return;
    }
    Generator g(0);
    net::LPIPS m(g);
    net::load_lpips_weights(m, {weights});
    net::LPIPS m64(g);
    net::load_lpips_weights(m64, {weights});
    m64.to(DType::F64);
    const SafetensorsContents c = load_safetensors(cases);
    int checked = 0;
    for (const char* name : {"two 32x48", "odd 24x40", "one 37x29"}) {
      const std::string n = name;
      const Tensor& x = c.at(n + "/x");
      const Tensor& y = c.at(n + "/y");
      const std::vector<double> want = c.at(n + "/dist").to_vector();
      const std::vector<double> got = m.distance(x, y);
      const std::vector<double> got64 = m64.distance(x.to(DType::F64), y.to(DType::F64));
      REQUIRE(got.size() == want.size());
      for (size_t i = 0; i < want.size(); ++i) {
        INFO(name, " image ", i, ": ", got[i], " (f32), ", got64[i], " (f64) vs ", want[i]);
        CHECK(want[i] > 0);
        CHECK(std::fabs(got[i] - want[i]) < 1e-5);
        CHECK(std::fabs(got64[i] - want[i]) < 1e-10);
        ++checked;
      }
    }
    CHECK(checked == 4);
  }
}
