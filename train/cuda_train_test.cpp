// LIEDNet on the GPU against the CPU: the whole network (output, side output
// and every parameter's gradient, and the reflect-padded path for sides that
// are not multiples of 8) and a 10-step training run with both losses (L1 +
// VGG19 perceptual, main and side) and Adam, each within 1e-3 relative; and
// two CUDA runs bit-identical. Skipped on a machine without a GPU.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include "autograd/autograd.h"
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
  // Gradients are measured against the exact answer: the same network in f64 on
  // the CPU, taking CUDA's side at every ReLU input that rounding put on the other
  // side of 0 (net::ReluTrace). Without that, one such input (|z| ~ 2e-8 of a
  // largest 1.8 at this size) moves a depthwise weight's gradient by ~1e-3, on the
  // CPU's own f32 run as much as on CUDA's, and which layer it hits depends on the
  // summation order (docs/cuda.md, "ReLU kinks"). A CUDA input on the other side
  // beyond rounding (tie 1e-5 of that ReLU's largest input) is not followed, counted
  // and fails the test.
  TEST_CASE("LIEDNet on CUDA matches the CPU: output, side output and every gradient" * doctest::skip(kNoGpu)) {
    Generator gen(11);
    net::LIEDNet cpu(net::preset("liednet"), gen);
    Generator gen2(11);
    net::LIEDNet gpu(net::preset("liednet"), gen2);
    Generator gen3(11);
    net::LIEDNet exact(net::preset("liednet"), gen3);
    nn::load_state_dict(gpu, nn::state_dict(cpu), true, "cpu model");
    nn::load_state_dict(exact, nn::state_dict(cpu), true, "cpu model");
    gpu.to(Device::CUDA);
    exact.to(DType::F64);

    // The side output needs H and W multiples of 8 (LIEDNet::forward checks it).
    const Tensor x = Tensor::uniform({2, 3, 72, 56}, -1, 1, gen);
    const Tensor g_out = Tensor::randn({2, 3, 72, 56}, gen);
    net::ReluTrace cuda_relus;
    net::ReluTrace follow{.mode = net::ReluTrace::Mode::Follow, .recorded = &cuda_relus, .tie = 1e-5};
    net::LIEDNetOutput oc = cpu.forward(x, true);
    net::LIEDNetOutput og, oe;
    {
      net::ReluTraceScope scope(cuda_relus);
      og = gpu.forward(x.to(Device::CUDA), true);
    }
    {
      net::ReluTraceScope scope(follow);
      oe = exact.forward(x.to(DType::F64), true);
    }
    REQUIRE(cuda_relus.calls > 0);
    CHECK(follow.calls == cuda_relus.calls);
    CHECK_MESSAGE(follow.contradicted == 0, follow.contradicted, " ReLU inputs on the other side of 0 beyond rounding");
    const Tensor g_side = Tensor::randn(oc.side.shape(), gen);
    const auto loss = [](const net::LIEDNetOutput& o, const Tensor& go, const Tensor& gs) {
      return ops::add(ops::sum(ops::mul(o.out, go)), ops::sum(ops::mul(o.side, gs)));
    };
    const double out_err = rel_l2(og.out, oc.out), side_err = rel_l2(og.side, oc.side);
    loss(og, g_out.to(Device::CUDA), g_side.to(Device::CUDA)).backward();
    loss(oe, g_out.to(DType::F64), g_side.to(DType::F64)).backward();
    double worst = 0;
    std::string worst_name;
    size_t compared = 0;
    const auto pc = cpu.named_parameters(), pg = gpu.named_parameters(), pe = exact.named_parameters();
    REQUIRE(pc.size() == pg.size());
    REQUIRE(pc.size() == pe.size());
    for (size_t i = 0; i < pc.size(); ++i) {
      const std::string& name = pc[i].first;
      INFO(name);
      REQUIRE(pg[i].first == name);
      REQUIRE(pe[i].first == name);
      const Tensor& q = pg[i].second;
      REQUIRE(q.grad().defined());
      CHECK(q.grad().device() == Device::CUDA);
      const Tensor reference = pe[i].second.grad().to(DType::F32);
      const double e_gpu = rel_l2(q.grad(), reference);
      CHECK_MESSAGE(e_gpu <= 1e-3, "CUDA ", e_gpu, " from f64");
      if (e_gpu > worst) worst = e_gpu, worst_name = name;
      ++compared;
    }
    std::printf("[cuda] LIEDNet 2x3x72x56: output rel L2 %.2e, side %.2e; worst of %zu parameter gradients against "
                "f64 %.2e (%s); %zu of %zu ReLU calls, %zu inputs taken on CUDA's side at a tie\n",
                out_err, side_err, compared, worst, worst_name.c_str(), cuda_relus.calls, follow.calls,
                follow.followed);
    CHECK(compared == pc.size());
    CHECK(out_err <= 1e-3);
    CHECK(side_err <= 1e-3);

    // 36x44 is padded by reflection to 40x48 and the output cropped back (no side output then).
    autograd::NoGradGuard no_grad;
    const Tensor xp = Tensor::uniform({1, 3, 36, 44}, -1, 1, gen);
    const Tensor yc = cpu.forward(xp, false).out, yg = gpu.forward(xp.to(Device::CUDA), false).out;
    REQUIRE(yg.shape() == Shape{1, 3, 36, 44});
    const double pad_err = rel_l2(yg, yc);
    std::printf("[cuda] LIEDNet 1x3x36x44 (reflect-padded): output rel L2 %.2e\n", pad_err);
    CHECK(pad_err <= 1e-3);
  }

  TEST_CASE("LIEDNet on CUDA: two runs give bit-identical output and gradients" * doctest::skip(kNoGpu)) {
    Generator gen(12);
    net::LIEDNet model(net::preset("liednet"), gen);
    model.to(Device::CUDA);
    const int64_t batch = cuda_emulated() ? 1 : 2;  // 1 on the emulated device (docs/cuda.md): half the minutes
    const Tensor x = Tensor::uniform({batch, 3, 64, 64}, -1, 1, gen).to(Device::CUDA);
    const Tensor g_out = Tensor::randn({batch, 3, 64, 64}, gen).to(Device::CUDA);
    const auto run = [&] {
      model.zero_grad();
      net::LIEDNetOutput o = model.forward(x, true);
      ops::add(ops::sum(ops::mul(o.out, g_out)), ops::sum(o.side)).backward();
      std::vector<std::vector<double>> r{o.out.to_vector(), o.side.to_vector()};
      for (const auto& [name, p] : model.named_parameters()) r.push_back(p.grad().to_vector());
      return r;
    };
    const auto first = run(), second = run();
    REQUIRE(first.size() == second.size());
    size_t differing = 0;
    for (size_t i = 0; i < first.size(); ++i) differing += first[i] != second[i];
    std::printf("[cuda] LIEDNet %lldx3x64x64 twice: %zu of %zu tensors differ\n", static_cast<long long>(batch), differing,
                first.size());
    CHECK(differing == 0);
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
    std::string worst_w_name;
    const auto pg = gpu.model().named_parameters();
    for (const auto& [name, p] : cpu.model().named_parameters())
      for (const auto& [gname, q] : pg)
        if (gname == name && rel_l2(q, p) > worst_w) worst_w = rel_l2(q, p), worst_w_name = name;
    std::printf("[cuda] 10 steps: worst loss term rel %.2e, final weights worst rel L2 %.2e (%s)\n", worst, worst_w,
                worst_w_name.c_str());
    CHECK(worst_w <= 1e-3);
    std::filesystem::remove(vgg_path);
  }
}
