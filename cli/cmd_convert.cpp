// liednet convert IN.pth OUT.safetensors [--key K] [--input-range 0,1|-1,1]:
// PyTorch checkpoints to safetensors, natively, with the input range the
// weights expect in the metadata (data/input_range.h). IN may be a
// safetensors weights file too: the same tensors, with --input-range recorded.
#include <cstdio>
#include <map>

#include "data/input_range.h"

#include "nn/torch_checkpoint.h"
#include "tensor/safetensors.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/overlap.h"

namespace liednet::cli {

namespace {
// A state dict saved from nn.DataParallel (upstream's train_llie.py with
// several GPUs) has every key under "module."; liednet's keys have none.
int strip_module_prefix(std::vector<std::pair<std::string, Tensor>>& tensors) {
  for (const auto& [k, t] : tensors)
    if (k.rfind("module.", 0) != 0) return 0;
  for (auto& [k, t] : tensors) k.erase(0, 7);
  return static_cast<int>(tensors.size());
}

// The input range to record: --input-range when given, else what the
// checkpoint's layout tells (BasicSR's "params"/"params_ema": the LOL-Blur
// recipe, [-1, 1]; train_llie.py's "state_dict": the low-light recipe,
// [0, 1]); a bare state dict cannot tell, and the option is required.
std::string convert_input_range(const std::string& in, const std::string& source, const std::string& option) {
  if (!option.empty()) return data::input_range_text(data::parse_input_range(option, "liednet convert --input-range"));
  if (source == "params" || source == "params_ema") return "-1,1";
  if (source == "state_dict") return "0,1";
  fail(in, ": the checkpoint does not tell which input range its weights expect (no 'params' or 'state_dict' ",
       "entry); give --input-range 0,1 (upstream's low-light recipe, train_llie.py) or --input-range -1,1 (the "
       "LOL-Blur recipe)");
}
}  // namespace

int cmd_convert(const std::vector<std::string>& argv) {
  Args args("convert", argv, {"--key", "--input-range"}, {}, 2);
  LIEDNET_CHECK(args.positional().size() == 2, "liednet convert: usage: liednet convert IN.pth OUT.safetensors");
  const std::string in = args.positional()[0], out = args.positional()[1];
  check_outputs_apart({{"IN.pth", in}}, {"OUT.safetensors", out});
  std::vector<std::string> skipped;
  nn::TorchCheckpoint ck;
  std::string recorded;  // a safetensors input's own input_range, kept unless --input-range is given
  if (in.ends_with(".safetensors")) {  // weights without a recorded input range get one (--input-range)
    SafetensorsContents c = load_safetensors(in);
    ck.tensors = std::move(c.tensors);
    if (c.metadata.count("input_range")) recorded = c.metadata.at("input_range");
  } else
    ck = nn::load_torch_checkpoint(in, args.get_or("--key", ""), &skipped);
  LIEDNET_CHECK(!ck.tensors.empty(), in, ": the checkpoint holds no float tensors");
  const int stripped = strip_module_prefix(ck.tensors);
  // Only LIEDNet weights feed images to a network of ours; other checkpoints (VGG, LPIPS heads) record no range.
  bool liednet = false;
  for (const auto& [k, t] : ck.tensors) liednet |= k == "patch_embed.proj.weight";
  const std::string range = liednet || args.has("--input-range")
                                ? convert_input_range(in, ck.source, args.get_or("--input-range", recorded))
                                : "";
  std::map<std::string, std::string> meta{{"source", in}, {"format", "pt"}};
  if (!range.empty()) meta["input_range"] = range;
  save_safetensors(out, ck.tensors, meta);
  int64_t n = 0;
  for (const auto& kv : ck.tensors) n += kv.second.numel();
  std::printf("wrote %s: %zu tensors, %s values, from %s%s\n", out.c_str(), ck.tensors.size(), std::to_string(n).c_str(),
              in.c_str(), ck.source.empty() ? " (top level)" : (" ['" + ck.source + "']").c_str());
  for (const std::string& k : skipped) std::printf("skipped %s (not a float tensor)\n", k.c_str());
  if (stripped) std::printf("removed the 'module.' prefix of %d keys (a DataParallel state dict)\n", stripped);
  if (!range.empty())
    std::printf("input range [%s] recorded in %s\n", range == "0,1" ? "0, 1" : "-1, 1", out.c_str());
  return 0;
}

}  // namespace liednet::cli
