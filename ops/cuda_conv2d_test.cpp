// conv2d and linear_channels on CUDA against the CPU at the network's sizes
// (the op harness compares every conv case too, but on small shapes): forward
// and every gradient, several bands per sample, run-to-run bit-identity, and
// TF32. Every case is skipped on a machine without a GPU.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "autograd/autograd.h"
#include "op_harness.h"
#include "ops/conv2d.h"
#include "tensor/cuda.h"

using namespace liednet;
using ops::Conv2dOptions;

namespace {

struct GpuCase {
  std::string name;
  Shape x, w;  // w is (out, in) for linear_channels
  bool bias;
  Conv2dOptions opt = {};
  bool linear = false;
};

Tensor forward(const GpuCase& c, const std::vector<Tensor>& in) {
  const Tensor b = in.size() > 2 ? in[2] : Tensor();
  return c.linear ? ops::linear_channels(in[0], in[1], b) : ops::conv2d(in[0], in[1], b, c.opt);
}

// Inputs (x, weight[, bias]) and an upstream gradient, f32 on the CPU. The
// weight is scaled like PyTorch's default init so outputs stay O(1) and the
// tolerances mean the same thing at every size.
struct Problem {
  std::vector<Tensor> in;
  Tensor gout;
};

Problem make_problem(const GpuCase& c, uint64_t seed) {
  Generator gen(seed);
  Problem p;
  p.in.push_back(Tensor::randn(c.x, gen));
  const double bound = 1.0 / std::sqrt(static_cast<double>(c.w.numel() / c.w[0]));
  p.in.push_back(Tensor::uniform(c.w, -bound, bound, gen));
  if (c.bias) p.in.push_back(Tensor::uniform({c.w[0]}, -bound, bound, gen));
  Shape out_shape;
  {
    autograd::NoGradGuard no_grad;
    out_shape = forward(c, p.in).shape();
  }
  p.gout = Tensor::randn(out_shape, gen);
  return p;
}

// On the emulated device (-DLIEDNET_CUDA=EMULATE, docs/cuda.md) the cases of
// more than 20M multiply-adds are left out: the same code paths at network
// sizes take minutes when every GPU thread is a CPU call.
bool runs_here(const GpuCase& c) {
  if (!cuda_emulated()) return true;
  const double pixels = static_cast<double>(c.x[0] * c.x[2] * c.x[3]) / (c.opt.stride * c.opt.stride);
  return pixels * static_cast<double>(c.w.numel()) <= 20e6;
}

const char* const kWhat[] = {"output", "x gradient", "weight gradient", "bias gradient"};

// The output and every input's gradient, computed on `device`, back on the CPU.
std::vector<Tensor> run_on(const GpuCase& c, const Problem& p, Device device) {
  std::vector<Tensor> in;
  for (const Tensor& t : p.in) {
    Tensor u = t.to(device);
    u.set_requires_grad();
    in.push_back(u);
  }
  Tensor y = forward(c, in);
  y.backward(p.gout.to(device));
  std::vector<Tensor> out{y.detach().to(Device::CPU)};
  for (const Tensor& u : in) out.push_back(u.grad().to(Device::CPU));
  return out;
}

// Worst scaled error (testing::scaled_max_error) over the output and the gradients.
void check_close(const GpuCase& c, const std::vector<Tensor>& got, const std::vector<Tensor>& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = testing::scaled_max_error(got[i], want[i]);
    INFO(c.name, ": ", kWhat[i], " differs by ", err);
    CHECK(err <= tol);
  }
}

bool identical(const Tensor& a, const Tensor& b) { return a.shape() == b.shape() && a.to_vector() == b.to_vector(); }

// Sets the CUDA column-buffer bound for one scope.
class CudaBandBound {
 public:
  explicit CudaBandBound(int64_t elements) : previous_(ops::detail::set_conv2d_cuda_tile_elements(elements)) {}
  ~CudaBandBound() { ops::detail::set_conv2d_cuda_tile_elements(previous_); }
  CudaBandBound(const CudaBandBound&) = delete;
  CudaBandBound& operator=(const CudaBandBound&) = delete;

 private:
  int64_t previous_;
};

// Turns TF32 on or off for one scope.
class Tf32 {
 public:
  explicit Tf32(bool on) : previous_(ops::set_cuda_tf32(on)) {}
  ~Tf32() { ops::set_cuda_tf32(previous_); }
  Tf32(const Tf32&) = delete;
  Tf32& operator=(const Tf32&) = delete;

 private:
  bool previous_;
};

// LIEDNet and VGG19 sizes, plus odd ones for every path: dense im2col, strided,
// grouped, channel multiplier, depthwise (direct kernels), pointwise (GEMM on the plane).
const std::vector<GpuCase> kCases = {
    {"3x3 pad 1 64->64 on (2, 64, 64, 64)", {2, 64, 64, 64}, {64, 64, 3, 3}, true, {.padding = 1}},
    {"depthwise 5x5 pad 2 on (2, 170, 32, 32)", {2, 170, 32, 32}, {170, 1, 5, 5}, true, {.padding = 2, .groups = 170}},
    {"2x2 stride 2 patch embedding 3->48 on (2, 3, 64, 64)", {2, 3, 64, 64}, {48, 3, 2, 2}, true, {.stride = 2}},
    {"1x1 64->128 on (2, 64, 32, 32)", {2, 64, 32, 32}, {128, 64, 1, 1}, true},
    {"linear_channels 96->192 on (2, 96, 24, 40)", {2, 96, 24, 40}, {192, 96}, true, {}, true},
    {"linear_channels 48->24 no bias on (3, 48, 17, 13)", {3, 48, 17, 13}, {24, 48}, false, {}, true},
    {"VGG 3x3 pad 1 128->128 on (1, 128, 56, 56)", {1, 128, 56, 56}, {128, 128, 3, 3}, true, {.padding = 1}},
    {"VGG 3x3 pad 1 3->64 on (2, 3, 48, 48)", {2, 3, 48, 48}, {64, 3, 3, 3}, true, {.padding = 1}},
    {"3x3 stride 2 pad 1 32->64 no bias on (2, 32, 33, 31)", {2, 32, 33, 31}, {64, 32, 3, 3}, false,
     {.stride = 2, .padding = 1}},
    {"5x5 pad 2 16->24 on (1, 16, 40, 27)", {1, 16, 40, 27}, {24, 16, 5, 5}, true, {.padding = 2}},
    {"3x3 pad 0 8->16 on (2, 8, 19, 23)", {2, 8, 19, 23}, {16, 8, 3, 3}, true},
    {"groups 4 3x3 pad 1 64->64 on (2, 64, 32, 32)", {2, 64, 32, 32}, {64, 16, 3, 3}, true, {.padding = 1, .groups = 4}},
    {"channel multiplier 2 3x3 pad 1 on (2, 24, 21, 18)", {2, 24, 21, 18}, {48, 1, 3, 3}, true,
     {.padding = 1, .groups = 24}},
    {"depthwise 3x3 pad 1 on (2, 96, 64, 64)", {2, 96, 64, 64}, {96, 1, 3, 3}, true, {.padding = 1, .groups = 96}},
    {"depthwise 3x3 stride 2 pad 1 no bias on (2, 48, 31, 33)", {2, 48, 31, 33}, {48, 1, 3, 3}, false,
     {.stride = 2, .padding = 1, .groups = 48}},
    {"depthwise 3x5 pad 2 on (1, 20, 15, 26)", {1, 20, 15, 26}, {20, 1, 3, 5}, true, {.padding = 2, .groups = 20}},
    {"1x1 groups 2 64->96 on (2, 64, 20, 20)", {2, 64, 20, 20}, {96, 32, 1, 1}, true, {.groups = 2}},
    {"1x1 stride 2 32->16 on (2, 32, 25, 18)", {2, 32, 25, 18}, {16, 32, 1, 1}, true, {.stride = 2}},
    {"5x5 pad 2 on a 3x2 input", {2, 6, 3, 2}, {5, 6, 5, 5}, true, {.padding = 2}},
};

constexpr double kTol = 1e-4;

}  // namespace

TEST_SUITE("ops") {
  TEST_CASE("cuda conv2d matches the CPU at network sizes" * doctest::skip(liednet::cuda_device_count() == 0)) {
    uint64_t seed = 100;
    for (const GpuCase& c : kCases) {
      const uint64_t case_seed = seed++;
      if (!runs_here(c)) continue;
      const Problem p = make_problem(c, case_seed);
      check_close(c, run_on(c, p, Device::CUDA), run_on(c, p, Device::CPU), kTol);
    }
  }

  TEST_CASE("cuda conv2d over several bands per sample matches the CPU" *
            doctest::skip(liednet::cuda_device_count() == 0)) {
    // Bound 1: one output row per band, so im2col, the GEMMs and col2im all
    // work on bands, and col2im's bands overlap in input rows (kernel > stride).
    // Then a bound that leaves a short last band.
    const std::vector<GpuCase> cases = {
        {"3x3 pad 1 16->32 on (2, 16, 23, 19)", {2, 16, 23, 19}, {32, 16, 3, 3}, true, {.padding = 1}},
        {"3x3 stride 2 pad 1 8->8 on (2, 8, 21, 17)", {2, 8, 21, 17}, {8, 8, 3, 3}, true, {.stride = 2, .padding = 1}},
        {"5x5 pad 2 groups 2 8->6 on (1, 8, 18, 15)", {1, 8, 18, 15}, {6, 4, 5, 5}, false, {.padding = 2, .groups = 2}},
        {"2x2 stride 2 3->16 on (2, 3, 22, 30)", {2, 3, 22, 30}, {16, 3, 2, 2}, true, {.stride = 2}},
    };
    for (int64_t bound : {int64_t{1}, int64_t{5000}}) {
      CudaBandBound b(bound);
      uint64_t seed = 200;
      for (const GpuCase& c : cases) {
        INFO("band bound ", bound);
        const Problem p = make_problem(c, seed++);
        check_close(c, run_on(c, p, Device::CUDA), run_on(c, p, Device::CPU), kTol);
      }
    }
  }

  TEST_CASE("cuda conv2d is bit-identical from run to run" * doctest::skip(liednet::cuda_device_count() == 0)) {
    uint64_t seed = 300;
    for (const GpuCase& c : kCases) {
      const uint64_t case_seed = seed++;
      if (!runs_here(c)) continue;
      const Problem p = make_problem(c, case_seed);
      const std::vector<Tensor> first = run_on(c, p, Device::CUDA);
      const std::vector<Tensor> second = run_on(c, p, Device::CUDA);
      for (size_t i = 0; i < first.size(); ++i) {
        INFO(c.name, ": ", kWhat[i]);
        CHECK(identical(first[i], second[i]));
      }
    }
  }

  TEST_CASE("cuda conv2d with TF32 differs from f32 by less than 1e-2" *
            doctest::skip(liednet::cuda_device_count() == 0)) {
    REQUIRE_FALSE(ops::set_cuda_tf32(false));  // off by default
    // GEMM paths only: dense, strided, pointwise, grouped. cuBLAS may keep
    // small GEMMs off the tensor cores, so only the two large dense cases must
    // show a difference. The emulated cuBLAS rounds every GEMM's factors to
    // TF32, so there every case run must differ.
    const std::vector<std::pair<size_t, bool>> gemm_cases = {{0, true},  {2, false}, {3, false},
                                                             {4, false}, {6, true},  {11, false}};
    uint64_t seed = 400;
    for (const auto& [k, must_differ] : gemm_cases) {
      const GpuCase& c = kCases[k];
      const uint64_t case_seed = seed++;
      if (!runs_here(c)) continue;
      const Problem p = make_problem(c, case_seed);
      const std::vector<Tensor> exact = run_on(c, p, Device::CUDA);
      std::vector<Tensor> fast;
      {
        Tf32 on(true);
        fast = run_on(c, p, Device::CUDA);
      }
      double worst = 0;
      for (size_t i = 0; i < exact.size(); ++i) worst = std::max(worst, testing::scaled_max_error(fast[i], exact[i]));
      INFO(c.name, ": TF32 differs from f32 by ", worst);
      if (must_differ || cuda_emulated()) CHECK(worst > 0);
      CHECK(worst <= 1e-2);
    }
    // The switch is undone, and f32 results are what they were.
    CHECK_FALSE(ops::set_cuda_tf32(false));
    const GpuCase& c = kCases[cuda_emulated() ? 2 : 0];
    const Problem p = make_problem(c, 400);
    const std::vector<Tensor> again = run_on(c, p, Device::CUDA);
    const std::vector<Tensor> exact = run_on(c, p, Device::CUDA);
    for (size_t i = 0; i < exact.size(); ++i) CHECK(identical(again[i], exact[i]));
  }

  TEST_CASE("cuda conv2d rejects inputs on different devices" * doctest::skip(liednet::cuda_device_count() == 0)) {
    Generator gen(7);
    const Tensor x = Tensor::randn({1, 4, 8, 8}, gen);
    const Tensor w = Tensor::randn({4, 4, 3, 3}, gen);
    const Tensor b = Tensor::randn({4}, gen);
    CHECK_THROWS_WITH(ops::conv2d(x.to(Device::CUDA), w, b, {.padding = 1}),
                      doctest::Contains("conv2d: inputs are on different devices"));
    CHECK_THROWS_WITH(ops::conv2d(x.to(Device::CUDA), w.to(Device::CUDA), b, {.padding = 1}),
                      doctest::Contains("bias f32 (4) cpu"));
    const Tensor lw = Tensor::randn({6, 4}, gen);
    CHECK_THROWS_WITH(ops::linear_channels(x, lw.to(Device::CUDA)),
                      doctest::Contains("linear_channels: inputs are on different devices"));
  }
}
