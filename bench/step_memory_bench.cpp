// Tensor memory of one LIEDNet training step (forward, both losses with a
// random VGG19, backward, Adam): what the graph holds for the backward once the
// forward and the losses are done, and the most tensor storage alive at once,
// both above the weights, VGG19 and Adam's moments. Counts the library's tensor
// storage (tensor/storage.h), not the process's RSS (bench_train prints that).
// With --by-op, instead of the backward it releases the graph node by node and
// prints, per op, the storage each kind of node freed (a tensor two nodes share
// counts for the one released last): what the graph's memory is made of.
// With --digest it also prints a hash of the loss and of every weight's
// gradient: a change meant only to save memory must leave it as it was (for
// the same thread count).
//   usage: bench_step_memory [--by-op] [--digest] [B:H:W ...]   (default 1:256:256)
#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "autograd/autograd.h"

#include "liednet/liednet.h"
#include "liednet/losses.h"
#include "nn/optim.h"
#include "tensor/parallel.h"
#include "tensor/storage.h"

using namespace liednet;

namespace {
// Releases every node above root, root first, and prints the storage each op's nodes freed.
void print_by_op(const Tensor& root) {
  struct Row {
    int nodes = 0;
    double bytes = 0;
  };
  std::map<std::string, Row> rows;
  std::vector<autograd::Node*> stack{root.impl()->grad_fn.get()}, order;
  std::map<autograd::Node*, int> pending;  // parents not yet visited, per node
  {
    std::vector<autograd::Node*> dfs{stack};
    std::map<autograd::Node*, bool> seen{{stack[0], true}};
    while (!dfs.empty()) {
      autograd::Node* n = dfs.back();
      dfs.pop_back();
      for (auto& c : n->next)
        if (c) {
          ++pending[c.get()];
          if (!seen[c.get()]) {
            seen[c.get()] = true;
            dfs.push_back(c.get());
          }
        }
    }
  }
  while (!stack.empty()) {  // Kahn's order: a node after all its consumers
    autograd::Node* n = stack.back();
    stack.pop_back();
    order.push_back(n);
    for (auto& c : n->next)
      if (c && --pending[c.get()] == 0) stack.push_back(c.get());
  }
  double total = 0;
  for (autograd::Node* n : order) {
    const size_t before = host_bytes_in_use();
    n->backward = nullptr;
    const double freed = static_cast<double>(before - host_bytes_in_use());
    Row& r = rows[n->op];
    ++r.nodes;
    r.bytes += freed;
    total += freed;
  }
  std::vector<std::pair<std::string, Row>> sorted(rows.begin(), rows.end());
  std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.second.bytes > b.second.bytes; });
  std::printf("  %-28s %6s %10s\n", "op", "nodes", "freed MiB");
  for (auto& [op, r] : sorted)
    if (r.bytes > 0) std::printf("  %-28s %6d %10.1f\n", op.c_str(), r.nodes, r.bytes / 1048576.0);
  std::printf("  %-28s %6s %10.1f\n", "total", "", total / 1048576.0);
}
}  // namespace

int main(int argc, char** argv) {
  init_threads_from_env();
  std::vector<std::array<long long, 3>> sizes;
  bool by_op = false, digest = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--by-op") == 0 || std::strcmp(argv[i], "--digest") == 0) {
      (argv[i][2] == 'b' ? by_op : digest) = true;
      continue;
    }
    std::array<long long, 3> s{};
    if (std::sscanf(argv[i], "%lld:%lld:%lld", &s[0], &s[1], &s[2]) != 3) {
      std::fprintf(stderr, "usage: bench_step_memory [--by-op] [--digest] [B:H:W ...]\n");
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
  std::printf("%-14s %9s %9s %9s %9s %9s %9s\n", "batch", "held MiB", "peak MiB", "forward", "losses", "backward",
              "fixed MiB");
  for (auto [B, H, W] : sizes) {
    Tensor lq = Tensor::uniform({B, 3, H, W}, -1, 1, gen), gt = Tensor::uniform({B, 3, H, W}, -1, 1, gen);
    const double mib = 1048576.0, fixed = host_bytes_in_use() / mib;
    reset_host_bytes_peak();
    net::LIEDNetOutput out = model.forward(lq, true);
    const double fwd_peak = host_bytes_peak() / mib - fixed;
    reset_host_bytes_peak();
    net::LossTerms terms = net::compute_loss(out, gt, &vgg, cfg);
    const double loss_peak = host_bytes_peak() / mib - fixed;
    out = {};
    const double held = host_bytes_in_use() / mib - fixed;
    if (by_op) {
      std::printf("%lldx3x%lldx%lld: %.0f MiB held by the graph\n", B, H, W, held);
      print_by_op(terms.total);
      continue;
    }
    reset_host_bytes_peak();
    terms.total.backward();
    if (digest) {
      uint64_t hash = 1469598103934665603ull;  // FNV-1a over the loss's and the gradients' bytes
      auto mix = [&hash](const void* p, size_t n) {
        for (size_t i = 0; i < n; ++i) hash = (hash ^ static_cast<const unsigned char*>(p)[i]) * 1099511628211ull;
      };
      const float loss = terms.total.data<float>()[0];
      mix(&loss, sizeof loss);
      for (const Tensor& p : model.parameters())
        if (p.grad().defined()) mix(p.grad().raw_data(), p.grad().numel() * sizeof(float));
      std::printf("digest %016llx (loss %.9g)\n", static_cast<unsigned long long>(hash), loss);
    }
    adam.step(1e-4);
    const double bwd_peak = host_bytes_peak() / mib - fixed;  // the backward's and Adam's
    const std::string name = std::to_string(B) + "x3x" + std::to_string(H) + "x" + std::to_string(W);
    const double peak = std::max({fwd_peak, loss_peak, bwd_peak});
    std::printf("%-14s %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f\n", name.c_str(), held, peak, fwd_peak, loss_peak, bwd_peak,
                fixed);
    adam.zero_grad();
  }
  std::printf("held: kept by the graph for the backward after the forward and the losses; peak: the most tensor\n"
              "storage alive during the step, and during its forward, losses and backward; all above the fixed\n"
              "weights, VGG19, Adam's moments and the inputs.\n");
  return 0;
}
