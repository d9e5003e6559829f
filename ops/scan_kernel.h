// The selective-scan recurrence for one sequence, shared by the plain scan
// (ops/selective_scan) and the fused 2D scan (ops/ss2d_scan). Internal header.
//
// For one sequence (a batch element and a channel, in SS2D also a direction),
// with A (N), D and, per step t: input u_t, raw step z_t (delta + bias),
// B_t (N), C_t (N):
//   dt_t = softplus(z_t)              (or z_t when softplus is off)
//   a_t  = exp(dt_t * A)              (N values; A < 0 so 0 < a_t <= 1)
//   h_t  = a_t * h_{t-1} + dt_t * u_t * B_t,   h_{-1} = 0
//   y_t  = sum_n C_t[n] h_t[n] + D u_t
//
// The forward keeps only h at the start of each chunk of `chunk` steps. The
// backward walks the chunks in reverse; for each it recomputes h_t, a_t, dt_t
// from the saved start state and then runs the adjoint recurrence backwards
// (docs/selective_scan.md derives it):
//   g_t   = dL/dh_t = gy_t C_t + a_{t+1} g_{t+1}
//   dC_t += gy_t h_t;  dB_t += g_t dt_t u_t;  dA += g_t dt_t a_t h_{t-1}
//   du_t  = gy_t D + dt_t sum_n g_t B_t;  dD += gy_t u_t
//   ddt_t = sum_n g_t (A a_t h_{t-1} + u_t B_t);  dz_t = ddt_t softplus'(z_t)
//
// The state loops run over N lanes; sums over N use a fixed pairwise tree
// (tree_sum) so the compiler can vectorise them without reordering what the
// source says: results never depend on the thread count or the machine's
// vector width.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace liednet::ops::scan {

constexpr int kMaxState = 64;

// exp for the decay. float: range reduction x = k ln2 + r, |r| <= ln2/2, then
// e^r by its Taylor polynomial to degree 6 (relative error below 2e-7), scaled by
// 2^k through the exponent bits; branch-free so it vectorises over the states.
// Below -87 the result is 0 (the true value underflows float's normal range).
// double: std::exp, because gradient checks need full precision.
inline float decay_exp(float x) {
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
inline double decay_exp(double x) { return std::exp(x); }

// torch's softplus (beta 1, threshold 20) and its derivative.
template <typename T>
inline T softplus(T z) {
  return z > T(20) ? z : std::log1p(std::exp(z));
}
template <typename T>
inline T softplus_grad(T z) {
  return z > T(20) ? T(1) : T(1) / (T(1) + std::exp(-z));
}

// Sum of p[0..n) in a fixed pairwise order (for powers of two; otherwise the
// remainder is added in index order). p is overwritten.
template <typename T, int NS>
inline T tree_sum(T* p, int n_runtime) {
  int n = NS > 0 ? NS : n_runtime;
  while (n > 1 && n % 2 == 0) {
    const int half = n / 2;
    for (int i = 0; i < half; ++i) p[i] += p[i + half];
    n = half;
  }
  T s = p[0];
  for (int i = 1; i < n; ++i) s += p[i];
  return s;
}

// Per-thread buffers for recomputing one chunk in the backward.
template <typename T>
struct ChunkWorkspace {
  std::vector<T> h, a;        // (chunk, N): h_t and a_t
  std::vector<T> dt, dsp;     // (chunk): dt_t and softplus'(z_t)
  ChunkWorkspace(int64_t chunk, int n) : h(chunk * n), a(chunk * n), dt(chunk), dsp(chunk) {}
};

// Seq provides, in scan order t = 0..L-1:
//   T u(t), T z(t) (delta + bias), const T* B(t), const T* C(t), void y(t, T value).
// states: (ceil(L / chunk), N), the state before each chunk, or null when no backward follows.
template <typename T, int NS, typename Seq>
void forward_sequence(Seq& s, int64_t L, int n_runtime, const T* A, T D, bool use_softplus, int64_t chunk,
                      T* states) {
  const int n = NS > 0 ? NS : n_runtime;
  T h[kMaxState] = {};
  T prod[kMaxState];
  for (int64_t t = 0; t < L; ++t) {
    if (states && t % chunk == 0) std::memcpy(states + (t / chunk) * n, h, sizeof(T) * n);
    const T z = s.z(t);
    const T dt = use_softplus ? softplus(z) : z;
    const T u = s.u(t);
    const T du = dt * u;
    const T* B = s.B(t);
    const T* C = s.C(t);
    for (int i = 0; i < n; ++i) {
      h[i] = decay_exp(dt * A[i]) * h[i] + du * B[i];
      prod[i] = C[i] * h[i];
    }
    s.y(t, tree_sum<T, NS>(prod, n) + D * u);
  }
}

// Seq additionally provides: T gy(t), void add_du(t, T), void add_dz(t, T),
// T* dB(t), T* dC(t) (N values each, added into).
// dA (N) and dD, sums over the whole sequence, are added into in double.
template <typename T, int NS, typename Seq>
void backward_sequence(Seq& s, int64_t L, int n_runtime, const T* A, T D, bool use_softplus, int64_t chunk,
                       const T* states, ChunkWorkspace<T>& ws, double* dA, double& dD) {
  const int n = NS > 0 ? NS : n_runtime;
  T g[kMaxState] = {};  // dL/dh_t, carried backwards
  T pdt[kMaxState], pu[kMaxState];
  const int64_t chunks = (L + chunk - 1) / chunk;
  for (int64_t j = chunks - 1; j >= 0; --j) {
    const int64_t t0 = j * chunk, len = std::min(chunk, L - t0);
    const T* h0 = states + j * n;

    // Recompute the chunk from its saved start state.
    const T* hp = h0;
    for (int64_t i = 0; i < len; ++i) {
      const int64_t t = t0 + i;
      const T z = s.z(t);
      const T dt = use_softplus ? softplus(z) : z;
      ws.dt[i] = dt;
      ws.dsp[i] = use_softplus ? softplus_grad(z) : T(1);
      const T du = dt * s.u(t);
      const T* B = s.B(t);
      T* a = &ws.a[i * n];
      T* h = &ws.h[i * n];
      for (int k = 0; k < n; ++k) {
        a[k] = decay_exp(dt * A[k]);
        h[k] = a[k] * hp[k] + du * B[k];
      }
      hp = h;
    }

    // Adjoint, last step first.
    for (int64_t i = len - 1; i >= 0; --i) {
      const int64_t t = t0 + i;
      const T gy = s.gy(t);
      const T u = s.u(t);
      const T dt = ws.dt[i];
      const T* B = s.B(t);
      const T* C = s.C(t);
      const T* a = &ws.a[i * n];
      const T* h = &ws.h[i * n];
      const T* hprev = i > 0 ? &ws.h[(i - 1) * n] : h0;
      T* dB = s.dB(t);
      T* dC = s.dC(t);
      dD += static_cast<double>(gy * u);
      const T dtu = dt * u;
      for (int k = 0; k < n; ++k) {
        dC[k] += gy * h[k];
        g[k] += gy * C[k];
        const T ah = a[k] * hprev[k];
        pdt[k] = g[k] * (A[k] * ah + u * B[k]);
        pu[k] = g[k] * B[k];
        dA[k] += static_cast<double>(g[k] * dt * ah);
        dB[k] += g[k] * dtu;
        g[k] *= a[k];
      }
      s.add_du(t, gy * D + dt * tree_sum<T, NS>(pu, n));
      s.add_dz(t, tree_sum<T, NS>(pdt, n) * ws.dsp[i]);
    }
  }
}

// Calls f.template operator()<NS>() with the state size as a compile-time
// constant for the sizes that matter (LIEDNet uses 16), runtime otherwise.
template <typename F>
void dispatch_state_size(int n, F&& f) {
  switch (n) {
    case 16: f.template operator()<16>(); break;
    case 8: f.template operator()<8>(); break;
    default: f.template operator()<0>(); break;
  }
}

}  // namespace liednet::ops::scan
