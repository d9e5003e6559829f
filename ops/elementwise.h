// Elementwise arithmetic. Shapes must match exactly: the only broadcasts are
// the explicit per-channel ones, whose backward reduces over the broadcast axes.
#pragma once

#include "tensor/tensor.h"

namespace liednet::ops {

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& x, double s);       // x * s
Tensor add_scalar(const Tensor& x, double s);  // x + s

// x (N, C, ...) plus/times a per-channel tensor b of shape (C) or (N, C).
Tensor add_channel(const Tensor& x, const Tensor& b);
Tensor mul_channel(const Tensor& x, const Tensor& b);

// dst += alpha * src, in place, no autograd: for backward functions and optimisers.
void add_into(Tensor& dst, const Tensor& src, double alpha = 1.0);

}  // namespace liednet::ops
