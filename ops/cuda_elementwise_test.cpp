// The elementwise group's CUDA kernels on sizes the op harness does not reach:
// CUDA against the CPU on large tensors (forward and every gradient), sums that
// are bit-identical run to run, Adam's fused update, and mixed-device errors.
// Every case is skipped on a machine without a GPU.
#include <doctest/doctest.h>

#include <functional>
#include <vector>

#include "autograd/autograd.h"
#include "nn/layers.h"
#include "nn/optim.h"
#include "op_harness.h"
#include "ops/activation.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/reduce.h"
#include "tensor/cuda.h"

using namespace liednet;

namespace {

const bool kNoGpu = cuda_device_count() == 0;

using Fn = std::function<Tensor(std::vector<Tensor>&)>;

struct Run {
  Tensor y;                   // on the CPU
  std::vector<Tensor> grads;  // on the CPU, one per input
};

// fn on copies of the f32 CPU inputs moved to `device`, then backward with
// upstream gradient g (f32 CPU); everything comes back to the CPU.
Run run_on(Device device, const std::vector<Tensor>& inputs, const Tensor& g, const Fn& fn) {
  std::vector<Tensor> in;
  for (const Tensor& x : inputs) {
    Tensor t = x.to(device);
    t.set_requires_grad(true);
    in.push_back(t);
  }
  Tensor y = fn(in);
  y.backward(g.to(device));
  Run r{y.detach().to(Device::CPU), {}};
  for (const Tensor& t : in) r.grads.push_back(t.grad().to(Device::CPU));
  return r;
}

// Random f32 CPU inputs of the given shapes and a random upstream gradient shaped like fn's output.
struct Problem {
  std::vector<Tensor> inputs;
  Tensor g;
};
Problem make_problem(const std::vector<Shape>& shapes, const Fn& fn, uint64_t seed) {
  Generator gen(seed);
  Problem p;
  for (const Shape& s : shapes) p.inputs.push_back(Tensor::randn(s, gen, DType::F32));
  Tensor probe;
  {
    autograd::NoGradGuard no_grad;
    probe = fn(p.inputs);
  }
  p.g = Tensor::randn(probe.shape(), gen, DType::F32);
  return p;
}

// The largest scaled difference between CUDA and CPU over the output and every gradient.
double cuda_vs_cpu(const std::vector<Shape>& shapes, const Fn& fn, uint64_t seed = 7) {
  const Problem p = make_problem(shapes, fn, seed);
  const Run cpu = run_on(Device::CPU, p.inputs, p.g, fn);
  const Run gpu = run_on(Device::CUDA, p.inputs, p.g, fn);
  double err = testing::scaled_max_error(gpu.y, cpu.y);
  for (size_t i = 0; i < p.inputs.size(); ++i)
    err = std::max(err, testing::scaled_max_error(gpu.grads[i], cpu.grads[i]));
  return err;
}

// Output and gradients of two CUDA runs, as exact values.
std::vector<std::vector<double>> cuda_values(const std::vector<Shape>& shapes, const Fn& fn, uint64_t seed = 11) {
  const Problem p = make_problem(shapes, fn, seed);
  const Run r = run_on(Device::CUDA, p.inputs, p.g, fn);
  std::vector<std::vector<double>> v{r.y.to_vector()};
  for (const Tensor& t : r.grads) v.push_back(t.to_vector());
  return v;
}

// 8.4M elements; on the emulated device (docs/cuda.md) 131k, still 16 blocks of sums.
const Shape kLarge = cuda_emulated() ? Shape{2, 16, 64, 64} : Shape{8, 64, 128, 128};
}  // namespace

TEST_SUITE("ops") {
  TEST_CASE("CUDA elementwise ops match the CPU on large tensors" * doctest::skip(kNoGpu)) {
    const std::vector<std::pair<const char*, Fn>> binary = {
        {"add", [](auto& x) { return ops::add(x[0], x[1]); }},
        {"sub", [](auto& x) { return ops::sub(x[0], x[1]); }},
        {"mul", [](auto& x) { return ops::mul(x[0], x[1]); }},
    };
    for (const auto& [name, fn] : binary) {
      INFO(name);
      CHECK(cuda_vs_cpu({kLarge, kLarge}, fn) <= 1e-6);
    }
    const std::vector<std::pair<const char*, Fn>> unary = {
        {"scale", [](auto& x) { return ops::scale(x[0], -0.37); }},
        {"add_scalar", [](auto& x) { return ops::add_scalar(x[0], 1.25); }},
        {"relu", [](auto& x) { return ops::relu(x[0]); }},
        {"silu", [](auto& x) { return ops::silu(x[0]); }},
        {"gelu", [](auto& x) { return ops::gelu(x[0]); }},
        {"sigmoid", [](auto& x) { return ops::sigmoid(x[0]); }},
        {"softplus (both sides of the threshold)", [](auto& x) { return ops::softplus(ops::scale(x[0], 15.0)); }},
        {"exp", [](auto& x) { return ops::exp(x[0]); }},
    };
    for (const auto& [name, fn] : unary) {
      INFO(name);
      CHECK(cuda_vs_cpu({kLarge}, fn) <= 1e-5);
    }
  }

  TEST_CASE("CUDA per-channel ops and their reductions match the CPU" * doctest::skip(kNoGpu)) {
    const Shape b_shared{kLarge[1]}, b_per_sample{kLarge[0], kLarge[1]};
    CHECK(cuda_vs_cpu({kLarge, b_shared}, [](auto& x) { return ops::add_channel(x[0], x[1]); }) <= 1e-5);
    CHECK(cuda_vs_cpu({kLarge, b_per_sample}, [](auto& x) { return ops::add_channel(x[0], x[1]); }) <= 1e-5);
    CHECK(cuda_vs_cpu({kLarge, b_shared}, [](auto& x) { return ops::mul_channel(x[0], x[1]); }) <= 1e-5);
    CHECK(cuda_vs_cpu({kLarge, b_per_sample}, [](auto& x) { return ops::mul_channel(x[0], x[1]); }) <= 1e-5);
    // Odd sizes: planes that do not fill a block of threads, and (N, C, L).
    CHECK(cuda_vs_cpu({{3, 5, 17, 9}, {5}}, [](auto& x) { return ops::mul_channel(x[0], x[1]); }) <= 1e-5);
    CHECK(cuda_vs_cpu({{2, 7, 1001}, {2, 7}}, [](auto& x) { return ops::add_channel(x[0], x[1]); }) <= 1e-5);
  }

  TEST_CASE("CUDA reductions and l1_loss match the CPU on large tensors" * doctest::skip(kNoGpu)) {
    CHECK(cuda_vs_cpu({kLarge}, [](auto& x) { return ops::sum(x[0]); }) <= 1e-6);
    CHECK(cuda_vs_cpu({kLarge}, [](auto& x) { return ops::mean(x[0]); }) <= 1e-6);
    CHECK(cuda_vs_cpu({kLarge}, [](auto& x) { return ops::mean_hw(x[0]); }) <= 1e-6);
    CHECK(cuda_vs_cpu({kLarge, kLarge}, [](auto& x) { return ops::l1_loss(x[0], x[1]); }) <= 1e-6);
    // A count that is not a multiple of the block, and one smaller than a block.
    CHECK(cuda_vs_cpu({{3 * 8192 + 17}}, [](auto& x) { return ops::sum(x[0]); }) <= 1e-6);
    CHECK(cuda_vs_cpu({{5}}, [](auto& x) { return ops::mean(x[0]); }) <= 1e-6);
    CHECK(cuda_vs_cpu({{1, 3, 1, 1}}, [](auto& x) { return ops::mean_hw(x[0]); }) <= 1e-6);
    CHECK(cuda_vs_cpu({{4, 3, 37, 41}}, [](auto& x) { return ops::mean_hw(x[0]); }) <= 1e-6);
    CHECK(cuda_vs_cpu({{3 * 8192 + 17}, {3 * 8192 + 17}}, [](auto& x) { return ops::l1_loss(x[0], x[1]); }) <= 1e-6);
    // Large values: the sum of 8.4M numbers of magnitude 1e3 still agrees.
    CHECK(cuda_vs_cpu({kLarge}, [](auto& x) { return ops::sum(ops::scale(x[0], 1e3)); }) <= 1e-6);
  }

  TEST_CASE("l1_loss on CUDA: the gradient is 0 where pred equals target" * doctest::skip(kNoGpu)) {
    Tensor pred = Tensor::from_vector({4}, {1, 2, 3, 4}).to(Device::CUDA);
    Tensor target = Tensor::from_vector({4}, {0, 2, 5, 4}).to(Device::CUDA);
    pred.set_requires_grad(true);
    target.set_requires_grad(true);
    Tensor loss = ops::l1_loss(pred, target);
    CHECK(loss.item() == doctest::Approx(0.75));
    loss.backward();
    CHECK(pred.grad().to_vector() == std::vector<double>{0.25, 0, -0.25, 0});
    CHECK(target.grad().to_vector() == std::vector<double>{-0.25, 0, 0.25, 0});
  }

  TEST_CASE("CUDA sums and channel reductions are bit-identical run to run" * doctest::skip(kNoGpu)) {
    const std::vector<std::pair<const char*, std::pair<std::vector<Shape>, Fn>>> cases = {
        {"sum", {{kLarge}, [](auto& x) { return ops::sum(x[0]); }}},
        {"mean", {{kLarge}, [](auto& x) { return ops::mean(x[0]); }}},
        {"mean odd count", {{Shape{3 * 8192 + 17}}, [](auto& x) { return ops::mean(x[0]); }}},
        {"mean_hw", {{kLarge}, [](auto& x) { return ops::mean_hw(x[0]); }}},
        {"l1_loss", {{kLarge, kLarge}, [](auto& x) { return ops::l1_loss(x[0], x[1]); }}},
        {"add_channel (C)", {{kLarge, {kLarge[1]}}, [](auto& x) { return ops::add_channel(x[0], x[1]); }}},
        {"add_channel (N,C)", {{kLarge, {kLarge[0], kLarge[1]}}, [](auto& x) { return ops::add_channel(x[0], x[1]); }}},
        {"mul_channel (C)", {{kLarge, {kLarge[1]}}, [](auto& x) { return ops::mul_channel(x[0], x[1]); }}},
        {"mul_channel (N,C)", {{kLarge, {kLarge[0], kLarge[1]}}, [](auto& x) { return ops::mul_channel(x[0], x[1]); }}},
    };
    for (const auto& [name, c] : cases) {
      INFO(name);
      const auto first = cuda_values(c.first, c.second);
      const auto second = cuda_values(c.first, c.second);
      REQUIRE(first.size() == second.size());
      for (size_t i = 0; i < first.size(); ++i) CHECK(first[i] == second[i]);
    }
  }

  TEST_CASE("CUDA gradients accumulate into a leaf used twice and over two backwards" * doctest::skip(kNoGpu)) {
    // x feeds mul twice and exp once; its gradient is summed by add_into on the device.
    const Fn fn = [](auto& x) { return ops::mean(ops::add(ops::mul(x[0], x[0]), ops::exp(x[0]))); };
    Generator gen(3);
    const Tensor x0 = Tensor::randn({4, 8, 33, 65}, gen, DType::F32);
    std::vector<Tensor> grads;
    for (Device d : {Device::CPU, Device::CUDA}) {
      std::vector<Tensor> in{x0.to(d)};
      in[0].set_requires_grad(true);
      fn(in).backward();
      fn(in).backward();  // the second adds into the existing .grad
      grads.push_back(in[0].grad().to(Device::CPU));
    }
    CHECK(testing::scaled_max_error(grads[1], grads[0]) <= 1e-6);
  }

  TEST_CASE("Adam on CUDA follows the CPU for 3 steps" * doctest::skip(kNoGpu)) {
    for (double weight_decay : {0.0, 0.01}) {
      INFO("weight_decay ", weight_decay);
      Generator init_cpu(5), init_gpu(5);
      nn::Linear cpu(64, 48, true, init_cpu), gpu(64, 48, true, init_gpu);
      // Replace each parameter by a CUDA leaf before building Adam (as Module::to does).
      for (Tensor* p : {&gpu.weight, &gpu.bias}) {
        *p = p->to(Device::CUDA);
        p->set_requires_grad(true);
      }
      const nn::AdamOptions opt{.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8, .weight_decay = weight_decay};
      nn::Adam adam_cpu(cpu, opt), adam_gpu(gpu, opt);
      Generator grads(9);
      for (int step = 0; step < 3; ++step) {
        for (auto [c, g] : {std::pair{&cpu.weight, &gpu.weight}, std::pair{&cpu.bias, &gpu.bias}}) {
          const Tensor grad = Tensor::randn(c->shape(), grads, DType::F32);
          c->set_grad(grad);
          g->set_grad(grad.to(Device::CUDA));
        }
        adam_cpu.step(1e-3);
        adam_gpu.step(1e-3);
      }
      CHECK(gpu.weight.device() == Device::CUDA);
      CHECK(testing::scaled_max_error(gpu.weight.to(Device::CPU), cpu.weight) <= 1e-6);
      CHECK(testing::scaled_max_error(gpu.bias.to(Device::CPU), cpu.bias) <= 1e-6);
      const nn::StateDict sc = adam_cpu.state(), sg = adam_gpu.state();
      REQUIRE(sc.size() == sg.size());
      for (size_t i = 0; i < sc.size(); ++i) {
        INFO(sc[i].first);
        CHECK(testing::scaled_max_error(sg[i].second.to(Device::CPU), sc[i].second) <= 1e-6);
      }
    }
  }

  TEST_CASE("Adam refuses a gradient on another device than its parameter" * doctest::skip(kNoGpu)) {
    Generator init(5);
    nn::Linear lin(4, 3, false, init);
    lin.weight = lin.weight.to(Device::CUDA);
    lin.weight.set_requires_grad(true);
    nn::Adam adam(lin, {.lr = 1e-3});
    lin.weight.set_grad(Tensor::zeros(lin.weight.shape()));  // on the CPU
    CHECK_THROWS_WITH(adam.step(1e-3), doctest::Contains("Adam: parameter 'weight'"));
  }

  TEST_CASE("elementwise ops refuse inputs on different devices" * doctest::skip(kNoGpu)) {
    const Tensor cpu = Tensor::ones({2, 3, 4, 4});
    const Tensor gpu = cpu.to(Device::CUDA);
    const auto names_both = doctest::Contains("f32 (2, 3, 4, 4) cpu vs f32 (2, 3, 4, 4) cuda");
    CHECK_THROWS_WITH(ops::add(cpu, gpu), names_both);
    CHECK_THROWS_WITH(ops::sub(cpu, gpu), names_both);
    CHECK_THROWS_WITH(ops::mul(cpu, gpu), names_both);
    CHECK_THROWS_WITH(ops::l1_loss(cpu, gpu), names_both);
    Tensor dst = gpu.clone();
    CHECK_THROWS_WITH(ops::add_into(dst, cpu), doctest::Contains("add_into: inputs differ"));
    CHECK_THROWS_WITH(ops::add_channel(gpu, Tensor::ones({3})),
                      doctest::Contains("add_channel: inputs differ in dtype or device: f32 (2, 3, 4, 4) cuda vs f32 (3) cpu"));
    CHECK_THROWS_WITH(ops::mul_channel(gpu, Tensor::ones({3})), doctest::Contains("mul_channel: inputs differ"));
  }
}
