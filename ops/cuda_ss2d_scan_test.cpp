// ops::ss2d_scan on CUDA against the CPU op, output and every gradient, and
// bit-identical gradients over two CUDA runs. Skipped on a machine without a
// GPU; the emulated device (-DLIEDNET_CUDA=EMULATE, docs/cuda.md) runs it on the CPU.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "op_harness.h"
#include "ops/ss2d_scan.h"
#include "scan_cases.h"
#include "tensor/cuda.h"

using namespace liednet;

namespace {

const bool kNoGpu = cuda_device_count() == 0;

using ScanShape = testing::SS2DShape;

// The six inputs in f32, in the network's ranges.
std::vector<Tensor> make_inputs(const ScanShape& s, uint64_t seed, double bias_shift = -1.0) {
  std::vector<Tensor> xs = testing::make_ss2d_inputs(s, seed, bias_shift);
  for (Tensor& t : xs) t = t.to(DType::F32);
  return xs;
}

// y and the six gradients, on the CPU, from a run on `device`.
std::vector<Tensor> run_on(Device device, const std::vector<Tensor>& xs, const Tensor& gy) {
  std::vector<Tensor> in;
  for (const Tensor& x : xs) in.push_back(x.to(device).set_requires_grad());
  Tensor y = ops::ss2d_scan(in[0], in[1], in[2], in[3], in[4], in[5]);
  y.backward(gy.to(device));
  std::vector<Tensor> r{y.detach().to(Device::CPU)};
  for (const Tensor& x : in) r.push_back(x.grad().to(Device::CPU));
  return r;
}

const ScanShape kShapes[] = {
    {1, 3, 5, 7, 1, 3},      // L = 35: a partial second segment
    {1, 2, 3, 4, 2, 5},      // L = 12, shorter than a segment
    {1, 8, 12, 11, 2, 16},   // several segments, N = 16
    {1, 8, 12, 11, 2, 4},    // N = 4 (runtime state count)
    {2, 4, 6, 9, 1, 16},     // batch 2
    {1, 48, 64, 64, 3, 16},  // like the network's first level
};

std::string name(const ScanShape& s) {
  return std::to_string(s.batch) + "x" + std::to_string(s.d) + "x" + std::to_string(s.H) + "x" + std::to_string(s.W) +
         " R=" + std::to_string(s.R) + " N=" + std::to_string(s.N);
}

}  // namespace

TEST_SUITE("ops") {
  TEST_CASE("CUDA ss2d_scan matches the CPU, output and every gradient" * doctest::skip(kNoGpu)) {
    for (const ScanShape& s : kShapes)
      for (double bias_shift : {-1.0, 23.0}) {  // softplus below and above its threshold
        INFO(name(s), " bias shift ", bias_shift);
        const auto xs = make_inputs(s, 3, bias_shift);
        Generator g(4);
        const Tensor gy = Tensor::randn(xs[0].shape(), g, DType::F32);
        const auto cpu = run_on(Device::CPU, xs, gy);
        const auto gpu = run_on(Device::CUDA, xs, gy);
        for (size_t i = 0; i < cpu.size(); ++i) {
          INFO("result ", i, " (0: y, then the gradients of x, x_proj_weight, dt_projs_weight, dt_projs_bias, "
               "A_logs, Ds)");
          const double err = testing::scaled_max_error(gpu[i], cpu[i]);
          MESSAGE(name(s), " result ", i, ": ", err);
          CHECK(err <= 1e-4);
        }
      }
  }

  TEST_CASE("CUDA ss2d_scan gradients are bit-identical run to run" * doctest::skip(kNoGpu)) {
    for (const ScanShape& s : kShapes) {
      INFO(name(s));
      const auto xs = make_inputs(s, 8);
      Generator g(6);
      const Tensor gy = Tensor::randn(xs[0].shape(), g, DType::F32);
      const auto a = run_on(Device::CUDA, xs, gy);
      const auto b = run_on(Device::CUDA, xs, gy);
      for (size_t i = 0; i < a.size(); ++i) CHECK(a[i].to_vector() == b[i].to_vector());
    }
  }

  TEST_CASE("CUDA ss2d_scan: the reference op stays CPU-only" * doctest::skip(kNoGpu)) {
    const auto xs = make_inputs({1, 2, 3, 4, 1, 3}, 1);
    std::vector<Tensor> in;
    for (const Tensor& x : xs) in.push_back(x.to(Device::CUDA));
    CHECK_THROWS(ops::ss2d_scan_reference(in[0], in[1], in[2], in[3], in[4], in[5]));
  }
}
