// liednet forward --weights W --input X.safetensors --output Y.safetensors [--side] [--dump DIR]
#include <cstdio>
#include <filesystem>

#include "autograd/autograd.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/overlap.h"
#include "data/input_range.h"
#include "liednet/config_infer.h"
#include "liednet/liednet.h"
#include "tensor/safetensors.h"

namespace liednet::cli {

int cmd_forward(const std::vector<std::string>& argv) {
  Args args("forward", argv, {"--weights", "--input", "--output", "--preset", "--dump", "--device"}, {"--side", "--tf32", "--profile"});
  profile_option(args);
  const Device device = device_option(args, "forward");
  const std::string weights = args.get("--weights"), input = args.get("--input"), output = args.get("--output");
  const std::vector<NamedPath> inputs{{"--input", input}, {"--weights", weights}};
  check_outputs_apart(inputs, {"--output", output});
  if (args.has("--dump")) check_outputs_apart(inputs, {"--dump", args.get("--dump")});
  const std::unique_ptr<net::LIEDNet> loaded = net::load_for_inference(weights, args.get_or("--preset", ""), device);
  net::LIEDNet& model = *loaded;
  // The input tensor is used as it is: say which range the weights expect (data/input_range.h).
  std::printf("%s\n", data::weights_input_range(weights).note.c_str());

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
