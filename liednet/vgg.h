// VGG19 features for the perceptual loss: torchvision's layout (`features.N`
// with convs at N = 0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25), frozen, run up
// to conv4_4. Inputs in [-1, 1] are mapped to [0, 1] and normalised with
// ImageNet's mean and std; the features are taken before the ReLU at conv1_2,
// conv2_2, conv3_4 and conv4_4, as upstream's VGGFeatureExtractor does.
#pragma once

#include <array>
#include <string>

#include "nn/layers.h"

namespace liednet::net {

class VGG19Features : public nn::Module {
 public:
  explicit VGG19Features(Generator& gen);  // random weights (tests); load real ones with load_vgg_weights
  // (N, 3, H, W) in [-1, 1] -> the four pre-ReLU features.
  std::array<Tensor, 4> forward(const Tensor& x) const;
  static constexpr std::array<int, 12> kConvIndices{0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25};

 private:
  std::array<std::shared_ptr<nn::Conv2d>, 12> convs_;
};

// Loads `features.N.weight/bias` from a safetensors file (the hub's timm/vgg19.tv_in1k model.safetensors works;
// other keys are ignored) and freezes the network. An error naming the file and the missing keys otherwise.
void load_vgg_weights(VGG19Features& vgg, const std::string& path);

}  // namespace liednet::net
