// liednet info | init | forward | convert: the network as a program.
#include <cstdio>
#include <filesystem>
#include <map>

#include "autograd/autograd.h"
#include "liednet/config_infer.h"
#include "liednet/liednet.h"
#include "nn/state_dict.h"
#include "ops/flops.h"
#include "tensor/cuda.h"
#include "tensor/parallel.h"
#include "tensor/safetensors.h"
#include "train/args.h"
#include "train/commands.h"

namespace liednet::cli {

namespace {
std::string with_commas(int64_t v) {
  const std::string digits = std::to_string(v);
  std::string s;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0 && digits[i - 1] != '-') s += ',';
    s += digits[i];
  }
  return s;
}

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
}  // namespace

int cmd_info(const std::vector<std::string>& argv) {
  Args args("info", argv, {"--preset", "--size"}, {});
  const std::vector<int64_t> size = args.get_ints("--size");
  LIEDNET_CHECK(size.empty() || size.size() == 2, "liednet info: --size takes two numbers, H W");
  const int64_t H = size.empty() ? 256 : size[0], W = size.empty() ? 256 : size[1];
  LIEDNET_CHECK(H > 0 && W > 0, "liednet info: --size must be positive, got ", H, " ", W);
  Generator gen(0);
  net::LIEDNet model(net::preset(args.get_or("--preset", "liednet")), gen);

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

int cmd_init(const std::vector<std::string>& argv) {
  Args args("init", argv, {"--preset", "--seed", "--output"}, {});
  const std::string out = args.get("--output");
  Generator gen(static_cast<uint64_t>(args.get_int("--seed", 10)));
  net::LIEDNet model(net::preset(args.get_or("--preset", "liednet")), gen);
  nn::save_weights(model, out, {{"preset", model.config.name}, {"format", "pt"}});
  std::printf("wrote %s: %s, %s parameters in %zu tensors\n", out.c_str(), model.config.name.c_str(),
              with_commas(model.parameter_count()).c_str(), model.named_parameters().size());
  return 0;
}

int cmd_forward(const std::vector<std::string>& argv) {
  Args args("forward", argv, {"--weights", "--input", "--output", "--preset", "--dump", "--device"}, {"--side", "--tf32"});
  const Device device = device_option(args, "forward");
  const std::string weights = args.get("--weights"), input = args.get("--input"), output = args.get("--output");
  const std::unique_ptr<net::LIEDNet> loaded = net::load_for_inference(weights, args.get_or("--preset", ""), device);
  net::LIEDNet& model = *loaded;

  SafetensorsContents in = load_safetensors(input);
  Tensor x = in.at("input");
  LIEDNET_CHECK(x.ndim() == 4 && x.size(1) == 3, input, ": 'input' must be (N, 3, H, W), got ", x.str());
  if (x.dtype() != DType::F32) x = x.to(DType::F32);
  x = x.to(device);

  std::vector<std::pair<std::string, Tensor>> dumped;
  if (args.has("--dump"))
    model.observer = [&](const std::string& name, const Tensor& y) { dumped.push_back({name, y.to(Device::CPU)}); };
  autograd::NoGradGuard no_grad;
  const bool side = args.flag("--side");
  net::LIEDNetOutput r = model.forward(x, side);
  std::vector<std::pair<std::string, Tensor>> out{{"output", r.out.to(Device::CPU)}};
  if (side) out.push_back({"side", r.side.to(Device::CPU)});
  save_safetensors(output, out);
  std::printf("wrote %s: output %s%s\n", output.c_str(), r.out.shape().str().c_str(),
              side ? (", side " + r.side.shape().str()).c_str() : "");
  if (args.has("--dump")) {
    const std::string path = (std::filesystem::path(args.get("--dump")) / "activations.safetensors").string();
    save_safetensors(path, dumped);
    std::printf("wrote %s: %zu activations (every stage and block, in order)\n", path.c_str(), dumped.size());
  }
  return 0;
}

}  // namespace liednet::cli
