// The figures of docs/selective_scan.md, computed: what the zero-order hold would give for B next to the
// dt*B that the scan uses, and the memory of the scan's backward with and without the chunked recompute, for
// every Local Mamba Block of LIEDNet on one 256x256 crop.
//
// What to look at:
//  - ZOH: B_bar = (exp(dt a) - 1) / a * B; the scan uses dt * B. Their ratio (exp(z) - 1) / z, z = dt a, is
//    1 for small steps and far from 1 for long steps of fast states;
//  - memory: keeping every state for the backward costs 4 d L N values per block (K = 4 directions); keeping
//    only the state at each chunk start costs 4 d N ceil(L / chunk).
// The rows are printed as Markdown; the test doc_figures checks that each line (but the last) is in
// docs/selective_scan.md.
// Exits 1 if the formula here disagrees with ops::ss2d_saved_state_bytes, the op's own count.
#include <cmath>
#include <cstdio>
#include <map>
#include <string>

#include "autograd/autograd.h"
#include "liednet/liednet.h"
#include "ops/ss2d_scan.h"

using namespace liednet;

static std::string mib(double bytes) {
  char buf[64];
  if (bytes >= 1024.0 * 1024.0) std::snprintf(buf, sizeof buf, "%g MiB", bytes / (1024.0 * 1024.0));
  else std::snprintf(buf, sizeof buf, "%g KiB", bytes / 1024.0);
  return buf;
}

int main() {
  std::printf("| dt | a | z = dt a | (exp(z) - 1) / z |\n|---|---|---|---|\n");
  for (const auto& [dt, a] : {std::pair{0.001, -1.0}, {0.01, -1.0}, {0.1, -1.0}, {0.1, -16.0}, {1.0, -16.0}}) {
    const double z = dt * a;
    std::printf("| %g | %g | %g | %.4f |\n", dt, a, z, std::expm1(z) / z);
  }

  Generator gen(0);
  net::LIEDNet model(net::preset("liednet"), gen);
  const int64_t H = 256, W = 256, N = 16, chunk = 256;
  std::printf("\n| blocks | d | L | every state, per block | chunk starts, per block |\n|---|---|---|---|---|\n");
  bool agree = true;
  double all_states = 0, chunked = 0;
  const auto blocks = model.named_blocks();
  // Each block's map is the input's size divided by 2, 4 or 8: read off a forward on an 8x8 input.
  std::map<std::string, int64_t> scale_of;
  model.block_input_observer = [&](const std::string& name, const Tensor& x) { scale_of[name] = 8 / x.size(2); };
  {
    autograd::NoGradGuard no_grad;
    model.forward(Tensor::zeros({1, 3, 8, 8}));
  }
  for (size_t i = 0; i < blocks.size();) {
    // a run of consecutive blocks of the same width and size: one row
    const std::string level = blocks[i].first.substr(0, blocks[i].first.find('.'));
    size_t j = i;
    while (j < blocks.size() && blocks[j].first.rfind(level + ".", 0) == 0) ++j;
    const int64_t d = blocks[i].second->op->d_inner;
    const int64_t scale = scale_of[blocks[i].first];
    const int64_t L = (H / scale) * (W / scale);
    const double every = 4.0 * d * L * N * 4, starts = 4.0 * d * N * ((L + chunk - 1) / chunk) * 4;  // f32 bytes
    const int64_t op_bytes = ops::ss2d_saved_state_bytes(Shape{1, d, H / scale, W / scale}, N, {.chunk = chunk}, DType::F32);
    agree = agree && op_bytes == static_cast<int64_t>(starts);
    std::printf("| %s (%zu) | %lld | %lld | %s | %s |\n", level.c_str(), j - i, static_cast<long long>(d),
                static_cast<long long>(L), mib(every).c_str(), mib(starts).c_str());
    all_states += every * static_cast<double>(j - i);
    chunked += starts * static_cast<double>(j - i);
    i = j;
  }
  std::printf("| all %zu blocks | | | %s | %s |\n", blocks.size(), mib(all_states).c_str(), mib(chunked).c_str());
  std::printf("\nA training batch of 8 would need %g GiB for the states alone without chunking; with it, %g MiB.\n",
              8 * all_states / (1024.0 * 1024 * 1024), 8 * chunked / (1024.0 * 1024));
  std::printf("\nformula and ops::ss2d_saved_state_bytes %s\n", agree ? "agree" : "DISAGREE");
  return agree ? 0 : 1;
}
