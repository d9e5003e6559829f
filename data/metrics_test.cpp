#include <doctest/doctest.h>

#include "parity.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "data/image.h"
#include "data/metrics.h"
#include "tensor/safetensors.h"

using namespace liednet;
using data::PaperLuma;

namespace {

Tensor constant(double level) {  // (3, 16, 16) of one 8-bit level
  return Tensor::full({3, 16, 16}, level / 255.0);
}

Tensor random_image(int64_t h, int64_t w, uint64_t seed) {
  Generator gen(seed);
  Tensor t = Tensor::uniform({3, h, w}, 0.0, 1.0, gen);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = data::to_8bit(t.data<float>()[i]) / 255.0f;
  return t;
}

}  // namespace

TEST_SUITE("data") {
  TEST_CASE("metrics of identical images: PSNR inf, SSIM 1") {
    const Tensor a = random_image(20, 24, 1);
    CHECK(std::isinf(data::psnr_basicsr(a, a)));
    CHECK(data::psnr_basicsr(a, a) > 0);
    CHECK(std::isinf(data::psnr_paper(a, a)));
    CHECK(data::ssim_basicsr(a, a) == doctest::Approx(1.0).epsilon(1e-12));
    CHECK(data::ssim_paper(a, a) == doctest::Approx(1.0).epsilon(1e-12));
    CHECK(data::ssim_paper(a, a, PaperLuma::rgb) == doctest::Approx(1.0).epsilon(1e-12));
  }

  TEST_CASE("metrics of constant images match the closed forms") {
    const Tensor a = constant(100), b = constant(110);
    // Every level differs by 10: mse 100.
    CHECK(data::psnr_basicsr(a, b) == doctest::Approx(20 * std::log10(255.0 / 10)).epsilon(1e-12));
    CHECK(data::psnr_paper(a, b) == doctest::Approx(20 * std::log10(255.0 / 10)).epsilon(1e-6));
    // No variance: SSIM is the luminance term alone.
    const double C1 = 0.01 * 255 * 0.01 * 255;
    const double want = (2 * 100.0 * 110 + C1) / (100.0 * 100 + 110.0 * 110 + C1);
    CHECK(data::ssim_basicsr(a, b) == doctest::Approx(want).epsilon(1e-12));
    // Gray: Y is the level itself (0.299 + 0.587 + 0.114 = 1), whichever channel order.
    CHECK(data::ssim_paper(a, b) == doctest::Approx(want).epsilon(1e-12));
    CHECK(data::ssim_paper(a, b, PaperLuma::rgb) == doctest::Approx(want).epsilon(1e-12));
  }

  TEST_CASE("metrics are symmetric and the Gaussian window is normalised") {
    const Tensor a = random_image(17, 23, 2), b = random_image(17, 23, 3);
    CHECK(data::psnr_basicsr(a, b) == data::psnr_basicsr(b, a));
    CHECK(data::ssim_basicsr(a, b) == doctest::Approx(data::ssim_basicsr(b, a)).epsilon(1e-14));
    CHECK(data::ssim_paper(a, b) == doctest::Approx(data::ssim_paper(b, a)).epsilon(1e-14));
    double sum = 0;
    for (int i = 0; i < 11; ++i) sum += data::ssim_gaussian_taps()[i];
    CHECK(sum == doctest::Approx(1.0).epsilon(1e-15));
    CHECK(data::ssim_gaussian_taps()[5] > data::ssim_gaussian_taps()[4]);
    CHECK(data::ssim_gaussian_taps()[0] == data::ssim_gaussian_taps()[10]);
  }

  TEST_CASE("the basicsr conventions quantise to 8 bits; the paper's PSNR does not") {
    const Tensor a = constant(100);
    Tensor b = constant(100);
    b.fill_(100.4 / 255.0);  // rounds to level 100
    CHECK(std::isinf(data::psnr_basicsr(a, b)));
    CHECK(std::isfinite(data::psnr_paper(a, b)));
    CHECK(data::psnr_paper(a, b) == doctest::Approx(20 * std::log10(255.0 / 0.4)).epsilon(1e-5));
  }

  TEST_CASE("crop_border removes pixels at each border") {
    Tensor a = constant(100), b = constant(100);
    // A difference only on the outermost ring disappears with crop_border 1.
    b.set({0, 0, 5}, 0.0);
    b.set({2, 15, 3}, 0.0);
    CHECK(std::isfinite(data::psnr_basicsr(a, b)));
    CHECK(std::isinf(data::psnr_basicsr(a, b, 1)));
  }

  TEST_CASE("metric errors name the shapes") {
    const Tensor a = random_image(12, 12, 4), b = random_image(12, 13, 5);
    CHECK_THROWS_WITH(data::psnr_basicsr(a, b), doctest::Contains("differ in shape"));
    CHECK_THROWS_WITH(data::ssim_paper(a, b), doctest::Contains("(3, 12, 13)"));
    CHECK_THROWS_WITH(data::ssim_basicsr(a, a, 1), doctest::Contains("smaller than the 11x11 window"));
    CHECK_THROWS_WITH(data::psnr_basicsr(a, a, 6), doctest::Contains("crop_border 6 leaves nothing"));
    const Tensor small = random_image(10, 30, 6);
    CHECK_THROWS_WITH(data::ssim_paper(small, small), doctest::Contains("smaller than the 11x11 window"));
    CHECK_THROWS_WITH(data::psnr_paper(Tensor::zeros({1, 4, 4}), Tensor::zeros({1, 4, 4})),
                      doctest::Contains("needs (3, H, W)"));
  }
}

// tests/oracle/metrics_cases.py writes images and numpy's values of the formulas.
TEST_SUITE("parity") {
  TEST_CASE("image metrics match numpy's basicsr and pyiqa formulas") {
    const std::string dir = testing::oracle_file("metrics");
    REQUIRE_MESSAGE(std::filesystem::exists(dir + "/cases.json"), "no metric cases in ", dir,
                    ": run /usr/bin/python3 tests/oracle/metrics_cases.py --out ", dir);
    const nlohmann::json cases = nlohmann::json::parse(std::ifstream(dir + "/cases.json"));
    const SafetensorsContents floats = load_safetensors(dir + "/float.safetensors");
    auto value = [](const nlohmann::json& v) {
      return v.is_string() ? (v.get<std::string>() == "inf" ? INFINITY : NAN) : v.get<double>();
    };
    auto same = [](double got, double want, double tol) {
      if (std::isinf(want)) return std::isinf(got) && got > 0;
      return std::abs(got - want) <= tol;
    };
    int checked = 0;
    for (const auto& c : cases) {
      const std::string name = c["name"];
      INFO("case ", name);
      Tensor a, b;
      if (c["source"] == "png") {
        a = data::read_image(dir + "/" + name + "_a.png");
        b = data::read_image(dir + "/" + name + "_b.png");
      } else {
        a = floats.at(name + "/a");
        b = floats.at(name + "/b");
      }
      const int crop = c["crop_border"];
      // PSNR: the same float64 sums in another order; SSIM: a separable
      // filter against numpy's 121-offset 2-D correlation.
      CHECK(same(data::psnr_basicsr(a, b, crop), value(c["psnr_basicsr"]), 1e-9));
      CHECK(same(data::ssim_basicsr(a, b, crop), value(c["ssim_basicsr"]), 1e-10));
      CHECK(same(data::psnr_paper(a, b), value(c["psnr_paper"]), 1e-9));
      CHECK(same(data::ssim_paper(a, b, PaperLuma::upstream_bgr), value(c["ssim_paper_bgr"]), 1e-10));
      CHECK(same(data::ssim_paper(a, b), value(c["ssim_paper_rgb"]), 1e-10));  // the default is RGB
      ++checked;
    }
    CHECK(checked >= 13);
  }
}
