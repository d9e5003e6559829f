// LIEDNet inference: wall time of one forward (no graph) at the given sizes,
// and peak memory. usage: bench_forward [--preset P] [--repeats R] [H W]...
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "autograd/autograd.h"
#include "bench_util.h"
#include "liednet/liednet.h"
#include "tensor/parallel.h"

using namespace liednet;

int main(int argc, char** argv) {
  init_threads_from_env();
  std::string preset = "liednet";
  int repeats = 3;
  std::vector<std::pair<int64_t, int64_t>> sizes;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--preset") && i + 1 < argc) preset = argv[++i];
    else if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = std::atoi(argv[++i]);
    else if (i + 1 < argc) {
      sizes.push_back({std::atoll(argv[i]), std::atoll(argv[i + 1])});
      ++i;
    }
  }
  if (sizes.empty()) sizes = {{256, 256}, {512, 512}};
  Generator gen(1);
  net::LIEDNet model(net::preset(preset), gen);
  model.eval();
  std::printf("%s forward (inference, f32), %d threads, median of %d\n", preset.c_str(), num_threads(), repeats);
  for (auto [H, W] : sizes) {
    Tensor x = Tensor::uniform({1, 3, H, W}, -1, 1, gen);
    autograd::NoGradGuard no_grad;
    const double ms = bench::median_ms(repeats, [&] { model.forward(x); });
    std::printf("1x3x%lldx%lld: %.0f ms (%.2f megapixel/s), peak RSS so far %.0f MiB\n", static_cast<long long>(H),
                static_cast<long long>(W), ms, H * W / ms / 1e3, bench::peak_rss_mib());
  }
  return 0;
}
