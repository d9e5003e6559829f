// SS2D's output gate as one op: LayerNorm over the channels of y, times SiLU(z).
//
//   y, z (N, C, H, W); weight, bias (C)
//   out = ((y - mean_c y) * rstd * weight + bias) * z * sigmoid(z),   rstd = 1 / sqrt(var_c y + eps)
//
// It is ops::mul(ops::layer_norm_channels(y, weight, bias, eps), ops::silu(z))
// (the tests' reference) in one pass: neither the normalised y nor SiLU(z) is
// ever a tensor. The backward recomputes both from the saved y, z and the
// per-pixel mean and rstd. Gradients for y, weight, bias and z; bit-identical
// for any thread count. CPU only (f32, f64).
#pragma once

#include "tensor/tensor.h"

namespace liednet::ops {

Tensor norm_silu_gate(const Tensor& y, const Tensor& weight, const Tensor& bias, const Tensor& z, double eps = 1e-5);

}  // namespace liednet::ops
