// Every thread's work of the CUDA selective_scan, as __host__ __device__ functions.
//
// Each function takes the call's SelectiveScanParams and ONE flat thread index
// and does all the work of that thread; the kernels in selective_scan.cu only
// compute the index and call it. Plain g++ compiles this header too: the
// emulated CUDA device (-DLIEDNET_CUDA=EMULATE, docs/cuda.md) runs the kernels,
// and so these functions, on the CPU.
//
// Notation: sequence (b, c) = sample, channel, in group g = c / (channels /
// groups), whose B and C it reads. Segment seg covers steps
// [seg*S, min((seg+1)*S, L)), S = kScanSegment; its number j is
// (b*nseg + seg)*channels + c. The recurrence and the adjoint are those of
// ops/scan_kernel.h:
//   dt = softplus(delta + bias), a_t = exp(dt A), h_t = a_t h_{t-1} + dt u_t B_t,
//   y_t = C_t . h_t + D u_t;  g = dL/dh walks backwards: g += gy C; ...; g *= a.
// A segment's decay of state n is prod_t a_t = exp(A_n * sum_t dt_t).
//
// Math is plain C (expf, log1pf): see scan_common.h.
#pragma once

#include <math.h>

#include <cstdint>

#include "ops/cuda/scan_common.h"
#include "ops/cuda/selective_scan.h"

namespace liednet::ops::cuda::selective_scan_device {

using scan_device::kLanes;
using scan_device::kS;
using scan_device::adjoint_step;
using scan_device::adjoint_step_grads;
using scan_device::state_step;
using scan_device::softplus;
using scan_device::softplus_grad;

// The segment thread j (see above), decoded.
struct SegIndex {
  int64_t b, c, g, seg, t0, t1;
  int64_t seq;  // b*channels + c: row of u, delta, y and their gradients
};

LIEDNET_HD inline SegIndex seg_index(const SelectiveScanParams& p, int64_t j) {
  SegIndex s;
  s.c = j % p.channels;
  const int64_t r = j / p.channels;
  s.seg = r % p.nseg;
  s.b = r / p.nseg;
  s.g = s.c / p.per_group();
  s.t0 = s.seg * kS;
  s.t1 = s.t0 + kS < p.L ? s.t0 + kS : p.L;
  s.seq = s.b * p.channels + s.c;
  return s;
}

template <int NS>
LIEDNET_HD inline int states(const SelectiveScanParams& p) {
  return NS > 0 ? NS : static_cast<int>(p.N);
}

// Row n of B (or C) of sample b, group g starts at the returned pointer + n * L.
LIEDNET_HD inline const float* group_rows(const SelectiveScanParams& p, const float* BC, int64_t b, int64_t g) {
  return BC + (b * p.groups + g) * p.N * p.L;
}

// The raw step z = delta + bias of step t of sequence seq (channel c).
LIEDNET_HD inline float raw_step(const SelectiveScanParams& p, int64_t seq, int64_t c, int64_t t) {
  return p.delta[seq * p.L + t] + (p.bias ? p.bias[c] : 0.0f);
}
LIEDNET_HD inline float step(const SelectiveScanParams& p, float z) { return p.softplus ? softplus(z) : z; }
LIEDNET_HD inline float step_grad(const SelectiveScanParams& p, float z) { return p.softplus ? softplus_grad(z) : 1.0f; }

template <int NS>
LIEDNET_HD inline void load_A(const SelectiveScanParams& p, int64_t c, int n, float* A) {
  for (int q = 0; q < n; ++q) A[q] = p.A[c * n + q];
}

// ---- forward ----------------------------------------------------------------------

// F1, per segment j: the segment from h = 0; writes hloc[j] and sumdelta[j].
template <int NS>
LIEDNET_HD inline void fwd_local(const SelectiveScanParams& p, int64_t j) {
  const int n = states<NS>(p);
  const SegIndex s = seg_index(p, j);
  float A[kLanes<NS>], h[kLanes<NS>];
  load_A<NS>(p, s.c, n, A);
  for (int q = 0; q < n; ++q) h[q] = 0.0f;
  const float* u = p.u + s.seq * p.L;
  const float* B = group_rows(p, p.B, s.b, s.g);
  float sd = 0.0f;
  for (int64_t t = s.t0; t < s.t1; ++t) {
    const float dt = step(p, raw_step(p, s.seq, s.c, t));
    const float du = dt * u[t];
    sd += dt;
    state_step<NS>(A, n, dt, du, B + t, p.L, h, h);
  }
  for (int q = 0; q < n; ++q) p.hloc[j * n + q] = h[q];
  p.sumdelta[j] = sd;
}

// F2, per sequence i = b*channels + c: the segments in order;
// hstart[seg] = carry, carry = exp(A sumdelta) carry + hloc.
template <int NS>
LIEDNET_HD inline void fwd_carry(const SelectiveScanParams& p, int64_t i) {
  const int n = states<NS>(p);
  const int64_t c = i % p.channels, b = i / p.channels;
  float A[kLanes<NS>];
  load_A<NS>(p, c, n, A);
  scan_device::forward_carry<NS>(A, n, b * p.nseg * p.channels + c, p.channels, p.nseg, p.sumdelta, p.hloc, p.hstart);
}

// F3, per segment j: the segment from hstart; writes y at its steps.
template <int NS>
LIEDNET_HD inline void fwd_output(const SelectiveScanParams& p, int64_t j) {
  const int n = states<NS>(p);
  const SegIndex s = seg_index(p, j);
  float A[kLanes<NS>], h[kLanes<NS>];
  load_A<NS>(p, s.c, n, A);
  for (int q = 0; q < n; ++q) h[q] = p.hstart[j * n + q];
  const float* u = p.u + s.seq * p.L;
  const float* B = group_rows(p, p.B, s.b, s.g);
  const float* C = group_rows(p, p.C, s.b, s.g);
  const float D = p.D ? p.D[s.c] : 0.0f;
  for (int64_t t = s.t0; t < s.t1; ++t) {
    const float dt = step(p, raw_step(p, s.seq, s.c, t));
    const float du = dt * u[t];
    state_step<NS>(A, n, dt, du, B + t, p.L, h, h);
    float acc = 0.0f;
    for (int q = 0; q < n; ++q) acc += C[q * p.L + t] * h[q];
    p.y[s.seq * p.L + t] = acc + D * u[t];
  }
}

// ---- backward ---------------------------------------------------------------------

// B1, per segment j: the adjoint over the segment from a zero carry;
// outloc[j] = what flows out of its first step (a_t0 * dL/dh_t0).
template <int NS>
LIEDNET_HD inline void bwd_local(const SelectiveScanParams& p, int64_t j) {
  const int n = states<NS>(p);
  const SegIndex s = seg_index(p, j);
  float A[kLanes<NS>], g[kLanes<NS>];
  load_A<NS>(p, s.c, n, A);
  for (int q = 0; q < n; ++q) g[q] = 0.0f;
  const float* gy = p.gy + s.seq * p.L;
  const float* C = group_rows(p, p.C, s.b, s.g);
  for (int64_t t = s.t1 - 1; t >= s.t0; --t) {
    const float dt = step(p, raw_step(p, s.seq, s.c, t));
    const float gyv = gy[t];
    adjoint_step<NS>(A, n, dt, gyv, C + t, p.L, g);
  }
  for (int q = 0; q < n; ++q) p.outloc[j * n + q] = g[q];
}

// B2, per sequence i: the segments last to first; ghend[seg] = carry,
// carry = outloc + exp(A sumdelta) carry.
template <int NS>
LIEDNET_HD inline void bwd_carry(const SelectiveScanParams& p, int64_t i) {
  const int n = states<NS>(p);
  const int64_t c = i % p.channels, b = i / p.channels;
  float A[kLanes<NS>];
  load_A<NS>(p, c, n, A);
  scan_device::backward_carry<NS>(A, n, b * p.nseg * p.channels + c, p.channels, p.nseg, p.sumdelta, p.outloc, p.ghend);
}

// B3, per segment j: recompute h over the segment from hstart (kS x N local
// values), then the adjoint from ghend. Writes dt per step (dl), adds into du
// and ddelta at its steps (each step belongs to this thread alone); the
// segment's sums of dL/dA, dL/dD and dL/d delta_bias go to the part_* arrays,
// accumulated in double.
template <int NS>
LIEDNET_HD inline void bwd_segment(const SelectiveScanParams& p, int64_t j) {
  const int n = states<NS>(p);
  const SegIndex s = seg_index(p, j);
  float A[kLanes<NS>], g[kLanes<NS>], h0[kLanes<NS>];
  float hs[kS][kLanes<NS>];
  float dts[kS], dsp[kS];
  double dA[kLanes<NS>];
  load_A<NS>(p, s.c, n, A);
  const float* u = p.u + s.seq * p.L;
  const float* gy = p.gy + s.seq * p.L;
  const float* B = group_rows(p, p.B, s.b, s.g);
  const float* C = group_rows(p, p.C, s.b, s.g);
  const int len = static_cast<int>(s.t1 - s.t0);
  for (int q = 0; q < n; ++q) h0[q] = p.hstart[j * n + q];
  for (int i = 0; i < len; ++i) {
    const int64_t t = s.t0 + i;
    const float z = raw_step(p, s.seq, s.c, t);
    const float dt = step(p, z);
    dts[i] = dt;
    dsp[i] = step_grad(p, z);
    p.dl[s.seq * p.L + t] = dt;
    const float du = dt * u[t];
    const float* hp = i > 0 ? hs[i - 1] : h0;
    state_step<NS>(A, n, dt, du, B + t, p.L, hp, hs[i]);
  }
  for (int q = 0; q < n; ++q) {
    g[q] = p.ghend[j * n + q];
    dA[q] = 0.0;
  }
  double dD = 0.0, dbias = 0.0;
  const float D = p.D ? p.D[s.c] : 0.0f;
  for (int i = len - 1; i >= 0; --i) {
    const int64_t t = s.t0 + i;
    const float gyv = gy[t], uv = u[t], dt = dts[i];
    const float* hp = i > 0 ? hs[i - 1] : h0;
    dD += static_cast<double>(gyv * uv);
    const scan_device::AdjointSums sums = adjoint_step_grads<NS>(A, n, dt, uv, gyv, B + t, C + t, p.L, hp, g, dA);
    if (p.du) p.du[s.seq * p.L + t] += gyv * D + dt * sums.su;
    const float dz = sums.sdt * dsp[i];
    if (p.ddelta) p.ddelta[s.seq * p.L + t] += dz;
    dbias += dz;
  }
  for (int q = 0; q < n; ++q) p.part_a[j * n + q] = dA[q];
  p.part_d[j] = dD;
  p.part_bias[j] = dbias;
}

// A channel's step values for B4, from the segment's first step: dt (dl from B3), u, gy, and the state's B and C.
struct BCSteps {
  const float *dt, *u, *gy, *B, *C;
  LIEDNET_HD scan_device::StateStep operator()(int q) const { return {dt[q], u[q], gy[q], B[q], C[q]}; }
};

// B4, per i = ((b*groups + g)*N + state)*nseg + seg: for every channel of group
// g in order, recompute that state over the segment from hstart and run its
// adjoint from ghend, summing dB_t and dC_t over the channels; then adds them
// into dB and dC (those not null) at the segment's steps. Uses dl from B3.
LIEDNET_HD inline void bwd_bc(const SelectiveScanParams& p, int64_t i) {
  const int64_t seg = i % p.nseg, r = i / p.nseg, st = r % p.N, bg = r / p.N, g = bg % p.groups, b = bg / p.groups;
  const int64_t t0 = seg * kS, t1 = t0 + kS < p.L ? t0 + kS : p.L;
  const int len = static_cast<int>(t1 - t0);
  const int64_t row = (bg * p.N + st) * p.L;  // this state's row of B, C, dB and dC
  float dB[kS], dC[kS];
  for (int q = 0; q < len; ++q) dB[q] = dC[q] = 0.0f;
  const int64_t pg = p.per_group();
  for (int64_t c = g * pg; c < (g + 1) * pg; ++c) {
    const int64_t seq = b * p.channels + c, j = (b * p.nseg + seg) * p.channels + c;
    const BCSteps at{p.dl + seq * p.L + t0, p.u + seq * p.L + t0, p.gy + seq * p.L + t0, p.B + row + t0, p.C + row + t0};
    scan_device::state_bc_segment(p.A[c * p.N + st], len, p.hstart[j * p.N + st], p.ghend[j * p.N + st], at, dB, dC);
  }
  for (int q = 0; q < len; ++q) {
    if (p.dB) p.dB[row + t0 + q] += dB[q];
    if (p.dC) p.dC[row + t0 + q] += dC[q];
  }
}

// ---- B5: reductions in a fixed order (samples, then segments) ------------------------

// The sum over samples and segments of part[(j * width) + e] for channel c.
LIEDNET_HD inline double sum_parts(const SelectiveScanParams& p, const double* part, int64_t width, int64_t c,
                                   int64_t e) {
  double v = 0.0;
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t seg = 0; seg < p.nseg; ++seg) v += part[((b * p.nseg + seg) * p.channels + c) * width + e];
  return v;
}

// Per i = c*N + state: dA.
LIEDNET_HD inline void red_A(const SelectiveScanParams& p, int64_t i) {
  p.dA[i] += static_cast<float>(sum_parts(p, p.part_a, p.N, i / p.N, i % p.N));
}

// Per i = c: dD and delta_bias (either may be null).
LIEDNET_HD inline void red_channel(const SelectiveScanParams& p, int64_t i) {
  if (p.dD) p.dD[i] += static_cast<float>(sum_parts(p, p.part_d, 1, i, 0));
  if (p.dbias) p.dbias[i] += static_cast<float>(sum_parts(p, p.part_bias, 1, i, 0));
}

}  // namespace liednet::ops::cuda::selective_scan_device
