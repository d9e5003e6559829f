// The low-light recipe's per-epoch warm-up + cosine schedule (nn::WarmupCosineEpochs).
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "nn/optim.h"
#include "parity.h"
#include "tensor/safetensors.h"

using namespace liednet;

TEST_SUITE("nn") {
  TEST_CASE("WarmupCosineEpochs: linear warm-up, the base rate twice, cosine to eta_min, constant within an epoch") {
    nn::WarmupCosineEpochs s(1e-4, 3, 10, 1e-6, 5);
    CHECK(s.epoch_lr(1) == doctest::Approx(1e-4 / 3).epsilon(1e-15));
    CHECK(s.epoch_lr(2) == doctest::Approx(2e-4 / 3).epsilon(1e-15));
    CHECK(s.epoch_lr(3) == 1e-4);
    CHECK(s.epoch_lr(4) == 1e-4);  // the cosine's step 0
    CHECK(s.epoch_lr(10) == doctest::Approx(1e-6 + (1e-4 - 1e-6) * (1 + std::cos(M_PI * 6 / 7)) / 2).epsilon(1e-14));
    for (int64_t e = 0; e < 50; ++e) CHECK(s.lr(e) == s.epoch_lr(e / 5 + 1));
    for (int64_t E = 4; E < 10; ++E) CHECK(s.epoch_lr(E + 1) < s.epoch_lr(E));
    CHECK_THROWS_WITH(nn::WarmupCosineEpochs(1e-4, 3, 3, 0, 1), doctest::Contains("needs more epochs (3) than warm-up"));
    CHECK_THROWS_WITH(nn::WarmupCosineEpochs(1e-4, 3, 9, 0, 0), doctest::Contains("iterations per epoch"));
  }
}

TEST_SUITE("parity") {
  TEST_CASE("WarmupCosineEpochs equals PyTorch's warm-up then CosineAnnealingLR, iteration by iteration") {
    const std::string path = testing::oracle_file("llie_lr.safetensors");
    if (!std::filesystem::exists(path)) {
      MESSAGE("skipped: ", path, " is absent (run tests/oracle/llie_cases.py)");
      return;
    }
    const SafetensorsContents c = load_safetensors(path);
    REQUIRE(c.tensors.size() == 3);
    for (const auto& [key, seq] : c.tensors) {
      const nlohmann::json cfg = nlohmann::json::parse(c.metadata.at(key.substr(3)));
      nn::WarmupCosineEpochs s(cfg["base"], cfg["warmup"], cfg["epochs"], cfg["eta_min"], cfg["iters"]);
      const std::vector<double> want = seq.to_vector();
      REQUIRE(static_cast<int64_t>(want.size()) == cfg["epochs"].get<int64_t>() * cfg["iters"].get<int64_t>());
      double worst = 0;
      for (size_t i = 0; i < want.size(); ++i)
        worst = std::max(worst, std::fabs(s.lr(static_cast<int64_t>(i)) - want[i]) / cfg["base"].get<double>());
      INFO(key);
      CHECK(worst < 1e-12);  // the recursive cosine's rounding; the closed form is exact
    }
  }
}
