// Naive sequential kernels for one sequence of the selective scan: every state
// kept, std::exp, sums in index order. They are the reference the fast kernels
// (scan_kernel.h) are tested against; nothing else should call them.
// B and C are read as B[n * stride + t].
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace liednet::ops::scan {

// The library's exp and log1p, never the fast approximations of scan_kernel.h.
template <typename T>
T reference_softplus(T z) {
  return z > T(20) ? z : std::log1p(std::exp(z));
}
template <typename T>
T reference_softplus_grad(T z) {
  return z > T(20) ? T(1) : T(1) / (T(1) + std::exp(-z));
}

// hs: (L, N), every state.
template <typename T>
void naive_forward(int64_t L, int N, const T* u, const T* z, const T* B, const T* C, int64_t stride, const T* A,
                   T D, bool use_softplus, T* y, T* hs) {
  std::vector<T> h(N, T(0));
  for (int64_t t = 0; t < L; ++t) {
    const T dt = use_softplus ? reference_softplus(z[t]) : z[t];
    T out = 0;
    for (int n = 0; n < N; ++n) {
      h[n] = std::exp(dt * A[n]) * h[n] + dt * B[n * stride + t] * u[t];
      out += C[n * stride + t] * h[n];
      hs[t * N + n] = h[n];
    }
    y[t] = out + D * u[t];
  }
}

// Adds the gradients of one sequence: du, dz (L); dB, dC (strided like B, C); dA (N); dD.
template <typename T>
void naive_backward(int64_t L, int N, const T* u, const T* z, const T* B, const T* C, int64_t stride, const T* A,
                    T D, bool use_softplus, const T* hs, const T* gy, T* du, T* dz, T* dB, T* dC, T* dA, T& dD) {
  std::vector<T> g(N, T(0));
  for (int64_t t = L - 1; t >= 0; --t) {
    const T dt = use_softplus ? reference_softplus(z[t]) : z[t];
    const T dsp = use_softplus ? reference_softplus_grad(z[t]) : T(1);
    dD += gy[t] * u[t];
    T ddt = 0, dusum = 0;
    for (int n = 0; n < N; ++n) {
      dC[n * stride + t] += gy[t] * hs[t * N + n];
      g[n] += gy[t] * C[n * stride + t];
      const T a = std::exp(dt * A[n]);
      const T hprev = t > 0 ? hs[(t - 1) * N + n] : T(0);
      ddt += g[n] * (A[n] * a * hprev + u[t] * B[n * stride + t]);
      dusum += g[n] * B[n * stride + t];
      dA[n] += g[n] * dt * a * hprev;
      dB[n * stride + t] += g[n] * dt * u[t];
      g[n] *= a;
    }
    du[t] += gy[t] * D + dt * dusum;
    dz[t] += ddt * dsp;
  }
}

}  // namespace liednet::ops::scan
