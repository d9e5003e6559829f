#include "liednet/config_infer.h"

#include <cstdlib>

#include "tensor/safetensors.h"

namespace liednet::net {

namespace {
// 1 + the largest i among keys "<level>.<i>.*", or 0.
int64_t count_blocks(const nn::StateDict& sd, const std::string& level) {
  int64_t n = 0;
  const std::string prefix = level + ".";
  for (const auto& kv : sd)
    if (kv.first.rfind(prefix, 0) == 0) n = std::max<int64_t>(n, std::atoll(kv.first.c_str() + prefix.size()) + 1);
  return n;
}
}  // namespace

LIEDNetConfig config_from_state_dict(const nn::StateDict& sd, const std::string& source) {
  const Tensor* embed = nullptr;
  for (const auto& kv : sd)
    if (kv.first == "patch_embed.proj.weight") embed = &kv.second;
  LIEDNET_CHECK(embed && embed->ndim() == 4, source, ": no patch_embed.proj.weight, so these are not LIEDNet weights");
  LIEDNetConfig c;
  c.dim = embed->size(0);
  c.blocks = {count_blocks(sd, "encoder_level1"), count_blocks(sd, "encoder_level2"), count_blocks(sd, "encoder_level3")};
  c.refinement = count_blocks(sd, "refinement");
  c.name = c.dim == 32 ? "liednet" : c.dim == 64 ? "liednet-l" : "liednet (dim " + std::to_string(c.dim) + ")";
  LIEDNET_CHECK(c.blocks[0] > 0 && c.blocks[1] > 0 && c.blocks[2] > 0, source,
                ": found no encoder blocks, so these are not LIEDNet weights");
  return c;
}

LIEDNetConfig resolve_config(const std::string& name, const nn::StateDict& sd, const std::string& source) {
  return name.empty() ? config_from_state_dict(sd, source) : preset(name);
}

std::unique_ptr<LIEDNet> load_for_inference(const std::string& weights, const std::string& preset, Device device) {
  const SafetensorsContents w = load_safetensors(weights);
  Generator gen(0);  // the initial values are all overwritten
  auto model = std::make_unique<LIEDNet>(resolve_config(preset, w.tensors, weights), gen);
  nn::load_state_dict(*model, w.tensors, true, weights);
  model->eval();
  model->to(device);
  return model;
}

}  // namespace liednet::net
