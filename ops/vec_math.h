// Float vectors of 8 lanes (one AVX2 register) through GCC's vector
// extensions, and a branch-free exp that vectorises, for the kernels that need
// exp inside their inner loops (ops/scan_kernel.h, ops/norm_gate.cpp).
// Internal header.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace liednet::ops::vec {

typedef float f32x8 __attribute__((vector_size(32)));
typedef int32_t i32x8 __attribute__((vector_size(32)));
typedef double f64x4 __attribute__((vector_size(32)));

inline f32x8 load8(const float* p) {
  f32x8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store8(float* p, f32x8 v) { std::memcpy(p, &v, sizeof v); }
// The first m (1..8) lanes, for a loop's last, partial vector: the lanes past m
// load as 0 and are not stored, so every element goes through the same vector
// code wherever a loop's range happens to end.
inline f32x8 load_first(const float* p, int64_t m) {
  if (m >= 8) return load8(p);
  f32x8 v = {};
  std::memcpy(&v, p, sizeof(float) * m);
  return v;
}
inline void store_first(float* p, f32x8 v, int64_t m) { std::memcpy(p, &v, sizeof(float) * std::min<int64_t>(m, 8)); }

// exp in float: range reduction x = k ln2 + r, |r| <= ln2/2, then e^r by its
// Taylor polynomial to degree 6 (relative error below 2e-7), scaled by 2^k
// through the exponent bits. Below -87 the result is 0 (the true value
// underflows float's normal range); above 88 it is e^88.
inline float fast_exp(float x) {
  const float xc = std::min(std::max(x, -87.0f), 88.0f);
  const float magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float k = (xc * 1.44269504088896341f + magic) - magic;
  const float r = (xc - k * 0.693145751953125f) - k * 1.428606765330187e-06f;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const float scale = std::bit_cast<float>((static_cast<int32_t>(k) + 127) << 23);
  return x < -87.0f ? 0.0f : p * scale;
}

// The same, lane by lane.
inline f32x8 fast_exp(f32x8 x) {
  const f32x8 lo = f32x8{} - 87.0f, hi = f32x8{} + 88.0f, zero = f32x8{};
  const f32x8 xc = x < lo ? lo : (x > hi ? hi : x);
  const float magic = 12582912.0f;
  const f32x8 k = (xc * 1.44269504088896341f + magic) - magic;
  const f32x8 r = (xc - k * 0.693145751953125f) - k * 1.428606765330187e-06f;
  f32x8 p = zero + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const f32x8 scale = reinterpret_cast<f32x8>((__builtin_convertvector(k, i32x8) + 127) << 23);
  return x < lo ? zero : p * scale;
}

// sigmoid(z) = 1 / (1 + e^-z), with e^-|z| so that nothing overflows.
inline f32x8 sigmoid(f32x8 z) {
  const f32x8 zero = {}, one = zero + 1.0f;
  const f32x8 e = fast_exp(z < zero ? z : -z);
  return (z >= zero ? one : e) / (1.0f + e);
}

// s[i] = sigmoid(z[i]) for any n: float 8 at a time with the fast exp
// (relative error below 3e-7), double with std::exp.
inline void sigmoid_n(const float* z, float* s, int64_t n) {
  for (int64_t i = 0; i < n; i += 8) store_first(s + i, sigmoid(load_first(z + i, n - i)), n - i);
}
inline void sigmoid_n(const double* z, double* s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double e = std::exp(-std::fabs(z[i]));
    s[i] = (z[i] >= 0 ? 1.0 : e) / (1.0 + e);
  }
}

// sum_i double(a[i] * b[i]), or of a[i] when b is null, in a fixed order:
// float in 8 interleaved partial sums (products in float, sums in double),
// double in 4; then the tail.
inline double sum_in_double(const float* a, const float* b, int64_t n) {
  f64x4 lo = {}, hi = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const f32x8 p = b ? load8(a + i) * load8(b + i) : load8(a + i);
    lo += __builtin_convertvector(__builtin_shufflevector(p, p, 0, 1, 2, 3), f64x4);
    hi += __builtin_convertvector(__builtin_shufflevector(p, p, 4, 5, 6, 7), f64x4);
  }
  const f64x4 acc = lo + hi;
  double s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  for (; i < n; ++i) s += static_cast<double>(b ? a[i] * b[i] : a[i]);
  return s;
}
inline double sum_in_double(const double* a, const double* b, int64_t n) {
  double acc[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int l = 0; l < 4; ++l) acc[l] += b ? a[i + l] * b[i + l] : a[i + l];
  double s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  for (; i < n; ++i) s += b ? a[i] * b[i] : a[i];
  return s;
}

}  // namespace liednet::ops::vec
