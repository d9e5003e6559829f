// The harness must catch a wrong gradient: an op with a deliberately wrong
// backward fails it, and the same op with the right backward passes. Its CUDA
// pass must tell a case without a CUDA kernel ("not supported") from one whose
// CUDA result is wrong or throws ("failed").
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "op_harness.h"
#include "ops/elementwise.h"
#include "tensor/cuda.h"

using namespace liednet;

namespace {
const bool kNoGpu = cuda_device_count() == 0;

// y = x^2 with backward factor `k` (2 is right). It reads its tensors on the
// host, so its cases say it has no CUDA kernel (.cuda = false).
Tensor square_with_backward(const Tensor& x, double k) {
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  LIEDNET_DISPATCH(x.dtype(), T, {
    const T* p = x.data<T>();
    T* q = y.data<T>();
    for (int64_t i = 0; i < x.numel(); ++i) q[i] = p[i] * p[i];
  });
  if (autograd::needs_grad({&x})) {
    Tensor saved = x.detach();
    autograd::record(y, "square", {x}, [saved, k](const Tensor& g, std::vector<Tensor>& gi) {
      LIEDNET_DISPATCH(g.dtype(), T, {
        const T* gp = g.data<T>();
        const T* xp = saved.data<T>();
        T* d = gi[0].data<T>();
        for (int64_t i = 0; i < g.numel(); ++i) d[i] += static_cast<T>(k) * xp[i] * gp[i];
      });
    });
  }
  return y;
}

// The wrong gradient only in f32: the f32-vs-f64 gradient check must catch it.
Tensor square_wrong_in_f32(const Tensor& x) {
  return square_with_backward(x, x.dtype() == DType::F32 ? 2.1 : 2.0);
}

// What the CUDA pass of a case that has no GPU to run on reports.
testing::CudaCheck without_cuda_run() {
  return cuda_device_count() > 0 ? testing::CudaCheck::not_supported : testing::CudaCheck::skipped;
}
}  // namespace

TEST_SUITE("harness") {
  TEST_CASE("the right backward passes") {
    testing::OpReport r = testing::run_op_case(
        {.name = "square", .shapes = {{1, 3, 5, 7}}, .fn = [](auto& x) { return square_with_backward(x[0], 2.0); },
         .cuda = false});
    CHECK(r.ok());
    CHECK(r.gradcheck.elements_checked == 105);
  }

  TEST_CASE("a wrong backward fails the gradient check") {
    testing::OpReport r = testing::run_op_case(
        {.name = "square", .shapes = {{1, 3, 5, 7}}, .fn = [](auto& x) { return square_with_backward(x[0], 1.9); },
         .cuda = false});
    CHECK(!r.gradcheck.ok);
    CHECK(!r.ok());
    CHECK(r.gradcheck.first_failure.find("input 0") != std::string::npos);
  }

  TEST_CASE("a gradient wrong by one part in a million fails too") {
    testing::OpReport r = testing::run_op_case({.name = "square",
                                                .shapes = {{2, 3}},
                                                .fn = [](auto& x) { return square_with_backward(x[0], 2.0 * (1 + 1e-4)); },
                                                .cuda = false});
    CHECK(!r.gradcheck.ok);
  }

  TEST_CASE("a backward wrong only in f32 fails the f32 check") {
    testing::OpReport r = testing::run_op_case(
        {.name = "square", .shapes = {{2, 3}}, .fn = [](auto& x) { return square_wrong_in_f32(x[0]); }, .cuda = false});
    CHECK(r.gradcheck.ok);
    CHECK(!r.grad_f32_ok);
  }

  TEST_CASE("a forward that differs between f32 and f64 fails") {
    auto bad = [](const std::vector<Tensor>& x) {
      return x[0].dtype() == DType::F32 ? ops::scale(x[0], 1.001) : ops::scale(x[0], 1.0);
    };
    testing::OpReport r = testing::run_op_case({"scale", {{2, 3}}, bad});
    CHECK(!r.forward_ok);
  }

  TEST_CASE("a missing gradient for one input is caught") {
    // add whose backward forgets the second input.
    auto forgetful = [](const std::vector<Tensor>& x) {
      Tensor y = ops::add(x[0].detach(), x[1].detach());
      if (autograd::needs_grad(x))
        autograd::record(y, "add_forgetful", x, [](const Tensor& g, std::vector<Tensor>& gi) {
          ops::add_into(gi[0], g);
        });
      return y;
    };
    testing::OpReport r = testing::run_op_case({"add_forgetful", {{2, 3}, {2, 3}}, forgetful});
    CHECK(!r.gradcheck.ok);
    CHECK(r.gradcheck.first_failure.find("input 1") != std::string::npos);
  }

  TEST_CASE("a case without a CUDA kernel is reported not supported, and never run on the GPU") {
    // square_with_backward would read device memory on the host: were it run
    // there, this test would crash, not pass.
    testing::OpReport r = testing::run_op_case(
        {.name = "square", .shapes = {{2, 3}}, .fn = [](auto& x) { return square_with_backward(x[0], 2.0); },
         .cuda = false});
    CHECK(r.cuda == without_cuda_run());
    CHECK(r.ok());  // not supported is not a failure
    CHECK(r.summary.find("FAILED") == std::string::npos);
    if (!kNoGpu) CHECK(r.summary.find("cuda: not supported") != std::string::npos);
  }

  TEST_CASE("an op with a CUDA kernel that matches the CPU passes the CUDA check" * doctest::skip(kNoGpu)) {
    testing::OpReport r = testing::run_op_case({"scale", {{2, 3, 4}}, [](auto& x) { return ops::scale(x[0], -0.37); }});
    CHECK(r.cuda == testing::CudaCheck::passed);
    CHECK(r.ok());
    CHECK(r.summary.find("cuda vs cpu") != std::string::npos);
  }

  TEST_CASE("a CUDA result that differs from the CPU fails the CUDA check alone" * doctest::skip(kNoGpu)) {
    auto off_on_gpu = [](const std::vector<Tensor>& x) {
      return ops::scale(x[0], x[0].device() == Device::CUDA ? 1.001 : 1.0);
    };
    testing::OpReport r = testing::run_op_case({"scale off on the GPU", {{2, 3}}, off_on_gpu});
    CHECK(r.forward_ok);
    CHECK(r.gradcheck.ok);
    CHECK(r.cuda == testing::CudaCheck::failed);
    CHECK(r.cuda_failure.empty());
    CHECK(!r.ok());
  }

  TEST_CASE("an op that throws on the GPU is a CUDA failure that names the error" * doctest::skip(kNoGpu)) {
    auto cpu_only = [](const std::vector<Tensor>& x) {
      LIEDNET_CHECK(x[0].device() == Device::CPU, "cpu_only: no kernel for ", x[0].str());
      return ops::scale(x[0], 2.0);
    };
    testing::OpReport r = testing::run_op_case({"cpu_only", {{2, 3}}, cpu_only});
    CHECK(r.forward_ok);
    CHECK(r.cuda == testing::CudaCheck::failed);
    CHECK(r.cuda_failure.find("cpu_only: no kernel for f32 (2, 3) cuda") != std::string::npos);
    CHECK(r.summary.find("cuda threw: cpu_only") != std::string::npos);
  }

  TEST_CASE("every test that needs a GPU is in a cuda_*_test.cpp file, where scripts/gpu_check.sh finds it") {
    // gpu_check.sh selects the GPU test cases by file (doctest's --source-file=*/cuda_*) plus the op
    // harness; a GPU test anywhere else would never run on the GPU machine.
    namespace fs = std::filesystem;
    std::vector<std::string> strays;
    int cuda_files = 0;
    for (const char* dir : {"tensor", "autograd", "ops", "nn", "liednet", "data", "train", "cli", "tests"})
      for (const auto& e : fs::directory_iterator(fs::path(LIEDNET_SOURCE_DIR) / dir)) {
        const std::string name = e.path().filename().string();
        if (!name.ends_with("_test.cpp")) continue;
        if (name.starts_with("cuda_")) {
          ++cuda_files;
          continue;
        }
        if (name == "harness_test.cpp") continue;  // the harness's own CUDA self-tests (run by gpu_check.sh too)
        std::ifstream in(e.path());
        std::stringstream s;
        s << in.rdbuf();
        if (s.str().find("Device::CUDA") != std::string::npos || s.str().find("cuda_device_count") != std::string::npos)
          strays.push_back(std::string(dir) + "/" + name);
      }
    CHECK(cuda_files >= 8);
    CHECK_MESSAGE(strays.empty(), "tests that use the GPU outside a cuda_*_test.cpp file: ", strays.size(),
                  strays.empty() ? "" : " (first: " + strays.front() + ")");
  }
}

