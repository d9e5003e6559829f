// The emulated CUDA device's own tests (built with -DLIEDNET_CUDA=EMULATE):
// each check is shown a tiny kernel with one planted defect, which it must
// report (one line, returned by the next synchronising call), and the same
// kernel without the defect, which must pass. Then the library's
// deterministic kernels are run under two block orders and must agree bit
// for bit.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "ops/cuda/launch.cuh"
#include "ops/conv2d.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "tensor/cuda.h"
#include "tensor/tensor.h"

namespace {

constexpr int kBlock = 64;

// A block sum in shared memory, with or without the barrier inside the tree.
__global__ void block_sum_kernel(float* out, const float* in, bool barrier_in_tree) {
  LIEDNET_SHARED(float, buf, kBlock);
  const int t = threadIdx.x;
  buf[t] = in[blockIdx.x * kBlock + t];
  __syncthreads();
  for (int half = kBlock / 2; half > 0; half /= 2) {
    if (t < half) buf[t] += buf[t + half];
    if (barrier_in_tree) __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = buf[0];
}

// Threads below `waiting` wait at a barrier the others never reach (divergent), or all do.
__global__ void divergent_kernel(float* out, int waiting) {
  if (static_cast<int>(threadIdx.x) < waiting) __syncthreads();
  out[threadIdx.x] = 1.0f;
}

__global__ void fill_kernel(float* out, int n, float v) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = v;
}

// Writes n + extra elements.
__global__ void fill_past_kernel(float* out, int n, int extra) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n + extra) out[i] = 1.0f;
}

__global__ void plus_one_kernel(float* out, const float* in, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = in[i] + 1.0f;
}

// Every block writes out[0] (the last block to run wins), or its own out[block].
__global__ void last_block_kernel(int* out, bool own_slot) {
  if (threadIdx.x == 0) out[own_slot ? blockIdx.x : 0] = static_cast<int>(blockIdx.x);
}

// The error the next synchronising call returns, and its message.
std::string sync_message() {
  const cudaError_t e = cudaDeviceSynchronize();
  return e == cudaSuccess ? std::string() : std::string(cudaGetErrorString(e));
}

template <typename T>
T* device_array(size_t n) {
  void* p = nullptr;
  REQUIRE(cudaMalloc(&p, n * sizeof(T)) == cudaSuccess);
  return static_cast<T*>(p);
}

template <typename T>
std::vector<T> to_host(const T* d, size_t n) {
  std::vector<T> h(n);
  REQUIRE(cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess);
  return h;
}

}  // namespace

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;  // the guard zones are poisoned: ASan reports any access there and ends the process
#else
constexpr bool kAsan = false;
#endif
// CUDA_VISIBLE_DEVICES= hides the emulated device (CI's sanitizer stage runs the
// CPU suites so): the cases that go through liednet's tensors then skip.
const bool kNoDevice = liednet::cuda_device_count() == 0;

TEST_SUITE("ops") {
  TEST_CASE("emulated CUDA racecheck: a block sum without its barrier is reported, with it the sum is right") {
    const int blocks = 3;
    std::vector<float> h(blocks * kBlock);
    for (size_t i = 0; i < h.size(); ++i) h[i] = static_cast<float>(i % 7);
    float* in = device_array<float>(h.size());
    float* out = device_array<float>(blocks);
    REQUIRE(cudaMemcpy(in, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess);

    LIEDNET_LAUNCH(block_sum_kernel, blocks, kBlock, 0, nullptr)(out, in, false);
    const std::string report = sync_message();
    CHECK(report.find("racecheck: kernel block_sum_kernel") != std::string::npos);
    CHECK(report.find("shared memory at") != std::string::npos);
    CHECK(report.find("with no __syncthreads between") != std::string::npos);
    CHECK(report.find('\n') == std::string::npos);  // one line

    LIEDNET_LAUNCH(block_sum_kernel, blocks, kBlock, 0, nullptr)(out, in, true);
    CHECK(sync_message() == "");
    const std::vector<float> sums = to_host(out, blocks);
    for (int b = 0; b < blocks; ++b) {
      float want = 0;
      for (int t = 0; t < kBlock; ++t) want += h[b * kBlock + t];
      CHECK(sums[b] == want);
    }
    cudaFree(in);
    cudaFree(out);
  }

  TEST_CASE("emulated CUDA synccheck: a barrier only some threads reach is an error, not a hang") {
    float* out = device_array<float>(kBlock);
    LIEDNET_LAUNCH(divergent_kernel, 1, kBlock, 0, nullptr)(out, kBlock / 2);
    const std::string report = sync_message();
    CHECK(report.find("synccheck: kernel divergent_kernel, block (0,0,0): divergent barrier") != std::string::npos);
    CHECK(report.find("has exited") != std::string::npos);

    LIEDNET_LAUNCH(divergent_kernel, 1, kBlock, 0, nullptr)(out, kBlock);
    CHECK(sync_message() == "");
    for (float v : to_host(out, kBlock)) CHECK(v == 1.0f);
    cudaFree(out);
  }

  TEST_CASE("emulated CUDA memcheck: a host pointer handed to a kernel names the kernel and the argument") {
    std::vector<float> host(kBlock);
    LIEDNET_LAUNCH(fill_kernel, 1, kBlock, 0, nullptr)(host.data(), kBlock, 2.0f);
    const std::string report = sync_message();
    CHECK(report.find("memcheck: kernel fill_kernel argument 0") != std::string::npos);
    CHECK(report.find("not in any live device allocation") != std::string::npos);
    for (float v : host) CHECK(v == 0.0f);  // the kernel did not run

    float* dev = device_array<float>(kBlock);
    LIEDNET_LAUNCH(fill_kernel, 1, kBlock, 0, nullptr)(dev, kBlock, 2.0f);
    CHECK(sync_message() == "");
    for (float v : to_host(dev, kBlock)) CHECK(v == 2.0f);
    cudaFree(dev);
  }

  // Under ASan the write into the poisoned guard zone ends the process with
  // ASan's report instead: the planted-defect case below, run by ctest.
  TEST_CASE("emulated CUDA memcheck: a write past the end of an allocation is reported" * doctest::skip(kAsan)) {
    const int n = 100;
    float* dev = device_array<float>(n);
    LIEDNET_LAUNCH(fill_past_kernel, 2, kBlock, 0, nullptr)(dev, n, 1);
    const std::string report = sync_message();
    CHECK(report.find("memcheck: kernel fill_past_kernel wrote past the end of the device allocation of 400 bytes") !=
          std::string::npos);
    CHECK(report.find("(byte 400)") != std::string::npos);

    LIEDNET_LAUNCH(fill_past_kernel, 2, kBlock, 0, nullptr)(dev, n, 0);
    CHECK(sync_message() == "");
    cudaFree(dev);
  }

  TEST_CASE("emulated CUDA memcheck: copies check their direction and bounds") {
    float* dev = device_array<float>(8);
    std::vector<float> host(8, 1.0f);
    CHECK(cudaMemcpy(host.data(), host.data(), 32, cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
    const auto message = [] { return std::string(cudaGetErrorString(cudaErrorInvalidValue)); };
    CHECK(message().find("is a host pointer where a device pointer is due") != std::string::npos);
    CHECK(cudaMemcpy(dev, dev, 32, cudaMemcpyDeviceToHost) == cudaErrorInvalidValue);
    CHECK(message().find("is device memory where a host pointer is due") != std::string::npos);
    CHECK(cudaMemcpy(dev, host.data(), 36, cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
    CHECK(message().find("run past the end") != std::string::npos);
    cudaGetLastError();
    CHECK(cudaMemcpy(dev, host.data(), 32, cudaMemcpyHostToDevice) == cudaSuccess);
    cudaFree(dev);
  }

  TEST_CASE("emulated CUDA initcheck: a kernel reading memory nobody wrote gets NaN, not a lucky zero") {
    const int n = 16;
    float* in = device_array<float>(n);
    float* out = device_array<float>(n);
    LIEDNET_LAUNCH(plus_one_kernel, 1, kBlock, 0, nullptr)(out, in, n);
    REQUIRE(sync_message() == "");
    for (float v : to_host(out, n)) CHECK(std::isnan(v));

    REQUIRE(cudaMemset(in, 0, n * sizeof(float)) == cudaSuccess);
    LIEDNET_LAUNCH(plus_one_kernel, 1, kBlock, 0, nullptr)(out, in, n);
    REQUIRE(sync_message() == "");
    for (float v : to_host(out, n)) CHECK(v == 1.0f);
    cudaFree(in);
    cudaFree(out);
  }

  TEST_CASE("emulated CUDA block order: a result that depends on it changes under shuffle, a fixed one does not") {
    const int blocks = 16;
    int* out = device_array<int>(blocks);
    auto run = [&](bool shuffle, uint64_t seed, bool own_slot) {
      liednet::emu::set_block_order(shuffle, seed);
      LIEDNET_LAUNCH(last_block_kernel, blocks, 32, 0, nullptr)(out, own_slot);
      REQUIRE(sync_message() == "");
      return to_host(out, blocks);
    };
    const std::vector<int> sequential = run(false, 0, false);
    CHECK(sequential[0] == blocks - 1);
    bool differs = false;
    for (uint64_t seed = 1; seed <= 4 && !differs; ++seed) differs = run(true, seed, false)[0] != sequential[0];
    CHECK(differs);

    const std::vector<int> fixed = run(false, 0, true);
    for (uint64_t seed = 1; seed <= 4; ++seed) CHECK(run(true, seed, true) == fixed);
    liednet::emu::set_block_order(false, 0);
    cudaFree(out);
  }

  TEST_CASE("emulated CUDA: launch configuration errors show at once through cudaGetLastError") {
    float* out = device_array<float>(4);
    cudaGetLastError();
    LIEDNET_LAUNCH(fill_kernel, 1, 2048, 0, nullptr)(out, 4, 1.0f);
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
    CHECK(cudaGetLastError() == cudaSuccess);
    cudaFree(out);
  }

  // Run by ctest in a sanitizer build (cuda_emu_asan_read, cuda_emu_asan_write):
  // a kernel reads or writes one element past its allocation, and ASan must
  // end the process with its report on that access.
  TEST_CASE("emulated CUDA under ASan: an access just past an allocation ends the run with ASan's report" *
            doctest::skip(!kAsan || !std::getenv("LIEDNET_EMU_PLANT"))) {
    const std::string plant = std::getenv("LIEDNET_EMU_PLANT");
    REQUIRE((plant == "read" || plant == "write"));
    const int n = 100;
    float* a = device_array<float>(n);
    float* b = device_array<float>(n + 1);
    REQUIRE(cudaMemset(a, 0, n * sizeof(float)) == cudaSuccess);
    if (plant == "read")
      LIEDNET_LAUNCH(plus_one_kernel, 2, kBlock, 0, nullptr)(b, a, n + 1);  // reads a[n]
    else
      LIEDNET_LAUNCH(fill_past_kernel, 2, kBlock, 0, nullptr)(a, n, 1);  // writes a[n]
    cudaDeviceSynchronize();
    FAIL("the planted " << plant << " past the end was not stopped by AddressSanitizer");
  }

  TEST_CASE("emulated CUDA: the library's reductions are bit-identical under any block order" *
            doctest::skip(kNoDevice)) {
    using namespace liednet;
    Generator gen(5);
    const Tensor x = Tensor::randn({2, 8, 40, 36}, gen);
    const Tensor w = Tensor::randn({8, 8, 3, 3}, gen);
    auto results = [&] {
      Tensor xc = x.to(Device::CUDA);
      Tensor wc = w.to(Device::CUDA);
      xc.set_requires_grad();
      wc.set_requires_grad();
      Tensor y = ops::conv2d(xc, wc, Tensor(), {.padding = 1});
      Tensor loss = ops::sum(ops::mul(y, y));
      loss.backward();
      return std::vector<std::vector<double>>{loss.to(Device::CPU).to_vector(),
                                              xc.grad().to(Device::CPU).to_vector(),
                                              wc.grad().to(Device::CPU).to_vector()};
    };
    emu::set_block_order(false, 0);
    const auto sequential = results();
    for (uint64_t seed : {3u, 11u}) {
      emu::set_block_order(true, seed);
      CHECK(results() == sequential);
    }
    emu::set_block_order(false, 0);
  }
}
