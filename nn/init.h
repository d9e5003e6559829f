// Initialisers, drawing from a seeded Generator. The defaults match PyTorch's
// nn.Linear / nn.Conv2d: weights Kaiming-uniform with a = sqrt(5), which is
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
#pragma once

#include "tensor/tensor.h"

namespace liednet::nn::init {

void uniform_(Tensor& t, double lo, double hi, Generator& gen);
void constant_(Tensor& t, double value);
// PyTorch's kaiming_uniform_ with leaky-ReLU slope a: bound = sqrt(6 / ((1 + a^2) fan_in)).
void kaiming_uniform_(Tensor& t, int64_t fan_in, double a, Generator& gen);
// The weight and bias of a torch Linear / Conv2d with this fan_in (in_channels / groups * kh * kw).
Tensor default_weight(const Shape& shape, int64_t fan_in, Generator& gen);
Tensor default_bias(int64_t n, int64_t fan_in, Generator& gen);

}  // namespace liednet::nn::init
