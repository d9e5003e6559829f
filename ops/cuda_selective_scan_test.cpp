// ops::selective_scan on CUDA against the CPU op, output and every gradient,
// and bit-identical results over two CUDA runs. Skipped on a machine without
// a GPU, except on the emulated device (-DLIEDNET_CUDA=EMULATE, docs/cuda.md);
// the op harness runs the small cases on CUDA too.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "op_harness.h"
#include "ops/selective_scan.h"
#include "scan_cases.h"
#include "tensor/cuda.h"

using namespace liednet;

namespace {

const bool kNoGpu = cuda_device_count() == 0;

using testing::ScanShape;

autograd::TensorFn scan_fn(bool softplus = true) {
  return [softplus](const std::vector<Tensor>& x) {
    return ops::selective_scan(x[0], x[1], x[2], x[3], x[4], x[5], x[6], {.delta_softplus = softplus});
  };
}

const ScanShape kShapes[] = {
    {2, 4, 7, 3, 2},       // shorter than a segment, two groups
    {1, 3, 257, 5, 1},     // a partial last segment, runtime state count
    {2, 6, 300, 16, 2},    // the N = 16 path, 10 segments
    {2, 64, 4096, 16, 1},  // mamba-like: 128 segments per sequence
    {1, 96, 1024, 16, 8},  // 12 channels per group
};

std::string name(const ScanShape& s) {
  return std::to_string(s.batch) + "x" + std::to_string(s.channels) + " L=" + std::to_string(s.length) +
         " N=" + std::to_string(s.state) + " G=" + std::to_string(s.groups);
}

}  // namespace

TEST_SUITE("ops") {
  TEST_CASE("CUDA selective_scan matches the CPU, output and every gradient" * doctest::skip(kNoGpu)) {
    for (const ScanShape& s : kShapes)
      for (double delta_shift : {0.0, 22.0}) {  // softplus below and above its threshold
        INFO(name(s), " delta shift ", delta_shift);
        const auto xs = testing::make_scan_inputs(s, 3, delta_shift);
        const auto cpu = testing::outputs_and_grads(scan_fn(), xs, DType::F32, 4);
        const auto gpu = testing::outputs_and_grads(scan_fn(), xs, DType::F32, 4, Device::CUDA);
        for (size_t i = 0; i < cpu.size(); ++i) {
          INFO("result ", i, " (0: y, then the gradients of u, delta, A, B, C, D, delta_bias)");
          const double err = testing::scaled_max_error(gpu[i], cpu[i]);
          MESSAGE(name(s), " result ", i, ": ", err);
          CHECK(err <= 1e-4);
        }
      }
  }

  TEST_CASE("CUDA selective_scan gradients are bit-identical run to run" * doctest::skip(kNoGpu)) {
    for (const ScanShape& s : kShapes) {
      INFO(name(s));
      const auto xs = testing::make_scan_inputs(s, 8);
      const auto a = testing::outputs_and_grads(scan_fn(), xs, DType::F32, 6, Device::CUDA);
      const auto b = testing::outputs_and_grads(scan_fn(), xs, DType::F32, 6, Device::CUDA);
      for (size_t i = 0; i < a.size(); ++i) CHECK(a[i].to_vector() == b[i].to_vector());
    }
  }

  TEST_CASE("CUDA selective_scan refuses inputs on different devices" * doctest::skip(kNoGpu)) {
    const auto xs = testing::make_scan_inputs({1, 2, 5, 3, 1}, 1);
    std::vector<Tensor> in;
    for (const Tensor& x : xs) in.push_back(x.to(DType::F32).to(Device::CUDA));
    const Tensor A_cpu = xs[2].to(DType::F32);
    CHECK_THROWS_WITH(ops::selective_scan(in[0], in[1], A_cpu, in[3], in[4], in[5], in[6]),
                      doctest::Contains("selective_scan: inputs differ in dtype or device"));
    CHECK_THROWS_WITH(ops::selective_scan_reference(in[0], in[1], in[2], in[3], in[4], in[5], in[6]),
                      doctest::Contains("selective_scan_reference: no kernel for f32 (1, 2, 5) cuda"));
  }
}
