#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "nn/init.h"
#include "nn/layers.h"
#include "nn/state_dict.h"
#include "tensor/safetensors.h"

using namespace liednet;

namespace {
struct Tiny : nn::Module {
  std::shared_ptr<nn::Conv2d> conv;
  std::shared_ptr<nn::LayerNorm> norm;
  Tensor scale;
  explicit Tiny(Generator& g) : Module("Tiny") {
    scale = Tensor::ones({4});
    register_parameter("scale", &scale);
    conv = register_module("conv", std::make_shared<nn::Conv2d>(3, 4, 3, 1, 1, 1, true, g));
    norm = register_module("norm", std::make_shared<nn::LayerNorm>(4));
  }
};
}  // namespace

TEST_SUITE("nn") {
  TEST_CASE("modules name parameters like PyTorch: own first, then children in order") {
    Generator g(1);
    Tiny t(g);
    std::vector<std::string> names;
    for (auto& [n, p] : t.named_parameters()) names.push_back(n);
    CHECK(names == std::vector<std::string>{"scale", "conv.weight", "conv.bias", "norm.weight", "norm.bias"});
    CHECK(t.parameter_count() == 4 + 4 * 3 * 9 + 4 + 4 + 4);
    for (auto& p : t.parameters()) CHECK(p.requires_grad());
    t.eval();
    CHECK(!t.conv->training());
    t.train();
    CHECK(t.norm->training());
    t.to(DType::F64);
    CHECK(t.conv->weight.dtype() == DType::F64);
    CHECK(t.named_parameters()[1].second.dtype() == DType::F64);
  }

  TEST_CASE("default init matches PyTorch's bounds") {
    Generator g(3);
    nn::Conv2d conv(16, 32, 3, 1, 1, 1, true, g);
    const double bound = 1.0 / std::sqrt(16.0 * 9.0);  // kaiming_uniform(a=sqrt 5) = U(-1/sqrt(fan_in), ..)
    double max_abs = 0, sum = 0, sum2 = 0;
    for (double v : conv.weight.to_vector()) {
      max_abs = std::max(max_abs, std::abs(v));
      sum += v;
      sum2 += v * v;
    }
    const double n = static_cast<double>(conv.weight.numel());
    CHECK(max_abs <= bound);
    CHECK(max_abs > 0.95 * bound);
    CHECK(std::abs(sum / n) < 0.05 * bound);
    CHECK(sum2 / n == doctest::Approx(bound * bound / 3).epsilon(0.1));  // variance of U(-b, b)
    for (double v : conv.bias.to_vector()) CHECK(std::abs(v) <= bound);
    nn::Conv2d depthwise(8, 8, 5, 1, 2, 8, false, g);
    CHECK(depthwise.weight.shape() == Shape{8, 1, 5, 5});
    CHECK(!depthwise.bias.defined());
  }

  TEST_CASE("state dicts round-trip through safetensors") {
    namespace fs = std::filesystem;
    Generator g1(1), g2(2);
    Tiny a(g1), b(g2);
    const std::string path = (fs::temp_directory_path() / "liednet_nn_test.safetensors").string();
    nn::save_weights(a, path);
    nn::LoadReport r = nn::load_weights(b, path);
    CHECK(r.clean());
    CHECK(r.loaded == 5);
    for (size_t i = 0; i < 5; ++i)
      CHECK(a.named_parameters()[i].second.to_vector() == b.named_parameters()[i].second.to_vector());
    fs::remove(path);
  }

  TEST_CASE("strict loading lists every missing, unexpected and mis-shaped key in one error") {
    Generator g(1);
    Tiny t(g);
    nn::StateDict sd = nn::state_dict(t);
    sd.erase(sd.begin());                                      // scale missing
    sd[0].second = Tensor::zeros({4, 3, 5, 5});                // conv.weight mis-shaped
    sd.push_back({"extra.weight", Tensor::zeros({2})});       // unexpected
    sd.push_back({"extra.bias", Tensor::zeros({2})});
    const std::vector<double> before = t.conv->bias.to_vector();
    CHECK_THROWS_WITH(nn::load_state_dict(t, sd, true, "w.safetensors"),
                      doctest::Contains("w.safetensors: does not match Tiny: 1 missing: scale; 2 unexpected: "
                                        "extra.weight, extra.bias; 1 mis-shaped: conv.weight: file (4, 3, 5, 5) vs "
                                        "model (4, 3, 3, 3)"));
    // Nothing was loaded by the failed strict load.
    sd[1].second = Tensor::full({4}, 7.0);  // conv.bias
    CHECK(t.conv->bias.to_vector() == before);
    // Not strict: what matches loads, the rest is reported.
    nn::LoadReport r = nn::load_state_dict(t, sd, false);
    CHECK(r.missing == std::vector<std::string>{"scale"});
    CHECK(r.unexpected.size() == 2);
    CHECK(r.mismatched.size() == 1);
    CHECK(r.loaded == 3);
    CHECK(t.conv->bias.to_vector() == std::vector<double>(4, 7.0));
  }
}
