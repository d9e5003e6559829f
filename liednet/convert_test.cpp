// A checkpoint written by torch.save({'params': state_dict}) converts, loads
// with no missing or unexpected keys, and gives torch's output.
#include <doctest/doctest.h>

#include "parity.h"

#include <cmath>
#include <cstdlib>

#include "autograd/autograd.h"
#include "liednet/config_infer.h"
#include "liednet/liednet.h"
#include "nn/state_dict.h"
#include "nn/torch_checkpoint.h"
#include "tensor/safetensors.h"

using namespace liednet;

TEST_SUITE("parity") {
  TEST_CASE("a torch.save checkpoint of LIEDNet loads and reproduces torch's output") {
    nn::TorchCheckpoint ck = nn::load_torch_checkpoint(testing::oracle_file("liednet_dim8.pth"));
    CHECK(ck.source == "params");
    const SafetensorsContents expect = load_safetensors(testing::oracle_file("liednet_dim8_f32.safetensors"));

    Generator gen(0);
    net::LIEDNetConfig cfg = net::config_from_state_dict(ck.tensors, "liednet_dim8.pth");
    CHECK(cfg.dim == 8);
    CHECK(cfg.blocks == std::array<int64_t, 3>{1, 1, 1});
    CHECK(cfg.refinement == 1);
    net::LIEDNet model(cfg, gen);
    nn::LoadReport r = nn::load_state_dict(model, ck.tensors, false);
    CHECK(r.clean());
    CHECK(r.loaded == static_cast<int64_t>(model.named_parameters().size()));
    // The converted weights are torch's float32 weights, bit for bit.
    for (const auto& [k, t] : model.named_parameters()) CHECK(t.to_vector() == expect.at(k).to_vector());

    autograd::NoGradGuard no_grad;
    net::LIEDNetOutput out = model.forward(expect.at("input"), true);
    const auto a = out.out.to_vector(), b = expect.at("output").to_vector();
    double num = 0, den = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      num += (a[i] - b[i]) * (a[i] - b[i]);
      den += b[i] * b[i];
    }
    MESSAGE("converted dim-8 LIEDNet vs torch, f32: relative error ", std::sqrt(num / den));
    CHECK(std::sqrt(num / den) <= 1e-5);
  }
}
