// LIEDNet on the GPU against the CPU: the whole network (output, side output
// and every parameter's gradient) and a 10-step training run with both losses
// (L1 + VGG19 perceptual, main and side) and Adam, each within 1e-3 relative.
// Skipped on a machine without a GPU.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include "liednet/liednet.h"
#include "liednet/vgg.h"
#include "nn/state_dict.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "parity.h"
#include "tensor/cuda.h"
#include "tensor/safetensors.h"
#include "train/trainer.h"

using namespace liednet;

namespace {
const bool kNoGpu = cuda_device_count() == 0;
using testing::rel_l2;
}  // namespace

TEST_SUITE("train") {
  TEST_CASE("LIEDNet on CUDA matches the CPU: output, side output and every gradient" * doctest::skip(kNoGpu)) {
    Generator gen(11);
    net::LIEDNet cpu(net::preset("liednet"), gen);
    Generator gen2(11);
    net::LIEDNet gpu(net::preset("liednet"), gen2);
    nn::load_state_dict(gpu, nn::state_dict(cpu), true, "cpu model");
    gpu.to(Device::CUDA);

    // 72x56: not a multiple of 8 on one side, so the reflect padding runs too.
    const Tensor x = Tensor::uniform({2, 3, 72, 52}, -1, 1, gen);
    const Tensor g_out = Tensor::randn({2, 3, 72, 52}, gen);
    net::LIEDNetOutput oc = cpu.forward(x, true);
    net::LIEDNetOutput og = gpu.forward(x.to(Device::CUDA), true);
    const Tensor g_side = Tensor::randn(oc.side.shape(), gen);
    const auto loss = [](const net::LIEDNetOutput& o, const Tensor& go, const Tensor& gs) {
      return ops::add(ops::sum(ops::mul(o.out, go)), ops::sum(ops::mul(o.side, gs)));
    };
    const double out_err = rel_l2(og.out, oc.out), side_err = rel_l2(og.side, oc.side);
    loss(oc, g_out, g_side).backward();
    loss(og, g_out.to(Device::CUDA), g_side.to(Device::CUDA)).backward();
    double worst = 0;
    std::string worst_name;
    const auto pg = gpu.named_parameters();
    for (const auto& [name, p] : cpu.named_parameters())
      for (const auto& [gname, q] : pg)
        if (gname == name) {
          const double e = rel_l2(q.grad(), p.grad());
          if (e > worst) worst = e, worst_name = name;
        }
    std::printf("[cuda] LIEDNet 2x3x72x52: output rel L2 %.2e, side %.2e, worst parameter gradient %.2e (%s)\n",
                out_err, side_err, worst, worst_name.c_str());
    CHECK(out_err <= 1e-3);
    CHECK(side_err <= 1e-3);
    CHECK_MESSAGE(worst <= 1e-3, "worst gradient: ", worst_name);
  }

  TEST_CASE("10 training steps on CUDA follow the CPU's loss curve within 1e-3" * doctest::skip(kNoGpu)) {
    // Random VGG19 weights written to a file, as the trainer loads them.
    const std::string vgg_path = (std::filesystem::temp_directory_path() / "liednet_cuda_vgg.safetensors").string();
    {
      Generator g(5);
      net::VGG19Features vgg(g);
      nn::save_weights(vgg, vgg_path);
    }
    const auto config = [&](Device d) {
      train::TrainConfig c;
      c.path = d == Device::CUDA ? "cuda run" : "cpu run";
      c.network = net::preset("liednet");
      c.adam = {.lr = 2e-4, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8, .weight_decay = 0};
      c.periods = {10};
      c.restart_weights = {1};
      c.total_iter = 10;
      c.loss = {};  // upstream's: pixel 1, perceptual 0.01, side 0.8
      c.vgg_weights = vgg_path;
      c.device = d;
      return c;
    };
    train::Trainer cpu(config(Device::CPU)), gpu(config(Device::CUDA));
    nn::load_state_dict(gpu.model(), nn::state_dict(cpu.model()), true, "cpu trainer");
    Generator data(8);
    double worst = 0;
    for (int i = 0; i < 10; ++i) {
      const Tensor gt = Tensor::uniform({2, 3, 64, 64}, -0.8, 0.8, data);
      const Tensor lq = ops::add_scalar(ops::scale(gt, 0.3), -0.6);
      const train::StepReport rc = cpu.step(lq, gt), rg = gpu.step(lq, gt);
      const double e = std::abs(rg.total - rc.total) / std::abs(rc.total);
      std::printf("[cuda] step %d: loss cpu %.7f cuda %.7f (rel %.1e)\n", i + 1, rc.total, rg.total, e);
      worst = std::max(worst, e);
      for (auto [a, b] : {std::pair{rg.l_pix, rc.l_pix}, std::pair{rg.l_side_pix, rc.l_side_pix},
                          std::pair{rg.l_percep, rc.l_percep}, std::pair{rg.l_side_percep, rc.l_side_percep}})
        worst = std::max(worst, std::abs(a - b) / std::abs(b));
    }
    CHECK(worst <= 1e-3);
    double worst_w = 0;
    const auto pg = gpu.model().named_parameters();
    for (const auto& [name, p] : cpu.model().named_parameters())
      for (const auto& [gname, q] : pg)
        if (gname == name) worst_w = std::max(worst_w, rel_l2(q, p));
    std::printf("[cuda] 10 steps: worst loss term rel %.2e, final weights worst rel L2 %.2e\n", worst, worst_w);
    CHECK(worst_w <= 1e-3);
    std::filesystem::remove(vgg_path);
  }
}
