// The CUDA core: copies (small ones direct, large ones through the pinned
// staging buffer), the caching allocator, event timing, and the error a CUDA
// tensor gives on a machine that cannot hold one. GPU cases are skipped
// without a GPU; the last case runs exactly when there is none.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "tensor/cuda.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

using namespace liednet;

namespace {
const bool kNoGpu = cuda_device_count() == 0;

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.data<float>(), b.data<float>(), a.numel() * sizeof(float)) == 0;
}
}  // namespace

TEST_SUITE("tensor") {
  TEST_CASE("CUDA copies round-trip small and pinned-staged tensors bit for bit" * doctest::skip(kNoGpu)) {
    Generator gen(4);
    // 3x5x7 floats go directly; 2x3x256x256 (1.5 MiB) through the pinned buffer.
    for (const Shape& s : {Shape{3, 5, 7}, Shape{2, 3, 256, 256}}) {
      INFO(s.str());
      const Tensor x = Tensor::randn(s, gen);
      const Tensor d = x.to(Device::CUDA);
      CHECK(d.device() == Device::CUDA);
      CHECK(same_bits(d.to(Device::CPU), x));
      CHECK(same_bits(d.clone().to(Device::CPU), x));  // a device-to-device copy
    }
    CHECK(cuda_pinned_staging_bytes() >= size_t{2} * 3 * 256 * 256 * sizeof(float));
  }

  TEST_CASE("CUDA allocator: a repeated step takes nothing more from the driver" * doctest::skip(kNoGpu)) {
    const auto step = [] {
      std::vector<Tensor> live;
      for (int64_t n : {1000, 70000, 3000000, 1000, 70000}) live.push_back(Tensor::zeros({n}, DType::F32, Device::CUDA));
      live.erase(live.begin() + 1);
      live.push_back(Tensor::ones({70000}, DType::F32, Device::CUDA));
    };
    step();
    const CudaMemoryStats before = cuda_memory_stats();
    for (int i = 0; i < 3; ++i) step();
    const CudaMemoryStats after = cuda_memory_stats();
    CHECK(after.driver_allocations == before.driver_allocations);
    CHECK(after.in_use == before.in_use);
    cuda_reset_peak();
    CHECK(cuda_memory_stats().peak == after.in_use);
  }

  TEST_CASE("CudaTimer measures work queued on the stream" * doctest::skip(kNoGpu)) {
    CudaTimer timer;
    timer.start();
    Tensor x = Tensor::zeros({int64_t{1} << 24}, DType::F32, Device::CUDA);
    const double ms = timer.stop_ms();
    CHECK(ms >= 0.0);
    CHECK(ms < 10000.0);
  }

  TEST_CASE("without a GPU a CUDA tensor is a clear error, not a crash" * doctest::skip(!kNoGpu)) {
    const char* expected = cuda_built() ? "no GPU is available" : "this build has no CUDA backend";
    CHECK_THROWS_WITH(Tensor::zeros({2, 3}, DType::F32, Device::CUDA), doctest::Contains(expected));
    CHECK_THROWS_WITH(Tensor::ones({4}).to(Device::CUDA), doctest::Contains(expected));
  }
}
