// LayerNorm over the channel axis: the network is NCHW throughout, so the C
// values normalised together sit H*W apart in memory.
#pragma once

#include "tensor/tensor.h"

namespace liednet::ops {

// x (N, C, ...) normalised over C at each position of the trailing dims:
//   y = (x - mean_c) / sqrt(var_c + eps) * weight + bias,  biased variance,
// i.e. torch's nn.LayerNorm(C) on the channels-last permutation. weight and
// bias are (C); either may be an undefined Tensor() (scale 1, shift 0).
// Gradients for x, weight and bias.
Tensor layer_norm_channels(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-5);

}  // namespace liednet::ops
