// Pointwise activations. Each keeps the input's shape, dtype and device.
#pragma once

#include "tensor/tensor.h"

namespace liednet::ops {

Tensor relu(const Tensor& x);      // max(x, 0); gradient 0 at x = 0, as torch
Tensor silu(const Tensor& x);      // x * sigmoid(x)
Tensor gelu(const Tensor& x);      // exact: 0.5 x (1 + erf(x / sqrt 2)), torch's default GELU
Tensor sigmoid(const Tensor& x);   // 1 / (1 + exp(-x)), never overflowing exp for large |x|
Tensor softplus(const Tensor& x);  // torch's beta = 1, threshold = 20: x if x > 20 else log1p(exp(x))
Tensor exp(const Tensor& x);

}  // namespace liednet::ops
