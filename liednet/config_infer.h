// Reading a LIEDNet configuration back from a state dict, so that commands can
// load weights without being told the preset.
#pragma once

#include <memory>
#include <string>

#include "liednet/liednet.h"
#include "nn/state_dict.h"

namespace liednet::net {

// dim from patch_embed.proj.weight, block counts from the highest index under
// each level; an error naming `source` when the keys are not LIEDNet's.
LIEDNetConfig config_from_state_dict(const nn::StateDict& sd, const std::string& source);

// The preset named `name`, or, when empty, the configuration the weights describe.
LIEDNetConfig resolve_config(const std::string& name, const nn::StateDict& sd, const std::string& source);

// The network of a safetensors weights file (configuration from `preset`, or
// inferred when empty; every key must match), in eval mode, on `device`.
std::unique_ptr<LIEDNet> load_for_inference(const std::string& weights, const std::string& preset, Device device);

}  // namespace liednet::net
