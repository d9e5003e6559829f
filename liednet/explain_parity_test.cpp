// liednet explain's analysis against PyTorch (tests/oracle/explain_cases.py):
// the same reference network's weights and images, every stage's ERF from
// torch.autograd.grad, the network with every SS2D returning zeros, the
// per-direction scan maps, the per-direction ERFs and the LFM's channel weights.
#include <doctest/doctest.h>

#include "parity.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "autograd/autograd.h"
#include "liednet/explain.h"
#include "nn/state_dict.h"
#include "tensor/safetensors.h"

using namespace liednet;

TEST_SUITE("parity") {
  TEST_CASE("explain: ERFs, the network without SS2D, scan maps and LFM weights match PyTorch") {
    const SafetensorsContents f = load_safetensors(testing::oracle_file("explain.safetensors"));
    const nlohmann::json cfg = nlohmann::json::parse(f.metadata.at("config"));
    const net::LIEDNetConfig config{cfg.at("dim"), {cfg.at("blocks")[0], cfg.at("blocks")[1], cfg.at("blocks")[2]},
                                    cfg.at("refinement"), "test"};
    nn::StateDict sd;
    for (const auto& [k, t] : f.tensors)
      if (k.rfind("param/", 0) == 0) sd.push_back({k.substr(6), t});
    const Tensor& images = f.at("images");
    REQUIRE(images.size(2) != images.size(3));  // a non-square size

    for (DType dt : {DType::F64, DType::F32}) {
      INFO(dtype_name(dt));
      Generator gen(0);
      net::LIEDNet model(config, gen);
      model.to(dt);
      nn::load_state_dict(model, sd, true, f.path);
      const Tensor x = images.to(dt);
      // f64: the same math in another order, rounding only; f32: the 1e-4.
      const double tol = dt == DType::F64 ? 1e-10 : 1e-4;
      auto check = [&](const std::string& key, const Tensor& ours) {
        const double err = testing::rel_l2(ours, f.at(key));
        std::printf("[explain] %s %-34s rel err %.2e\n", dtype_name(dt), key.c_str(), err);
        CHECK_MESSAGE(err <= tol, key);
      };

      net::ExplainOptions opt;
      opt.without_ss2d = true;
      const net::Explanation e = net::explain(model, x, opt);
      REQUIRE(e.erf.size() == 8);
      for (const auto& [list, prefix] : {std::pair{&e.erf, "erf"}, std::pair{&e.erf_without_ss2d, "erf_without_ss2d"}})
        for (const net::StageERF& s : *list) {
          check(std::string(prefix) + "." + s.stage, s.map);
          // A radius is where a running sum crosses a threshold: 1e-5 can move it
          // by a ring, so it is compared exactly only in f64.
          if (dt == DType::F64) {
            const std::vector<double> want = f.at(std::string(prefix) + "_radius." + s.stage).to_vector();
            CHECK_MESSAGE(std::vector<double>(s.radius.begin(), s.radius.end()) == want, prefix, ".", s.stage);
          }
        }
      REQUIRE(e.scan.size() == 6);
      for (const auto& [block, maps] : e.scan)
        for (int k = 0; k < 4; ++k) check("scan." + block + ".k" + std::to_string(k), maps[k]);
      // Per-direction ERFs: the first block of each level with its SS2D keeping one direction.
      REQUIRE(e.erf_dir.size() == 6);
      if (!f.contains("erf_dir.encoder_level1.0.k0")) {
        MESSAGE("skipped: ", f.path, " has no erf_dir.* (made before them; regenerate with tests/oracle/explain_cases.py)");
      } else {
        for (const auto& [block, maps] : e.erf_dir)
          for (int k = 0; k < 4; ++k) check("erf_dir." + block + ".k" + std::to_string(k), maps[k]);
      }
      for (const auto& [block, w] : e.lfm) check("lfm." + block, w);
      size_t lfm_keys = 0;
      for (const auto& [k, t] : f.tensors) lfm_keys += k.rfind("lfm.", 0) == 0;
      CHECK(e.lfm.size() == lfm_keys);

      // The outputs, with and without the global branch.
      autograd::NoGradGuard no_grad;
      check("output", model.forward(x).out);
      model.set_without_ss2d(true);
      check("output_without_ss2d", model.forward(x).out);
    }
  }
}
