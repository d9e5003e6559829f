// Pointwise activations. Each keeps the input's shape, dtype and device.
#pragma once

#include <cmath>

#include "ops/vec_math.h"
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
// apply it (ops/dgdffn.h). Double: x Phi(x) with Phi(x) = (1 + erf(x / sqrt 2)) / 2
// from the library's erf.
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

// Float: Phi(x) from erfc(z), z = |x| / sqrt 2, without library calls, in
// float or on 8 lanes (vec::f32x8) with the same operations (a scalar erff
// call per element was 2-3% of a training step):
//   erfc(z) = t exp(-z^2 + P(t)),  t = 1 / (1 + z / 2),
// with P the degree-9 Chebyshev fit published as `erfcc` in Numerical Recipes
// (relative error below 1.2e-7 for every z >= 0), and exp the branch-free
// vec::fast_exp. Phi(x) = 1 - erfc(z) / 2 for x >= 0 and erfc(z) / 2 below, so
// that the left tail keeps its relative accuracy (GELU(-5) = -1.4e-6 is not
// lost to cancellation). ops/activation_test.cpp bounds the error against
// double over [-12, 12].
template <typename V>  // float, or vec::f32x8 lane by lane
inline V normal_cdf(V x) {
  const V z = (x < 0.0f ? -x : x) * float(M_SQRT1_2);
  const V t = 1.0f / (1.0f + 0.5f * z);
  V p = t * 0.17087277f - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  const V half_erfc = 0.5f * t * vec::fast_exp(p - z * z);
  return x >= 0.0f ? 1.0f - half_erfc : half_erfc;
}
inline float gelu_value(float x) { return x * normal_cdf(x); }
inline vec::f32x8 gelu_value(vec::f32x8 x) { return x * normal_cdf(x); }
template <typename V>
inline V gelu_derivative_f32(V x) {
  return normal_cdf(x) + x * (vec::fast_exp(-0.5f * x * x) * float(0.5 * M_2_SQRTPI * M_SQRT1_2));
}
inline float gelu_derivative(float x) { return gelu_derivative_f32(x); }
inline vec::f32x8 gelu_derivative(vec::f32x8 x) { return gelu_derivative_f32(x); }
}  // namespace detail

}  // namespace liednet::ops
