// Pointwise activations. Each keeps the input's shape, dtype and device.
#pragma once

#include <cmath>

#include "tensor/tensor.h"

namespace liednet::ops {

Tensor relu(const Tensor& x);      // max(x, 0); gradient 0 at x = 0, as torch
Tensor silu(const Tensor& x);      // x * sigmoid(x)
Tensor gelu(const Tensor& x);      // exact: 0.5 x (1 + erf(x / sqrt 2)), torch's default GELU
Tensor sigmoid(const Tensor& x);   // 1 / (1 + exp(-x)), never overflowing exp for large |x|
Tensor softplus(const Tensor& x);  // torch's beta = 1, threshold = 20: x if x > 20 else log1p(exp(x))
Tensor exp(const Tensor& x);

namespace detail {
// GELU's value and derivative, shared by ops::gelu and the fused ops that
// apply it (ops/dgdffn.h), so both round alike.
template <typename T>
T gelu_value(T x) {
  return T(0.5) * x * (T(1) + std::erf(x * T(M_SQRT1_2)));
}

// d/dx of x * Phi(x) = Phi(x) + x * phi(x).
template <typename T>
T gelu_derivative(T x) {
  const T cdf = T(0.5) * (T(1) + std::erf(x * T(M_SQRT1_2)));
  const T pdf = std::exp(T(-0.5) * x * x) * T(0.5 * M_2_SQRTPI * M_SQRT1_2);
  return cdf + x * pdf;
}
}  // namespace detail

}  // namespace liednet::ops
