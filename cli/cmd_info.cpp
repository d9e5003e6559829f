// liednet info [--preset P] [--size H W]: modules, parameters and FLOPs per stage.
// liednet info [--preset P] [--size H W] --svg FILE | --svg-scan FILE: instead, the pictures of
// liednet/diagram.h (the U-Net drawn from the model; the four scan orders on a 4x4 grid).
#include <algorithm>
#include <cstdio>
#include <map>

#include "autograd/autograd.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/format.h"
#include "liednet/diagram.h"
#include "liednet/liednet.h"
#include "tensor/atomic_file.h"
#include "ops/flops.h"

namespace liednet::cli {

namespace {
// Parameters per stage of the table: a stage is a block ("encoder_level1.0")
// or a top-level module ("patch_embed").
std::string stage_of(const std::string& param) {
  const size_t a = param.find('.');
  const std::string top = param.substr(0, a);
  const bool is_level = top.rfind("encoder_level", 0) == 0 || top.rfind("decoder_level", 0) == 0 || top == "refinement";
  if (!is_level) return top;
  const size_t b = param.find('.', a + 1);
  return param.substr(0, b);
}
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
  LIEDNET_CHECK(H > 0 && W > 0, "liednet info: --size must be positive, got ", H, " ", W);
  Generator gen(0);
  net::LIEDNet model(net::preset(args.get_or("--preset", "liednet")), gen);
  if (args.has("--svg") || args.has("--svg-scan")) return write_diagrams(args, model, H, W);

  std::map<std::string, int64_t> params;
  for (const auto& [name, p] : model.named_parameters()) params[stage_of(name)] += p.numel();

  // FLOPs per stage: the counter's growth between two observer calls.
  std::vector<std::pair<std::string, int64_t>> flops;
  std::vector<std::pair<std::string, Shape>> shapes;
  ops::FlopCounter counter;
  int64_t last = 0;
  model.observer = [&](const std::string& name, const Tensor& y) {
    flops.push_back({name, counter.total() - last});
    shapes.push_back({name, y.shape()});
    last = counter.total();
  };
  {
    autograd::NoGradGuard no_grad;
    const bool side = H % 8 == 0 && W % 8 == 0;
    model.forward(Tensor::zeros({1, 3, H, W}), side);
  }

  std::printf("%s: dim %lld, blocks (%lld, %lld, %lld), %lld refinement blocks; FLOPs at 1x3x%lldx%lld\n",
              model.config.name.c_str(), static_cast<long long>(model.config.dim),
              static_cast<long long>(model.config.blocks[0]), static_cast<long long>(model.config.blocks[1]),
              static_cast<long long>(model.config.blocks[2]), static_cast<long long>(model.config.refinement),
              static_cast<long long>(H), static_cast<long long>(W));
  std::printf("%-22s %-20s %12s %10s\n", "module", "output", "params", "GFLOPs");
  int64_t total_flops = 0;
  for (size_t i = 0; i < flops.size(); ++i) {
    const auto& [name, f] = flops[i];
    const bool side = name == "side_out";
    if (!side) total_flops += f;
    std::printf("%-22s %-20s %12s %10.3f%s\n", name.c_str(), shapes[i].second.str().c_str(),
                with_commas(params.count(name) ? params[name] : 0).c_str(), f / 1e9, side ? "  (training only)" : "");
  }
  if (!params.count("side_out") || std::none_of(flops.begin(), flops.end(), [](auto& kv) { return kv.first == "side_out"; }))
    std::printf("%-22s %-20s %12s %10s\n", "side_out", "-", with_commas(params["side_out"]).c_str(), "-");
  std::printf("params: %lld\n", static_cast<long long>(model.parameter_count()));
  std::printf("flops: %.3f G\n", total_flops / 1e9);
  std::printf("(multiply-adds count as 2 FLOPs: convolutions, linear layers and the 2D scan's projections and "
              "recurrence; the side output, used only in training, is not in the total)\n");
  return 0;
}

}  // namespace liednet::cli
