// LIEDNet inference: wall time of one forward (no graph) at the given sizes,
// its FLOPs (ops::FlopCounter), and peak memory (device memory too with
// --device cuda, where the time is taken after a stream synchronise).
// --json FILE writes the figures for bench/targets.py.
//   usage: bench_forward [--preset P] [--repeats R] [--device cpu|cuda] [--tf32] [--json FILE] [H W]...
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "autograd/autograd.h"
#include "bench_util.h"
#include "liednet/liednet.h"
#include "ops/conv2d.h"
#include "ops/flops.h"
#include "tensor/cuda.h"
#include "tensor/parallel.h"

using namespace liednet;

int main(int argc, char** argv) {
  init_threads_from_env();
  std::string preset = "liednet";
  int repeats = 3;
  Device device = Device::CPU;
  bool tf32 = false;
  std::string json_path;
  std::vector<std::pair<int64_t, int64_t>> sizes;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--preset") && i + 1 < argc) preset = argv[++i];
    else if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--tf32")) tf32 = true;
    else if (!std::strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
    else if (!std::strcmp(argv[i], "--device") && i + 1 < argc) device = !std::strcmp(argv[++i], "cuda") ? Device::CUDA : Device::CPU;
    else if (i + 1 < argc) {
      sizes.push_back({std::atoll(argv[i]), std::atoll(argv[i + 1])});
      ++i;
    }
  }
  if (sizes.empty()) sizes = {{256, 256}, {512, 512}};
  Generator gen(1);
  net::LIEDNet model(net::preset(preset), gen);
  model.eval();
  if (device == Device::CUDA) {
    if (cuda_device_count() == 0) {
      std::fprintf(stderr, "bench_forward: --device cuda: no GPU on this machine\n");
      return 1;
    }
    model.to(device);
    ops::set_cuda_tf32(tf32);
  }
  std::printf("%s forward (inference, f32%s) on %s, median of %d\n", preset.c_str(), tf32 ? ", TF32 GEMMs" : "",
              device == Device::CUDA ? cuda_device_name(0).c_str() : (std::to_string(num_threads()) + " CPU threads").c_str(),
              repeats);
  nlohmann::json configs = nlohmann::json::array();
  for (auto [H, W] : sizes) {
    Tensor x = Tensor::uniform({1, 3, H, W}, -1, 1, gen);
    if (device == Device::CUDA) {
      x = x.to(device);
      cuda_reset_peak();
    }
    autograd::NoGradGuard no_grad;
    double flops = 0;
    std::vector<double> samples;
    const double ms = bench::median_ms(repeats, [&] {
      ops::FlopCounter counter;
      const double t0 = bench::now_ms();
      model.forward(x);
      if (device == Device::CUDA) cuda_synchronize();
      samples.push_back((bench::now_ms() - t0) / 1e3);
      flops = static_cast<double>(counter.total());
    });
    samples.erase(samples.begin());  // the warm-up
    configs.push_back({{"batch", 1}, {"height", H}, {"width", W}, {"forward_s", ms / 1e3}, {"total_s", ms / 1e3},
                       {"samples_total_s", samples}, {"forward_flops", flops}, {"peak_rss_mib", bench::peak_rss_mib()}});
    std::printf("1x3x%lldx%lld: %.0f ms (%.2f megapixel/s), peak RSS so far %.0f MiB\n", static_cast<long long>(H),
                static_cast<long long>(W), ms, H * W / ms / 1e3, bench::peak_rss_mib());
    if (device == Device::CUDA) std::printf("  peak device memory %.0f MiB\n", cuda_memory_stats().peak / 1048576.0);
  }
  if (!json_path.empty())
    bench::write_json(json_path, {{"threads", num_threads()}, {"repeats", repeats}, {"preset", preset},
                                  {"configs", configs}});
  return 0;
}
