// One LIEDNet training step split into forward, losses (L1 + side L1 and both
// VGG19 perceptual terms, random VGG weights), backward and the Adam update,
// at 1x3x128x128, 1x3x256x256 and 8x3x256x256; peak RSS; and, given the JSON
// written by bench/torch_train_step.py in the same session, the ratio to the
// PyTorch baseline. With --device cuda every phase is timed after a
// stream synchronise and the peak device memory of the step is printed too;
// --tf32 lets cuBLAS use TF32 tensor cores (off by default, as in the tests).
// The FLOPs of a step: ops::FlopCounter counts the forward's (convolutions, the
// 1x1 projections, the scan's projections and recurrence; not the elementwise
// work) of the network and of the loss; the backward is counted as 2x the
// network's forward (input and weight gradients) plus 1x the VGG forward on the
// two predictions (input gradient only: its weights are fixed; the VGG on the
// two targets runs without a graph), i.e. half the loss's forward.
// --json FILE writes the figures for bench/targets.py (with each step's process CPU time, cpu_s).
//   usage: bench_train [--repeats R] [--torch-json FILE] [--sizes B:H:W,...] [--no-perceptual]
//                      [--device cpu|cuda] [--tf32] [--json FILE]
#include <time.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_util.h"
#include "liednet/liednet.h"
#include "liednet/losses.h"
#include "nn/optim.h"
#include "ops/conv2d.h"
#include "ops/flops.h"
#include "tensor/cuda.h"
#include "tensor/parallel.h"

using namespace liednet;

namespace {
// CPU time of the whole process (every thread), seconds: with the wall time it shows how much of the
// step the machine's other users took (a shared machine), in the "cpu_s" JSON field.
double process_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}
struct Split {
  double forward = 0, losses = 0, backward = 0, optim = 0;
  double total() const { return forward + losses + backward + optim; }
};

// The clock, after the GPU has finished what was queued (a no-op on the CPU).
double now_ms(Device device) {
  if (device == Device::CUDA) cuda_synchronize();
  return bench::now_ms();
}

Split time_step(net::LIEDNet& model, net::VGG19Features* vgg, nn::Adam& adam, const net::LossConfig& cfg,
                const Tensor& lq, const Tensor& gt) {
  Split s;
  const Device dev = lq.device();
  const auto now_ms = [dev] { return ::now_ms(dev); };
  double t0 = now_ms();
  adam.zero_grad();
  net::LIEDNetOutput out = model.forward(lq, true);
  double t1 = now_ms();
  net::LossTerms terms = net::compute_loss(out, gt, vgg, cfg);
  out = {};
  double t2 = now_ms();
  terms.total.backward();
  double t3 = now_ms();
  adam.step(1e-4);
  double t4 = now_ms();
  s.forward = t1 - t0;
  s.losses = t2 - t1;
  s.backward = t3 - t2;
  s.optim = t4 - t3;
  return s;
}

// Forward FLOPs of the network and of the loss (see the file comment), from one untimed step.
std::pair<double, double> count_forward_flops(net::LIEDNet& model, net::VGG19Features* vgg, nn::Adam& adam,
                                              const net::LossConfig& cfg, const Tensor& lq, const Tensor& gt) {
  double net_flops = 0, loss_flops = 0;
  {
    ops::FlopCounter c;
    net::LIEDNetOutput out = model.forward(lq, true);
    net_flops = static_cast<double>(c.total());
    ops::FlopCounter cl;
    net::LossTerms terms = net::compute_loss(out, gt, vgg, cfg);
    loss_flops = static_cast<double>(cl.total());
    out = {};
    terms.total.backward();
  }
  adam.step(1e-4);
  return {net_flops, loss_flops};
}
}  // namespace

int main(int argc, char** argv) {
  init_threads_from_env();
  int repeats = 3;
  std::string torch_json;
  bool perceptual = true;
  Device device = Device::CPU;
  bool tf32 = false;
  std::string json_path;
  std::vector<std::array<int64_t, 3>> sizes{{1, 128, 128}, {1, 256, 256}, {8, 256, 256}};
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--torch-json") && i + 1 < argc) torch_json = argv[++i];
    else if (!std::strcmp(argv[i], "--no-perceptual")) perceptual = false;
    else if (!std::strcmp(argv[i], "--tf32")) tf32 = true;
    else if (!std::strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
    else if (!std::strcmp(argv[i], "--device") && i + 1 < argc && !std::strcmp(argv[i + 1], "cuda")) device = Device::CUDA, ++i;
    else if (!std::strcmp(argv[i], "--device") && i + 1 < argc && !std::strcmp(argv[i + 1], "cpu")) ++i;
    else if (!std::strcmp(argv[i], "--sizes") && i + 1 < argc) {
      sizes.clear();
      std::stringstream ss(argv[++i]);
      std::string item;
      while (std::getline(ss, item, ',')) {
        long long b, h, w;
        if (std::sscanf(item.c_str(), "%lld:%lld:%lld", &b, &h, &w) == 3) sizes.push_back({b, h, w});
      }
    } else {
      std::fprintf(stderr, "usage: bench_train [--repeats R] [--torch-json FILE] [--sizes B:H:W,...] [--no-perceptual] "
                           "[--device cpu|cuda] [--tf32] [--json FILE]\n");
      return 2;
    }
  }
  nlohmann::json torch_ref;
  if (!torch_json.empty()) {
    std::ifstream in(torch_json);
    if (in) in >> torch_ref;
  }

  Generator gen(1);
  net::LIEDNet model(net::preset("liednet"), gen);
  net::VGG19Features vgg(gen);
  if (device == Device::CUDA) {
    if (cuda_device_count() == 0) {
      std::fprintf(stderr, "bench_train: --device cuda: no GPU on this machine\n");
      return 1;
    }
    model.to(device);
    vgg.to(device);
    ops::set_cuda_tf32(tf32);
  }
  nn::Adam adam(model, {});  // after the move: the moments live beside the parameters
  net::LossConfig cfg;
  if (!perceptual) cfg.perceptual_weight = 0;
  if (device == Device::CUDA)
    std::printf("LIEDNet train step on %s (f32%s, median of %d after a warm-up; perceptual loss %s)\n",
                cuda_device_name(0).c_str(), tf32 ? ", TF32 GEMMs" : "", repeats, perceptual ? "on, random VGG19" : "off");
  else
    std::printf("LIEDNet train step (f32, %d threads, median of %d after a warm-up; perceptual loss %s)\n",
                num_threads(), repeats, perceptual ? "on, random VGG19" : "off");
  std::printf("%-12s %9s %9s %9s %9s %10s %10s %12s %8s\n", "batch", "fwd ms", "loss ms", "bwd ms", "adam ms", "step ms",
              "img/s", "torch step", "ratio");
  nlohmann::json json_configs = nlohmann::json::array();
  for (auto [B, H, W] : sizes) {
    Tensor lq = Tensor::uniform({B, 3, H, W}, -1, 1, gen), gt = Tensor::uniform({B, 3, H, W}, -1, 1, gen);
    if (device == Device::CUDA) {
      lq = lq.to(device);
      gt = gt.to(device);
      cuda_reset_peak();
    }
    // The warm-up step, FLOPs counted (the counter costs nothing measurable, but stays out of the timing).
    const auto [net_flops, loss_flops] = count_forward_flops(model, perceptual ? &vgg : nullptr, adam, cfg, lq, gt);
    profiler::reset();  // LIEDNET_PROFILE=1: count the timed steps only
    std::vector<Split> runs;
    const double cpu0 = process_cpu_s();
    for (int r = 0; r < repeats; ++r) runs.push_back(time_step(model, perceptual ? &vgg : nullptr, adam, cfg, lq, gt));
    const double cpu_per_step = (process_cpu_s() - cpu0) / repeats;
    std::sort(runs.begin(), runs.end(), [](const Split& a, const Split& b) { return a.total() < b.total(); });
    const Split s = runs[runs.size() / 2];
    const double step_flops = 3 * net_flops + 1.5 * loss_flops;
    std::vector<double> totals;
    for (const Split& r : runs) totals.push_back(r.total() / 1e3);
    json_configs.push_back({{"batch", B}, {"height", H}, {"width", W}, {"forward_s", s.forward / 1e3},
                            {"losses_s", s.losses / 1e3}, {"backward_s", s.backward / 1e3},
                            {"optimizer_s", s.optim / 1e3}, {"total_s", s.total() / 1e3}, {"samples_total_s", totals},
                            {"network_forward_flops", net_flops}, {"loss_forward_flops", loss_flops},
                            {"step_flops", step_flops}, {"cpu_s", cpu_per_step},
                            {"peak_rss_mib", bench::peak_rss_mib()}});
    char name[32], torch_col[32] = "-", ratio_col[32] = "-";
    std::snprintf(name, sizeof name, "%lldx3x%lldx%lld", (long long)B, (long long)H, (long long)W);
    // bench/torch_train_step.py's JSON: configs[] with batch, height, width, total_s.
    if (torch_ref.contains("configs"))
      for (const auto& c : torch_ref["configs"])
        if (c.value("batch", 0) == B && c.value("height", 0) == H && c.value("width", 0) == W && c.contains("total_s")) {
          const double t = c["total_s"].get<double>() * 1000.0;
          std::snprintf(torch_col, sizeof torch_col, "%.0f ms%s", t, c.value("recompute_blocks", false) ? "*" : "");
          std::snprintf(ratio_col, sizeof ratio_col, "%.3f", s.total() / t);
        }
    std::printf("%-12s %9.0f %9.0f %9.0f %9.0f %10.0f %10.2f %12s %8s\n", name, s.forward, s.losses, s.backward,
                s.optim, s.total(), B * 1000.0 / s.total(), torch_col, ratio_col);
    if (device == Device::CUDA)
      std::printf("%-12s peak device memory %.0f MiB (%zu cudaMalloc calls so far)\n", "",
                  cuda_memory_stats().peak / 1048576.0, cuda_memory_stats().driver_allocations);
    std::fflush(stdout);
  }
  std::printf("peak RSS %.0f MiB (ratio = our step time / torch's; below 0.25 meets the target; * torch recomputed\n"
              "each block in its backward to fit in memory)\n",
              bench::peak_rss_mib());
  if (!json_path.empty())
    bench::write_json(json_path, {{"threads", num_threads()}, {"repeats", repeats}, {"perceptual", perceptual},
                                  {"device", device == Device::CUDA ? "cuda" : "cpu"}, {"configs", json_configs},
                                  {"peak_rss_mib", bench::peak_rss_mib()}});
  return 0;
}
