// The two CUDA scans on the emulated device (-DLIEDNET_CUDA=EMULATE) against
// the CPU op in f64, and the comparison's power shown by fault injection: with
// one phase kernel's launches dropped (emu::skip_launches), the comparison
// must fail. (These replace the per-scan host emulations of the phase
// functions: the emulated device runs the real kernels, launches included.)
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "op_harness.h"
#include "ops/cuda/emu/device.h"
#include "ops/selective_scan.h"
#include "ops/ss2d_scan.h"
#include "scan_cases.h"
#include "tensor/cuda.h"

using namespace liednet;

namespace {

using Results = std::vector<std::vector<double>>;

Results as_vectors(const std::vector<Tensor>& ts) {
  Results r;
  for (const Tensor& t : ts) r.push_back(t.defined() ? t.to(DType::F64).to_vector() : std::vector<double>{});
  return r;
}

autograd::TensorFn selective_fn() {
  return [](const std::vector<Tensor>& x) { return ops::selective_scan(x[0], x[1], x[2], x[3], x[4], x[5], x[6]); };
}

autograd::TensorFn ss2d_fn() {
  return [](const std::vector<Tensor>& x) { return ops::ss2d_scan(x[0], x[1], x[2], x[3], x[4], x[5]); };
}

// The f32 CUDA run with launches of `skipped` dropped ("" none), against the CPU in f64.
struct Comparison {
  Results cuda, cpu;
  double error(int i) const {
    const Shape s{static_cast<int64_t>(cpu[i].size())};
    return testing::scaled_max_error(Tensor::from_vector(s, cuda[i], DType::F64),
                                     Tensor::from_vector(s, cpu[i], DType::F64));
  }
};

Comparison compare(const autograd::TensorFn& fn, const std::vector<Tensor>& xs, const std::string& skipped) {
  Comparison c;
  c.cpu = as_vectors(testing::outputs_and_grads(fn, xs, DType::F64, 9));
  emu::skip_launches(skipped);
  try {
    c.cuda = as_vectors(testing::outputs_and_grads(fn, xs, DType::F32, 9, Device::CUDA));
  } catch (...) {
    emu::skip_launches("");
    throw;
  }
  emu::skip_launches("");
  return c;
}

}  // namespace

TEST_SUITE("ops") {
  TEST_CASE("emulated CUDA selective_scan: the comparison with the CPU catches a dropped phase" *
            doctest::skip(liednet::cuda_device_count() == 0)) {
    const auto xs = testing::make_scan_inputs({2, 6, 100, 16, 2}, 3);
    const Comparison good = compare(selective_fn(), xs, "");
    for (size_t i = 0; i < good.cpu.size(); ++i)
      if (!good.cpu[i].empty()) CHECK(good.error(static_cast<int>(i)) <= 1e-5);
    // Without the forward carry every segment starts from an unwritten state: y is wrong.
    CHECK_FALSE(compare(selective_fn(), xs, "FwdCarry").error(0) <= 1e-2);
    // Without the backward carry y is right, the gradients miss the later segments.
    const Comparison no_bwd = compare(selective_fn(), xs, "BwdCarry");
    CHECK(no_bwd.cuda[0] == good.cuda[0]);
    CHECK_FALSE(no_bwd.error(1) <= 1e-2);  // du
    // Without BwdBC, dB and dC are never written.
    const Comparison no_bc = compare(selective_fn(), xs, "BwdBC");
    CHECK_FALSE(no_bc.error(4) <= 1e-2);
    CHECK_FALSE(no_bc.error(5) <= 1e-2);
  }

  TEST_CASE("emulated CUDA ss2d_scan: the comparison with the CPU catches a dropped phase" *
            doctest::skip(liednet::cuda_device_count() == 0)) {
    const auto xs = testing::make_ss2d_inputs({1, 8, 12, 11, 2, 16}, 5);
    const Comparison good = compare(ss2d_fn(), xs, "");
    for (size_t i = 0; i < good.cpu.size(); ++i)
      if (!good.cpu[i].empty()) CHECK(good.error(static_cast<int>(i)) <= 1e-5);
    CHECK_FALSE(compare(ss2d_fn(), xs, "FwdCarry").error(0) <= 1e-2);
    const Comparison no_bwd = compare(ss2d_fn(), xs, "BwdCarry");
    CHECK(no_bwd.cuda[0] == good.cuda[0]);
    bool some_gradient_wrong = false;
    for (size_t i = 1; i < no_bwd.cpu.size(); ++i) some_gradient_wrong |= !(no_bwd.error(static_cast<int>(i)) <= 1e-2);
    CHECK(some_gradient_wrong);
  }
}
