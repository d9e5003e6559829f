// Tensor memory of one LIEDNet training step (forward, both losses with a
// random VGG19, backward, Adam): what the graph holds for the backward once the
// forward and the losses are done, and the most tensor storage alive at once,
// both above the weights, VGG19 and Adam's moments. Counts the library's tensor
// storage (tensor/storage.h), not the process's RSS (bench_train prints that).
//   usage: bench_step_memory [B:H:W ...]   (default 1:256:256)
#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "liednet/liednet.h"
#include "liednet/losses.h"
#include "nn/optim.h"
#include "tensor/parallel.h"
#include "tensor/storage.h"

using namespace liednet;

int main(int argc, char** argv) {
  init_threads_from_env();
  std::vector<std::array<long long, 3>> sizes;
  for (int i = 1; i < argc; ++i) {
    std::array<long long, 3> s{};
    if (std::sscanf(argv[i], "%lld:%lld:%lld", &s[0], &s[1], &s[2]) != 3) {
      std::fprintf(stderr, "usage: bench_step_memory [B:H:W ...]\n");
      return 2;
    }
    sizes.push_back(s);
  }
  if (sizes.empty()) sizes.push_back({1, 256, 256});
  Generator gen(1);
  net::LIEDNet model(net::preset("liednet"), gen);
  net::VGG19Features vgg(gen);
  nn::Adam adam(model, {});
  const net::LossConfig cfg;
  std::printf("%-14s %16s %16s %16s\n", "batch", "held MiB", "peak MiB", "fixed MiB");
  for (auto [B, H, W] : sizes) {
    Tensor lq = Tensor::uniform({B, 3, H, W}, -1, 1, gen), gt = Tensor::uniform({B, 3, H, W}, -1, 1, gen);
    const double mib = 1048576.0, fixed = host_bytes_in_use() / mib;
    reset_host_bytes_peak();
    net::LIEDNetOutput out = model.forward(lq, true);
    net::LossTerms terms = net::compute_loss(out, gt, &vgg, cfg);
    out = {};
    const double held = host_bytes_in_use() / mib - fixed;
    terms.total.backward();
    adam.step(1e-4);
    const std::string name = std::to_string(B) + "x3x" + std::to_string(H) + "x" + std::to_string(W);
    std::printf("%-14s %16.0f %16.0f %16.0f\n", name.c_str(), held, host_bytes_peak() / mib - fixed, fixed);
    adam.zero_grad();
  }
  std::printf("held: kept by the graph for the backward after the forward and the losses; peak: the most tensor\n"
              "storage alive during the step; both above the fixed weights, VGG19, Adam's moments and the inputs.\n");
  return 0;
}
