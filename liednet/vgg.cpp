#include "liednet/vgg.h"

#include "autograd/autograd.h"
#include "nn/state_dict.h"
#include "ops/activation.h"
#include "ops/elementwise.h"
#include "ops/pool.h"
#include "tensor/safetensors.h"

namespace liednet::net {

namespace {
constexpr std::array<int64_t, 12> kChannels{64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512};
constexpr double kMean[3] = {0.485, 0.456, 0.406};
constexpr double kStd[3] = {0.229, 0.224, 0.225};
}  // namespace

VGG19Features::VGG19Features(Generator& gen) : Module("VGG19Features") {
  auto features = register_module("features", std::make_shared<nn::Container>());
  int64_t in = 3;
  for (size_t i = 0; i < kConvIndices.size(); ++i) {
    convs_[i] = std::make_shared<nn::Conv2d>(in, kChannels[i], 3, 1, 1, 1, true, gen);
    features->add(std::to_string(kConvIndices[i]), convs_[i]);
    in = kChannels[i];
  }
  for (Tensor p : parameters()) p.set_requires_grad(false);  // frozen
}

std::array<Tensor, 4> VGG19Features::forward(const Tensor& x) const {
  // ((x + 1) / 2 - mean) / std per channel = x * (1 / (2 std)) + (0.5 - mean) / std.
  Tensor scale = Tensor::empty({3}, x.dtype()), shift = Tensor::empty({3}, x.dtype());
  for (int c = 0; c < 3; ++c) {
    scale.set({c}, 0.5 / kStd[c]);
    shift.set({c}, (0.5 - kMean[c]) / kStd[c]);
  }
  if (x.device() != Device::CPU) {
    scale = scale.to(x.device());
    shift = shift.to(x.device());
  }
  Tensor h = ops::add_channel(ops::mul_channel(x, scale), shift);
  std::array<Tensor, 4> out;
  // After conv k: 'p' pools after its ReLU, 'f' takes the feature (pre-ReLU).
  const char* after[12] = {"", "fp", "", "fp", "", "", "", "fp", "", "", "", "f"};
  int taken = 0;
  for (size_t i = 0; i < convs_.size(); ++i) {
    h = convs_[i]->forward(h);
    const std::string what = after[i];
    if (what.find('f') != std::string::npos) out[taken++] = h;
    if (taken == 4) break;
    h = ops::relu(h);
    if (what.find('p') != std::string::npos) h = ops::max_pool2x2(h);
  }
  return out;
}

void load_vgg_weights(VGG19Features& vgg, const std::string& path) {
  SafetensorsContents c = load_safetensors(path);
  nn::StateDict wanted;
  std::vector<std::string> missing;
  for (const auto& [name, p] : vgg.named_parameters()) {
    if (c.contains(name)) wanted.push_back({name, c.at(name)});
    else missing.push_back(name);
  }
  LIEDNET_CHECK(missing.empty(), path, ": not VGG19 weights: ", missing.size(), " of the 24 keys features.N.weight/bias "
                "are missing (first: ", missing.empty() ? "" : missing.front(), ")");
  nn::load_state_dict(vgg, wanted, true, path);
  for (Tensor p : vgg.parameters()) p.set_requires_grad(false);
}

}  // namespace liednet::net
