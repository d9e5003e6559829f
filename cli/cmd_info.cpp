// liednet info [--preset P] [--size H W]: modules, parameters and FLOPs per stage,
// computed from the modules' shapes (liednet/summary.h): no forward runs, so
// any size answers at once in the memory of the weights.
// liednet info [--preset P] [--size H W] --svg FILE | --svg-scan FILE: instead, the pictures of
// liednet/diagram.h (the U-Net drawn from the model; the four scan orders on a 4x4 grid).
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/format.h"
#include "liednet/diagram.h"
#include "liednet/liednet.h"
#include "liednet/summary.h"
#include "tensor/atomic_file.h"

namespace liednet::cli {

namespace {
// --svg FILE: the U-Net at H x W; --svg-scan FILE: the scan orders on a 4x4 grid. Each written whole or not at all.
int write_diagrams(const Args& args, const net::LIEDNet& model, int64_t H, int64_t W) {
  if (args.has("--svg")) {
    LIEDNET_CHECK(H % 8 == 0 && W % 8 == 0, "liednet info: --svg needs --size multiples of 8, got ", H, " ", W);
    const std::string path = args.get_or("--svg", "");
    write_file_atomically(path, net::unet_svg(model, H, W));
    std::printf("wrote %s\n", path.c_str());
  }
  if (args.has("--svg-scan")) {
    const std::string path = args.get_or("--svg-scan", "");
    write_file_atomically(path, net::scan_orders_svg(4, 4));
    std::printf("wrote %s\n", path.c_str());
  }
  return 0;
}
}  // namespace

int cmd_info(const std::vector<std::string>& argv) {
  Args args("info", argv, {"--preset", "--size", "--svg", "--svg-scan"}, {});
  const std::vector<int64_t> size = args.get_ints("--size");
  LIEDNET_CHECK(size.empty() || size.size() == 2, "liednet info: --size takes two numbers, H W");
  const int64_t H = size.empty() ? 256 : size[0], W = size.empty() ? 256 : size[1];
  LIEDNET_CHECK(H > 0 && W > 0 && H <= net::kMaxSummarySide && W <= net::kMaxSummarySide,
                "liednet info: --size must be in [1, ", net::kMaxSummarySide, "] on each side, got ", H, " ", W);
  Generator gen(0);
  net::LIEDNet model(net::preset(args.get_or("--preset", "liednet")), gen);
  if (args.has("--svg") || args.has("--svg-scan")) return write_diagrams(args, model, H, W);
  const bool side = H % 8 == 0 && W % 8 == 0;
  const net::NetworkSummary summary = net::summarize(model, H, W, side);

  std::printf("%s: dim %lld, blocks (%lld, %lld, %lld), %lld refinement blocks; FLOPs at 1x3x%lldx%lld\n",
              model.config.name.c_str(), static_cast<long long>(model.config.dim),
              static_cast<long long>(model.config.blocks[0]), static_cast<long long>(model.config.blocks[1]),
              static_cast<long long>(model.config.blocks[2]), static_cast<long long>(model.config.refinement),
              static_cast<long long>(H), static_cast<long long>(W));
  std::printf("%-22s %-20s %12s %10s\n", "module", "output", "params", "GFLOPs");
  for (const net::StageSummary& s : summary.stages)
    std::printf("%-22s %-20s %12s %10.3f%s\n", s.name.c_str(), s.output.str().c_str(), with_commas(s.params).c_str(),
                s.flops / 1e9, s.training_only ? "  (training only)" : "");
  if (!side) {
    int64_t side_params = 0;
    for (const auto& [name, p] : model.named_parameters())
      if (name.rfind("side_out.", 0) == 0) side_params += p.numel();
    std::printf("%-22s %-20s %12s %10s\n", "side_out", "-", with_commas(side_params).c_str(), "-");
  }
  std::printf("params: %lld\n", static_cast<long long>(summary.params));
  std::printf("flops: %.3f G\n", summary.flops / 1e9);
  std::printf("(multiply-adds count as 2 FLOPs: convolutions, linear layers and the 2D scan's projections and "
              "recurrence; the side output, used only in training, is not in the total)\n");
  return 0;
}

}  // namespace liednet::cli
