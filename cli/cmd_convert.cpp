// liednet convert IN.pth OUT.safetensors: PyTorch checkpoints to safetensors, natively.
#include <cstdio>

#include "nn/torch_checkpoint.h"
#include "tensor/safetensors.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/overlap.h"

namespace liednet::cli {

int cmd_convert(const std::vector<std::string>& argv) {
  Args args("convert", argv, {"--key"}, {}, 2);
  LIEDNET_CHECK(args.positional().size() == 2, "liednet convert: usage: liednet convert IN.pth OUT.safetensors");
  const std::string in = args.positional()[0], out = args.positional()[1];
  check_outputs_apart({{"IN.pth", in}}, {"OUT.safetensors", out});
  std::vector<std::string> skipped;
  nn::TorchCheckpoint ck = nn::load_torch_checkpoint(in, args.get_or("--key", ""), &skipped);
  LIEDNET_CHECK(!ck.tensors.empty(), in, ": the checkpoint holds no float tensors");
  save_safetensors(out, ck.tensors, {{"source", in}, {"format", "pt"}});
  int64_t n = 0;
  for (const auto& kv : ck.tensors) n += kv.second.numel();
  std::printf("wrote %s: %zu tensors, %s values, from %s%s\n", out.c_str(), ck.tensors.size(), std::to_string(n).c_str(),
              in.c_str(), ck.source.empty() ? " (top level)" : (" ['" + ck.source + "']").c_str());
  for (const std::string& k : skipped) std::printf("skipped %s (not a float tensor)\n", k.c_str());
  return 0;
}

}  // namespace liednet::cli
