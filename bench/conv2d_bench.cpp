// Times conv2d forward and backward on the shapes that dominate LIEDNet and
// VGG19 training. Not built by CMake:
//   g++ -std=c++20 -O3 -march=native -fopenmp -I. bench/conv2d_bench.cpp build/libliednet_lib.a -o build/conv2d_bench
//   OMP_NUM_THREADS=2 build/conv2d_bench [name filter] [band bound in elements]
// The torch numbers to compare with come from the same loop in Python:
//   torch.set_num_threads(2); x, w = torch.randn(...).requires_grad_(), torch.randn(...).requires_grad_()
//   y = F.conv2d(x, w, padding=p, groups=g)   # timed: forward
//   y.backward(torch.ones_like(y))            # timed: backward (ones_like outside the timer)
// minimum over 10 runs after 2 warm-up runs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "autograd/autograd.h"
#include "ops/conv2d.h"
#include "tensor/parallel.h"

using namespace liednet;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Minimum over the runs: the machine is shared, and the minimum is the least disturbed.
void bench(const char* name, const Shape& xs, const Shape& ws, const ops::Conv2dOptions& opt, int reps = 10) {
  Generator gen(1);
  Tensor x = Tensor::randn(xs, gen).set_requires_grad();
  Tensor w = Tensor::randn(ws, gen).set_requires_grad();
  double fwd = 1e30, bwd = 1e30;
  for (int r = -2; r < reps; ++r) {  // two warm-up runs
    auto t0 = std::chrono::steady_clock::now();
    Tensor y = ops::conv2d(x, w, Tensor(), opt);
    const double f = seconds_since(t0);
    Tensor g = Tensor::ones(y.shape());
    t0 = std::chrono::steady_clock::now();
    y.backward(g);
    const double b = seconds_since(t0);
    if (r >= 0) fwd = std::min(fwd, f), bwd = std::min(bwd, b);
  }
  std::printf("ours  %-30s fwd %7.2f ms, bwd %7.2f ms (min of %d)\n", name, fwd * 1e3, bwd * 1e3, reps);
}

}  // namespace

// An argument runs only the benchmarks whose name contains it.
int main(int argc, char** argv) {
  init_threads_from_env();
  const std::string only = argc > 1 ? argv[1] : "";
  if (argc > 2) ops::detail::set_conv2d_tile_elements(std::stoll(argv[2]));  // band bound, in elements
  auto bench_if = [&](const char* name, const Shape& xs, const Shape& ws, const ops::Conv2dOptions& opt) {
    if (std::string(name).find(only) != std::string::npos) bench(name, xs, ws, opt);
  };
  std::printf("threads: %d\n", num_threads());
  bench_if("dense 3x3 1x64x128x128", {1, 64, 128, 128}, {64, 64, 3, 3}, {.padding = 1});
  bench_if("depthwise 3x3 1x128x128x128", {1, 128, 128, 128}, {128, 1, 3, 3}, {.padding = 1, .groups = 128});
  bench_if("depthwise 5x5 1x128x128x128", {1, 128, 128, 128}, {128, 1, 5, 5}, {.padding = 2, .groups = 128});
  bench_if("1x1 1x64x128x128 ->128", {1, 64, 128, 128}, {128, 64, 1, 1}, {});
  bench_if("patch embed 2x2 s2 8x3x256x256 ->32", {8, 3, 256, 256}, {32, 3, 2, 2}, {.stride = 2});
  bench_if("depthwise 3x3 8x64x128x128", {8, 64, 128, 128}, {64, 1, 3, 3}, {.padding = 1, .groups = 64});
  bench_if("VGG conv1_2 3x3 2x64x224x224", {2, 64, 224, 224}, {64, 64, 3, 3}, {.padding = 1});
  return 0;
}
