// Times conv2d forward and backward (input and weight gradients) on the shapes
// that dominate LIEDNet and VGG19 training, with their GFLOP/s.
//   OMP_NUM_THREADS=2 build/bench_conv2d [name filter] [band bound in elements]
//   build/bench_conv2d --dense [--size H W] [--repeats R] [--json FILE] [--cpu-time]
// --dense times every distinct dense (groups 1) convolution of one LIEDNet
// training step at 1x3xHxW (default 256x256), the network's and the perceptual
// loss's VGG19 (on the full image and on the side output's eighth), with how
// many times each runs; bench/targets.py divides each rate by the machine's
// FMA peak (bench_peak). --cpu-time times by the process's CPU time instead of
// the wall clock: with LIEDNET_THREADS=1 on a shared machine it leaves out the
// time other processes held the core (compare with bench_peak's CPU-time
// per-core rate). Convolutions whose output is 1x1 (the squeeze-and-
// excitation of LocalFeatureModule: matrix-vector products) are listed apart.
// The torch numbers to compare with come from the same loop in Python:
//   torch.set_num_threads(2); x, w = torch.randn(...).requires_grad_(), torch.randn(...).requires_grad_()
//   y = F.conv2d(x, w, padding=p, groups=g)   # timed: forward
//   y.backward(torch.ones_like(y))            # timed: backward (ones_like outside the timer)
// minimum over the runs after 2 warm-up runs.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "autograd/autograd.h"
#include "bench_util.h"
#include "ops/conv2d.h"
#include "tensor/parallel.h"

using namespace liednet;

namespace {

// The clock, in ms: wall (default) or this process's CPU time (--cpu-time).
double (*g_clock_ms)() = bench::now_ms;

double seconds_since(double t0_ms) { return (g_clock_ms() - t0_ms) / 1e3; }

struct Timing {
  double fwd_s, bwd_s;
};

// Minimum over the runs: the machine is shared, and the minimum is the least disturbed.
Timing time_conv(const Shape& xs, const Shape& ws, const ops::Conv2dOptions& opt, int reps) {
  Generator gen(1);
  Tensor x = Tensor::randn(xs, gen).set_requires_grad();
  Tensor w = Tensor::randn(ws, gen).set_requires_grad();
  double fwd = 1e30, bwd = 1e30;
  for (int r = -2; r < reps; ++r) {  // two warm-up runs
    double t0 = g_clock_ms();
    Tensor y = ops::conv2d(x, w, Tensor(), opt);
    const double f = seconds_since(t0);
    Tensor g = Tensor::ones(y.shape());
    t0 = g_clock_ms();
    y.backward(g);
    const double b = seconds_since(t0);
    if (r >= 0) fwd = std::min(fwd, f), bwd = std::min(bwd, b);
  }
  return {fwd, bwd};
}

void bench_one(const char* name, const Shape& xs, const Shape& ws, const ops::Conv2dOptions& opt, int reps = 10) {
  const Timing t = time_conv(xs, ws, opt, reps);
  std::printf("ours  %-30s fwd %7.2f ms, bwd %7.2f ms (min of %d)\n", name, t.fwd_s * 1e3, t.bwd_s * 1e3, reps);
}

// A dense convolution of the training step: input (1, c_in, h, w), c_out x c_in x k x k.
struct Dense {
  std::string where;
  int64_t c_in, c_out, k, stride, h, w;
  int count = 1;  // how many times a step runs it forward
  int64_t pad() const { return k == 3 ? 1 : 0; }  // 3x3 keep the size; 2x2 stride 2 and 1x1 have none
  int64_t oh() const { return (h + 2 * pad() - k) / stride + 1; }
  int64_t ow() const { return (w + 2 * pad() - k) / stride + 1; }
  double flops() const { return 2.0 * c_in * c_out * k * k * oh() * ow(); }  // forward multiply-adds x 2
  std::string key() const {
    char s[96];
    std::snprintf(s, sizeof s, "%lldx%lld %lld->%lld s%lld @%lldx%lld", (long long)k, (long long)k,
                  (long long)c_in, (long long)c_out, (long long)stride, (long long)h, (long long)w);
    return s;
  }
};

// Every dense convolution of a LIEDNet (dim 32, blocks (1, 2, 4), 4 refinement blocks; docs/architecture.md)
// training step at 1x3xHxW, and of the perceptual loss's VGG19 to conv4_4 on (out, gt) at HxW and
// (side, side_gt) at H/8 x W/8. The 1x1 projections (nn.Linear in upstream) count as dense convolutions.
std::vector<Dense> training_step_convs(int64_t H, int64_t W) {
  std::vector<Dense> v;
  auto block = [&](const char* level, int64_t C, int64_t h, int64_t w, int n) {
    const int64_t hid = static_cast<int64_t>(C * 2.66);
    const std::string p = level;
    v.push_back({p + " in_proj", C, 4 * C, 1, 1, h, w, n});
    v.push_back({p + " out_proj", 2 * C, C, 1, 1, h, w, n});
    v.push_back({p + " fusion", 2 * C, C, 1, 1, h, w, n});
    v.push_back({p + " ffn.project_in1", C, 2 * hid, 1, 1, h, w, n});
    v.push_back({p + " ffn.project_in2", C, hid, 1, 1, h, w, n});
    v.push_back({p + " ffn.fusion", 2 * hid, hid, 1, 1, h, w, n});
    v.push_back({p + " ffn.project_out", hid, C, 1, 1, h, w, n});
    v.push_back({p + " local (SE, 1x1 output)", C, C / 2, 1, 1, 1, 1, n});
    v.push_back({p + " local (SE, 1x1 output)", C / 2, C, 1, 1, 1, 1, n});
  };
  const int64_t C = 32, h1 = H / 2, w1 = W / 2;
  v.push_back({"patch_embed", 3, C, 2, 2, H, W});
  block("encoder_level1", C, h1, w1, 1);
  v.push_back({"down1_2", C, C / 2, 3, 1, h1, w1});
  block("encoder_level2/decoder_level2", 2 * C, h1 / 2, w1 / 2, 4);
  v.push_back({"down2_3", 2 * C, C, 3, 1, h1 / 2, w1 / 2});
  block("encoder_level3", 4 * C, h1 / 4, w1 / 4, 4);
  v.push_back({"up3_2", 4 * C, 8 * C, 3, 1, h1 / 4, w1 / 4});
  v.push_back({"reduce_chan_level2", 4 * C, 2 * C, 1, 1, h1 / 2, w1 / 2});
  v.push_back({"up2_1", 2 * C, 4 * C, 3, 1, h1 / 2, w1 / 2});
  block("decoder_level1/refinement", 2 * C, h1, w1, 5);
  v.push_back({"recover", 2 * C, 8 * C, 3, 1, h1, w1});
  v.push_back({"output", 2 * C, 3, 3, 1, H, W});
  v.push_back({"side_out", 4 * C, 3, 3, 1, h1 / 4, w1 / 4});
  for (const int64_t s : {int64_t{1}, int64_t{8}}) {  // VGG on (out, gt), then on (side, side_gt)
    const int64_t h = H / s, w = W / s;
    const std::string p = s == 1 ? "vgg " : "vgg (side) ";
    const int64_t chain[][3] = {{3, 64, 1},     {64, 64, 1},    {64, 128, 2},   {128, 128, 2},
                                {128, 256, 4},  {256, 256, 4},  {256, 256, 4},  {256, 256, 4},
                                {256, 512, 8},  {512, 512, 8},  {512, 512, 8},  {512, 512, 8}};
    const char* names[] = {"conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2",
                           "conv3_3", "conv3_4", "conv4_1", "conv4_2", "conv4_3", "conv4_4"};
    for (int i = 0; i < 12; ++i)
      v.push_back({p + names[i], chain[i][0], chain[i][1], 3, 1, h / chain[i][2], w / chain[i][2], 2});
  }
  return v;
}

// --dense: one row per distinct shape (the places that share it, and its count per step).
int dense_main(int64_t H, int64_t W, int reps, const std::string& json_path) {
  std::map<std::string, std::vector<Dense>> by_shape;
  std::vector<std::string> order;
  for (const Dense& d : training_step_convs(H, W)) {
    if (!by_shape.count(d.key())) order.push_back(d.key());
    by_shape[d.key()].push_back(d);
  }
  std::printf("dense convolutions of a 1x3x%lldx%lld training step, %d threads, min of %d runs (f32, %s time)\n",
              (long long)H, (long long)W, num_threads(), reps, g_clock_ms == bench::cpu_ms ? "CPU" : "wall");
  std::printf("%-30s %5s %9s %9s %9s %9s %9s  %s\n", "shape", "count", "GFLOP", "fwd ms", "bwd ms", "fwd GF/s",
              "bwd GF/s", "where");
  nlohmann::json rows = nlohmann::json::array();
  for (const std::string& key : order) {
    const std::vector<Dense>& ds = by_shape[key];
    const Dense& d = ds[0];
    int count = 0;
    std::string where;
    for (const Dense& e : ds) count += e.count, where += (where.empty() ? "" : ", ") + e.where;
    const Timing t = time_conv({1, d.c_in, d.h, d.w}, {d.c_out, d.c_in, d.k, d.k},
                               {.stride = d.stride, .padding = d.pad()}, reps);
    const double f = d.flops();
    std::printf("%-30s %5d %9.3f %9.2f %9.2f %9.1f %9.1f  %s\n", key.c_str(), count, f / 1e9, t.fwd_s * 1e3,
                t.bwd_s * 1e3, f / t.fwd_s / 1e9, 2 * f / t.bwd_s / 1e9, where.c_str());
    std::fflush(stdout);
    rows.push_back({{"shape", key}, {"where", where}, {"count", count}, {"matvec", d.oh() * d.ow() == 1},
                    {"forward_flops", f}, {"backward_flops", 2 * f}, {"forward_s", t.fwd_s}, {"backward_s", t.bwd_s}});
  }
  std::printf("(backward = input and weight gradients, counted as 2x the forward's FLOPs)\n");
  if (!json_path.empty())
    bench::write_json(json_path, {{"threads", num_threads()}, {"height", H}, {"width", W}, {"repeats", reps},
                                  {"convs", rows}});
  return 0;
}

}  // namespace

// An argument runs only the benchmarks whose name contains it.
int main(int argc, char** argv) {
  init_threads_from_env();
  if (argc > 1 && !std::strcmp(argv[1], "--dense")) {
    int64_t H = 256, W = 256;
    int reps = 3;
    std::string json_path;
    for (int i = 2; i < argc; ++i) {
      if (!std::strcmp(argv[i], "--size") && i + 2 < argc) H = std::atoll(argv[i + 1]), W = std::atoll(argv[i + 2]), i += 2;
      else if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc) reps = std::atoi(argv[++i]);
      else if (!std::strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
      else if (!std::strcmp(argv[i], "--cpu-time")) g_clock_ms = bench::cpu_ms;
      else {
        std::fprintf(stderr, "usage: bench_conv2d --dense [--size H W] [--repeats R] [--json FILE] [--cpu-time]\n");
        return 2;
      }
    }
    if (H % 64 || W % 64 || H <= 0 || W <= 0) {
      std::fprintf(stderr, "bench_conv2d --dense: --size %lld %lld must be positive multiples of 64\n",
                   (long long)H, (long long)W);
      return 2;
    }
    return dense_main(H, W, std::max(1, reps), json_path);
  }
  const std::string only = argc > 1 ? argv[1] : "";
  if (argc > 2) ops::detail::set_conv2d_tile_elements(std::stoll(argv[2]));  // band bound, in elements
  auto bench_if = [&](const char* name, const Shape& xs, const Shape& ws, const ops::Conv2dOptions& opt) {
    if (std::string(name).find(only) != std::string::npos) bench_one(name, xs, ws, opt);
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
