// Times conv2d forward and backward on every dense convolution of a LIEDNet
// training step at 1x3x256x256 (the network's own convolutions and 1x1
// projections, and VGG19's up to conv4_4) and on the depthwise shapes, and
// prints each one's GFLOP/s as a fraction of this machine's FP32 peak,
// measured in the same run by an FMA loop on as many threads
// (bench::fp32_peak_gflops).
//   usage: bench_conv2d [name filter] [--batch B] [--reps R]
// A backward counts only the gradients a training step asks for: VGG19 is
// frozen (dx only), the image entering patch_embed needs none (dw only).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "bench_util.h"
#include "ops/conv2d.h"
#include "tensor/parallel.h"

using namespace liednet;

namespace {

// One thread: CPU time, which leaves out the time other processes held the
// core; several: the wall clock.
double (*g_clock)() = bench::now_ms;

struct Case {
  std::string name;
  int64_t c_in, h, w, c_out, k, stride, pad, groups;
  bool dx = true, dw = true;  // which gradients the backward computes
};

struct Timing {
  double fwd = 1e30, bwd = 1e30;  // seconds, minimum over the runs
};

// Minimum over the runs: the machine is shared, and the minimum is the least disturbed.
Timing time_case(const Case& c, int64_t batch, int reps) {
  const auto seconds_since = [](double t0) { return (g_clock() - t0) / 1e3; };
  Generator gen(1);
  Tensor x = Tensor::randn({batch, c.c_in, c.h, c.w}, gen).set_requires_grad(c.dx);
  Tensor w = Tensor::randn({c.c_out, c.c_in / c.groups, c.k, c.k}, gen).set_requires_grad(c.dw);
  const ops::Conv2dOptions opt{.stride = c.stride, .padding = c.pad, .groups = c.groups};
  Timing t;
  for (int r = -2; r < reps; ++r) {  // two warm-up runs
    double t0 = g_clock();
    Tensor y = ops::conv2d(x, w, Tensor(), opt);
    const double f = seconds_since(t0);
    Tensor g = Tensor::ones(y.shape());
    t0 = g_clock();
    if (c.dx || c.dw) y.backward(g);
    const double b = seconds_since(t0);
    x.zero_grad();
    w.zero_grad();
    if (r >= 0) t.fwd = std::min(t.fwd, f), t.bwd = std::min(t.bwd, b);
  }
  return t;
}

// Block-level 1x1 convolutions at width C on an HxW map (DGDFFN hidden h = int(2.66 C)).
void add_block(std::vector<Case>& cases, const std::string& level, int64_t C, int64_t hw) {
  const int64_t h = static_cast<int64_t>(static_cast<double>(C) * 2.66);
  auto pw = [&](const char* what, int64_t in, int64_t out) {
    cases.push_back({level + " " + what, in, hw, hw, out, 1, 1, 0, 1});
  };
  pw("in_proj", C, 4 * C);
  pw("out_proj", 2 * C, C);
  pw("fusion", 2 * C, C);
  pw("project_in1", C, 2 * h);
  pw("project_in2", C, h);
  pw("ffn.fusion", 2 * h, h);
  pw("project_out", h, C);
}

}  // namespace

int main(int argc, char** argv) {
  init_threads_from_env();
  std::string only;
  int64_t batch = 1;
  int reps = 5;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--batch") && i + 1 < argc) batch = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
    else only = argv[i];
  }
  const int64_t S = 256;  // input side
  std::vector<Case> dense;
  dense.push_back({"patch_embed 2x2 s2", 3, S, S, 32, 2, 2, 0, 1, false, true});
  add_block(dense, "L1", 32, S / 2);
  dense.push_back({"down1_2 3x3", 32, S / 2, S / 2, 16, 3, 1, 1, 1});
  add_block(dense, "L2", 64, S / 4);
  dense.push_back({"down2_3 3x3", 64, S / 4, S / 4, 32, 3, 1, 1, 1});
  add_block(dense, "L3", 128, S / 8);
  dense.push_back({"side_out 3x3", 128, S / 8, S / 8, 3, 3, 1, 1, 1});
  dense.push_back({"up3_2 3x3", 128, S / 8, S / 8, 256, 3, 1, 1, 1});
  dense.push_back({"reduce_chan 1x1", 128, S / 4, S / 4, 64, 1, 1, 0, 1});
  dense.push_back({"up2_1 3x3", 64, S / 4, S / 4, 128, 3, 1, 1, 1});
  add_block(dense, "D1", 64, S / 2);
  dense.push_back({"recover 3x3", 64, S / 2, S / 2, 256, 3, 1, 1, 1});
  dense.push_back({"output 3x3", 64, S, S, 3, 3, 1, 1, 1});
  const int64_t vgg[][4] = {{3, 64, S, 0},        {64, 64, S, 0},       {64, 128, S / 2, 0},  {128, 128, S / 2, 0},
                            {128, 256, S / 4, 0}, {256, 256, S / 4, 0}, {256, 512, S / 8, 0}, {512, 512, S / 8, 0}};
  for (const auto& v : vgg)
    dense.push_back({"vgg " + std::to_string(v[0]) + "->" + std::to_string(v[1]) + " @" + std::to_string(v[2]), v[0],
                     v[2], v[2], v[1], 3, 1, 1, 1, v[0] != 3, false});
  std::vector<Case> depthwise{
      {"dw 3x3 C=64 @128", 64, S / 2, S / 2, 64, 3, 1, 1, 64},
      {"dw 3x3 C=170 @128", 170, S / 2, S / 2, 170, 3, 1, 1, 170},
      {"dw 5x5 C=170 @128", 170, S / 2, S / 2, 170, 5, 1, 2, 170},
  };

  const int threads = num_threads();
  if (threads == 1) g_clock = bench::cpu_ms;
  const double peak0 = bench::fp32_peak_gflops(threads, 200, g_clock);
  std::printf("threads %d (%s time), batch %lld, input %lldx%lld; FP32 peak (FMA loop) %.1f GFLOP/s; min of %d runs\n",
              threads, threads == 1 ? "CPU" : "wall", static_cast<long long>(batch), static_cast<long long>(S),
              static_cast<long long>(S), peak0, reps);
  std::printf("%-26s %8s %9s %7s %9s %7s %6s\n", "convolution", "GFLOP", "fwd ms", "%peak", "bwd ms", "%peak", "grads");
  double total_flop = 0, total_s = 0;
  auto run = [&](const std::vector<Case>& cases) {
    for (const Case& c : cases) {
      if (c.name.find(only) == std::string::npos) continue;
      const int64_t oh = (c.h + 2 * c.pad - c.k) / c.stride + 1, ow = (c.w + 2 * c.pad - c.k) / c.stride + 1;
      const double flop = 2.0 * batch * c.c_out * oh * ow * (c.c_in / c.groups) * c.k * c.k;
      const double bflop = flop * ((c.dx ? 1 : 0) + (c.dw ? 1 : 0));
      const Timing t = time_case(c, batch, reps);
      total_flop += flop + bflop;
      total_s += t.fwd + t.bwd;
      std::printf("%-26s %8.3f %9.2f %6.0f%% %9.2f %6.0f%% %6s\n", c.name.c_str(), flop / 1e9, t.fwd * 1e3,
                  100 * flop / t.fwd / 1e9 / peak0, t.bwd * 1e3, bflop > 0 ? 100 * bflop / t.bwd / 1e9 / peak0 : 0.0,
                  c.dx && c.dw ? "dx,dw" : c.dx ? "dx" : c.dw ? "dw" : "-");
      std::fflush(stdout);
    }
  };
  run(dense);
  if (total_s > 0)
    std::printf("dense total: %.2f GFLOP in %.1f ms = %.0f%% of peak\n", total_flop / 1e9, total_s * 1e3,
                100 * total_flop / total_s / 1e9 / peak0);
  run(depthwise);
  std::printf("FP32 peak again at the end: %.1f GFLOP/s\n", bench::fp32_peak_gflops(threads, 200, g_clock));
  return 0;
}
