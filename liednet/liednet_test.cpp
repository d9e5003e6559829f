#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "autograd/autograd.h"
#include "liednet/liednet.h"
#include "ops/reduce.h"

using namespace liednet;

TEST_SUITE("nn") {
  TEST_CASE("LIEDNet has upstream's parameter count, names and shapes") {
    Generator g(10);
    net::LIEDNet m(net::preset("liednet"), g);
    auto params = m.named_parameters();
    CHECK(params.size() == 402);
    CHECK(m.parameter_count() == 4755554);
    CHECK(params.front().first == "patch_embed.proj.weight");
    CHECK(params.back().first == "side_out.bias");
    std::map<std::string, Shape> shape;
    for (auto& [n, p] : params) shape[n] = p.shape();
    CHECK(shape.at("encoder_level1.0.op.x_proj_weight") == Shape{4, 2 + 32, 64});
    CHECK(shape.at("encoder_level1.0.op.dt_projs_weight") == Shape{4, 64, 2});
    CHECK(shape.at("encoder_level1.0.op.A_logs") == Shape{256, 16});
    CHECK(shape.at("encoder_level1.0.op.in_proj.weight") == Shape{128, 32});
    CHECK(shape.at("encoder_level1.0.op.conv2d.weight") == Shape{64, 1, 3, 3});
    CHECK(shape.at("encoder_level1.0.local.weight.0.weight") == Shape{16, 32, 1, 1});
    CHECK(shape.at("encoder_level1.0.local.weight.2.bias") == Shape{32});
    CHECK(shape.at("encoder_level1.0.fusion.weight") == Shape{32, 64, 1, 1});
    CHECK(shape.at("encoder_level1.0.ffn.project_in1.weight") == Shape{170, 32, 1, 1});
    CHECK(shape.at("encoder_level1.0.ffn.dwconv1.weight") == Shape{85, 1, 5, 5});
    CHECK(shape.at("encoder_level3.3.op.dt_projs_weight") == Shape{4, 256, 8});
    CHECK(shape.at("down1_2.body.0.weight") == Shape{16, 32, 3, 3});
    CHECK(shape.at("reduce_chan_level2.weight") == Shape{64, 128, 1, 1});
    CHECK(shape.at("refinement.3.norm2.bias") == Shape{64});
    CHECK(shape.at("recover.0.weight") == Shape{256, 64, 3, 3});
    CHECK(shape.at("side_out.weight") == Shape{3, 128, 3, 3});
    // SS2D lists its own parameters before its children, as upstream's state dict does.
    auto it = std::find_if(params.begin(), params.end(), [](auto& kv) { return kv.first.find(".op.") != std::string::npos; });
    CHECK(it->first == "encoder_level1.0.op.x_proj_weight");
    CHECK((it + 5)->first == "encoder_level1.0.op.out_norm.weight");
  }

  TEST_CASE("LIEDNet-L has 17,790,901 parameters") {
    Generator g(11);
    net::LIEDNet m(net::preset("liednet-l"), g);
    CHECK(m.parameter_count() == 17790901);
    CHECK(m.named_parameters().size() == 402);
  }

  TEST_CASE("SS2D initialisation follows upstream") {
    Generator g(12);
    net::SS2D s(32, g);
    CHECK(s.dt_rank == 2);
    for (int64_t r = 0; r < s.A_logs.size(0); r += 37)
      for (int64_t n = 0; n < 16; ++n) CHECK(s.A_logs.at({r, n}) == doctest::Approx(std::log(n + 1.0)));
    for (double v : s.Ds.to_vector()) CHECK(v == 1.0);
    for (double v : s.dt_projs_weight.to_vector()) CHECK(std::abs(v) <= 1 / std::sqrt(2.0));
    for (double b : s.dt_projs_bias.to_vector()) {
      const double dt = std::log1p(std::exp(b));  // softplus(bias) = dt in [1e-3, 1e-1]
      CHECK(dt >= 1e-3 * 0.999);
      CHECK(dt <= 0.1 * 1.001);
    }
  }

  TEST_CASE("LIEDNet runs any size, padding to multiples of 8, and checks its input") {
    Generator g(13);
    net::LIEDNetConfig cfg{8, {1, 1, 1}, 1, "tiny"};
    net::LIEDNet m(cfg, g);
    autograd::NoGradGuard no_grad;
    Tensor x = Tensor::uniform({1, 3, 13, 21}, -1, 1, g);
    net::LIEDNetOutput r = m.forward(x);
    CHECK(r.out.shape() == Shape{1, 3, 13, 21});
    Tensor x8 = Tensor::uniform({2, 3, 16, 24}, -1, 1, g);
    r = m.forward(x8, true);
    CHECK(r.out.shape() == Shape{2, 3, 16, 24});
    CHECK(r.side.shape() == Shape{2, 3, 2, 3});
    std::vector<std::string> stages;
    m.observer = [&](const std::string& name, const Tensor&) { stages.push_back(name); };
    m.forward(x8, true);
    CHECK(stages.front() == "patch_embed");
    CHECK(stages.back() == "output");
    CHECK(std::find(stages.begin(), stages.end(), "encoder_level3.0") != stages.end());
    CHECK_THROWS_WITH(m.forward(Tensor::zeros({1, 1, 8, 8})), doctest::Contains("input must have 3 channels"));
    CHECK_THROWS_WITH(m.forward(Tensor::zeros({1, 3, 0, 8})), doctest::Contains("empty input"));
    CHECK_THROWS_WITH(m.forward(x, true), doctest::Contains("side output needs H and W multiples of 8"));
  }

  TEST_CASE("ReluTrace: records every ReLU, follows the recorded side only at a tie, counts the rest") {
    // Three inputs: a tie the recorded run put on the other side (followed), a sign
    // difference far from 0 (contradicted, not followed), an agreement.
    net::ReluTrace rec;
    {
      net::ReluTraceScope scope(rec);
      net::traced_relu(Tensor::from_vector({3}, {2e-9, -0.5, 0.25}));
    }
    REQUIRE(rec.inputs.size() == 1);
    CHECK(rec.calls == 1);
    net::ReluTrace follow{.mode = net::ReluTrace::Mode::Follow, .recorded = &rec, .tie = 1e-6};
    Tensor z = Tensor::from_vector({3}, {-1e-9, 0.5, 0.25}, DType::F64);
    z.set_requires_grad(true);
    Tensor y;
    {
      net::ReluTraceScope scope(follow);
      y = net::traced_relu(z);
    }
    CHECK(follow.followed == 1);
    CHECK(follow.contradicted == 1);
    const std::vector<double> v = y.to_vector();
    CHECK(v[0] == -1e-9);  // the recorded side (positive): z itself, slope 1
    CHECK(v[1] == 0.5);    // its own side: not followed beyond the tie
    CHECK(v[2] == 0.25);
    ops::sum(y).backward();
    CHECK(z.grad().to_vector() == std::vector<double>{1, 1, 1});
    // Without a trace it is ReLU; a Follow trace with a missing or different-shaped record is an error.
    CHECK(net::traced_relu(Tensor::from_vector({2}, {-1, 1})).to_vector() == std::vector<double>{0, 1});
    net::ReluTrace short_follow{.mode = net::ReluTrace::Mode::Follow, .recorded = &rec};
    net::ReluTraceScope scope(short_follow);
    CHECK_THROWS_WITH_AS(net::traced_relu(Tensor::zeros({4})), doctest::Contains("shape"), std::exception);
    CHECK_THROWS_WITH_AS(net::traced_relu(Tensor::zeros({3})), doctest::Contains("was not recorded"), std::exception);
  }
}
