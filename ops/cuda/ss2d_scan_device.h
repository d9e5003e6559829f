// Every thread's work of the CUDA ss2d_scan, as __host__ __device__ functions.
//
// Each function takes the call's SS2DScanParams and ONE flat thread index and does
// all the work of that thread; the kernels in ss2d_scan.cu only compute the
// index and call it. Plain g++ compiles this header too: the emulated CUDA
// device (-DLIEDNET_CUDA=EMULATE, docs/cuda.md) runs the kernels, and so these
// functions, on the CPU.
//
// Notation: sequence (b, k, c) = sample, direction, channel; its step t visits
// pixel ss2d_pixel(k, t, H, W). Segment seg covers steps [seg*S, min((seg+1)*S, L)),
// S = kScanSegment; its number j is ((b*4 + k)*nseg + seg)*d + c, so threads of
// neighbouring channels read the same projection rows. The recurrence and the
// adjoint are those of ops/scan_kernel.h:
//   delta = softplus(z), a_t = exp(delta A), h_t = a_t h_{t-1} + delta u_t B_t,
//   y_t = C_t . h_t + D u_t;  g = dL/dh walks backwards: g += gy C; ...; g *= a.
// A segment's decay of state n is prod_t a_t = exp(A_n * sum_t delta_t).
//
// Math is plain C (expf, log1pf): see scan_common.h.
#pragma once

#include <math.h>

#include <cstdint>

#include "ops/cuda/scan_common.h"
#include "ops/cuda/ss2d_scan.h"

namespace liednet::ops::cuda::ss2d_scan_device {

using scan_device::kLanes;
using scan_device::kS;
using scan_device::adjoint_step;
using scan_device::adjoint_step_grads;
using scan_device::state_step;
using scan_device::softplus;
using scan_device::softplus_grad;

LIEDNET_HD inline int64_t pixel(int64_t k, int64_t t, int64_t H, int64_t W) {
  const int64_t L = H * W;
  if (k >= 2) t = L - 1 - t;
  if (k % 2 == 0) return t;
  return (t % H) * W + t / H;
}

// The segment thread i = j (see above), decoded.
struct SegIndex {
  int64_t b, k, c, seg, bk, t0, t1;
  int64_t seq;    // (b*4 + k)*d + c: row of the plane arrays
  int64_t kc;     // k*d + c: row of the per-(direction, channel) parameters
};

LIEDNET_HD inline SegIndex seg_index(const SS2DScanParams& p, int64_t j) {
  SegIndex s;
  s.c = j % p.d;
  const int64_t r = j / p.d;
  s.seg = r % p.nseg;
  s.bk = r / p.nseg;
  s.b = s.bk / 4;
  s.k = s.bk % 4;
  s.t0 = s.seg * kS;
  s.t1 = s.t0 + kS < p.L ? s.t0 + kS : p.L;
  s.seq = s.bk * p.d + s.c;
  s.kc = s.k * p.d + s.c;
  return s;
}

// Projection row (dt, B, C) of direction k at pixel pix.
LIEDNET_HD inline const float* proj_row(const SS2DScanParams& p, int64_t b, int64_t k, int64_t pix) {
  return p.proj + (b * p.L + pix) * 4 * p.P + k * p.P;
}

// dt_raw = bias + dt_projs_weight[k, c] . proj dt rows (in the CPU op's order).
LIEDNET_HD inline float dt_raw(const SS2DScanParams& p, int64_t kc, const float* row) {
  const float* w = p.wdt + kc * p.R;
  float v = p.bias[kc];
  for (int64_t r = 0; r < p.R; ++r) v += w[r] * row[r];
  return v;
}

template <int NS>
LIEDNET_HD inline void load_A(const SS2DScanParams& p, int64_t kc, int n, float* A) {
  for (int q = 0; q < n; ++q) A[q] = -expf(p.alogs[kc * n + q]);
}

template <int NS>
LIEDNET_HD inline int states(const SS2DScanParams& p) {
  return NS > 0 ? NS : static_cast<int>(p.N);
}

// ---- forward ----------------------------------------------------------------------

// F1, per segment j: the segment from h = 0; writes hloc[j] and sumdelta[j].
template <int NS>
LIEDNET_HD inline void fwd_local(const SS2DScanParams& p, int64_t j) {
  const int n = states<NS>(p);
  const SegIndex s = seg_index(p, j);
  float A[kLanes<NS>], h[kLanes<NS>];
  load_A<NS>(p, s.kc, n, A);
  for (int q = 0; q < n; ++q) h[q] = 0.0f;
  const float* x = p.x + (s.b * p.d + s.c) * p.L;
  float sd = 0.0f;
  for (int64_t t = s.t0; t < s.t1; ++t) {
    const int64_t pix = pixel(s.k, t, p.H, p.W);
    const float* row = proj_row(p, s.b, s.k, pix);
    const float delta = softplus(dt_raw(p, s.kc, row));
    const float du = delta * x[pix];
    const float* B = row + p.R;
    sd += delta;
    state_step<NS>(A, n, delta, du, B, 1, h, h);
  }
  for (int q = 0; q < n; ++q) p.hloc[j * n + q] = h[q];
  p.sumdelta[j] = sd;
}

// F2, per sequence i = (b*4 + k)*d + c: the segments in order;
// hstart[seg] = carry, carry = exp(A sumdelta) carry + hloc.
template <int NS>
LIEDNET_HD inline void fwd_carry(const SS2DScanParams& p, int64_t i) {
  const int n = states<NS>(p);
  const int64_t c = i % p.d, bk = i / p.d, kc = (bk % 4) * p.d + c;
  float A[kLanes<NS>];
  load_A<NS>(p, kc, n, A);
  scan_device::forward_carry<NS>(A, n, bk * p.nseg * p.d + c, p.d, p.nseg, p.sumdelta, p.hloc, p.hstart);
}

// F3, per segment j: the segment from hstart; writes each step's output to ys at its pixel.
template <int NS>
LIEDNET_HD inline void fwd_output(const SS2DScanParams& p, int64_t j) {
  const int n = states<NS>(p);
  const SegIndex s = seg_index(p, j);
  float A[kLanes<NS>], h[kLanes<NS>];
  load_A<NS>(p, s.kc, n, A);
  for (int q = 0; q < n; ++q) h[q] = p.hstart[j * n + q];
  const float* x = p.x + (s.b * p.d + s.c) * p.L;
  const float D = p.ds[s.kc];
  float* ys = p.ys + s.seq * p.L;
  for (int64_t t = s.t0; t < s.t1; ++t) {
    const int64_t pix = pixel(s.k, t, p.H, p.W);
    const float* row = proj_row(p, s.b, s.k, pix);
    const float delta = softplus(dt_raw(p, s.kc, row));
    const float u = x[pix], du = delta * u;
    const float* B = row + p.R;
    const float* C = B + p.N;
    state_step<NS>(A, n, delta, du, B, 1, h, h);
    float acc = 0.0f;
    for (int q = 0; q < n; ++q) acc += C[q] * h[q];
    ys[pix] = acc + D * u;
  }
}

// F4, per output element i = (b*d + c)*L + pix: y = ((ys_0 + ys_1) + ys_2) + ys_3.
LIEDNET_HD inline void fwd_merge(const SS2DScanParams& p, int64_t i) {
  const int64_t pix = i % p.L, bc = i / p.L, c = bc % p.d, b = bc / p.d;
  const float* ys = p.ys + (b * 4 * p.d + c) * p.L + pix;
  const int64_t dir = p.d * p.L;  // from one direction's plane to the next
  p.y[i] = ((ys[0] + ys[dir]) + ys[2 * dir]) + ys[3 * dir];
}

// ---- backward ---------------------------------------------------------------------

// B1, per segment j: the adjoint over the segment from a zero carry;
// outloc[j] = what flows out of its first step (a_t0 * dL/dh_t0).
template <int NS>
LIEDNET_HD inline void bwd_local(const SS2DScanParams& p, int64_t j) {
  const int n = states<NS>(p);
  const SegIndex s = seg_index(p, j);
  float A[kLanes<NS>], g[kLanes<NS>];
  load_A<NS>(p, s.kc, n, A);
  for (int q = 0; q < n; ++q) g[q] = 0.0f;
  const float* gy = p.gy + (s.b * p.d + s.c) * p.L;
  for (int64_t t = s.t1 - 1; t >= s.t0; --t) {
    const int64_t pix = pixel(s.k, t, p.H, p.W);
    const float* row = proj_row(p, s.b, s.k, pix);
    const float delta = softplus(dt_raw(p, s.kc, row));
    const float gyv = gy[pix];
    const float* C = row + p.R + p.N;
    adjoint_step<NS>(A, n, delta, gyv, C, 1, g);
  }
  for (int q = 0; q < n; ++q) p.outloc[j * n + q] = g[q];
}

// B2, per sequence i: the segments last to first; ghend[seg] = carry,
// carry = outloc + exp(A sumdelta) carry.
template <int NS>
LIEDNET_HD inline void bwd_carry(const SS2DScanParams& p, int64_t i) {
  const int n = states<NS>(p);
  const int64_t c = i % p.d, bk = i / p.d, kc = (bk % 4) * p.d + c;
  float A[kLanes<NS>];
  load_A<NS>(p, kc, n, A);
  scan_device::backward_carry<NS>(A, n, bk * p.nseg * p.d + c, p.d, p.nseg, p.sumdelta, p.outloc, p.ghend);
}

// B3, per segment j: recompute h over the segment from hstart (kS x N local
// values), then the adjoint from ghend. Writes per step delta (dl, by step),
// du (at the pixel, when wanted) and gz = dL/d dt_raw (at the pixel); the
// segment's sums of dL/dA, dL/dD, dL/d bias and dL/d dt_projs_weight go to the
// part_* arrays, accumulated in double.
template <int NS>
LIEDNET_HD inline void bwd_segment(const SS2DScanParams& p, int64_t j) {
  const int n = states<NS>(p);
  const SegIndex s = seg_index(p, j);
  float A[kLanes<NS>], g[kLanes<NS>], h0[kLanes<NS>];
  float hs[kS][kLanes<NS>];
  float deltas[kS], dsp[kS];
  double dA[kLanes<NS>];
  load_A<NS>(p, s.kc, n, A);
  const float* x = p.x + (s.b * p.d + s.c) * p.L;
  const float* gy = p.gy + (s.b * p.d + s.c) * p.L;
  const int len = static_cast<int>(s.t1 - s.t0);
  for (int q = 0; q < n; ++q) h0[q] = p.hstart[j * n + q];
  for (int i = 0; i < len; ++i) {
    const int64_t t = s.t0 + i;
    const int64_t pix = pixel(s.k, t, p.H, p.W);
    const float* row = proj_row(p, s.b, s.k, pix);
    const float z = dt_raw(p, s.kc, row);
    const float delta = softplus(z);
    deltas[i] = delta;
    dsp[i] = softplus_grad(z);
    p.dl[s.seq * p.L + t] = delta;
    const float du = delta * x[pix];
    const float* B = row + p.R;
    const float* hp = i > 0 ? hs[i - 1] : h0;
    state_step<NS>(A, n, delta, du, B, 1, hp, hs[i]);
  }
  for (int q = 0; q < n; ++q) {
    g[q] = p.ghend[j * n + q];
    dA[q] = 0.0;
  }
  double dD = 0.0, dbias = 0.0;
  double* dw = p.part_w + j * p.R;
  for (int64_t r = 0; r < p.R; ++r) dw[r] = 0.0;
  const float D = p.ds[s.kc];
  for (int i = len - 1; i >= 0; --i) {
    const int64_t pix = pixel(s.k, s.t0 + i, p.H, p.W);
    const float* row = proj_row(p, s.b, s.k, pix);
    const float* B = row + p.R;
    const float* C = B + p.N;
    const float gyv = gy[pix], u = x[pix], delta = deltas[i];
    const float* hp = i > 0 ? hs[i - 1] : h0;
    dD += static_cast<double>(gyv * u);
    const scan_device::AdjointSums sums = adjoint_step_grads<NS>(A, n, delta, u, gyv, B, C, 1, hp, g, dA);
    const float gzv = sums.sdt * dsp[i];
    if (p.du) p.du[s.seq * p.L + pix] = gyv * D + delta * sums.su;
    p.gz[s.seq * p.L + pix] = gzv;
    dbias += gzv;
    for (int64_t r = 0; r < p.R; ++r) dw[r] += static_cast<double>(gzv * row[r]);
  }
  for (int q = 0; q < n; ++q) p.part_a[j * n + q] = dA[q];
  p.part_d[j] = dD;
  p.part_bias[j] = dbias;
}

// A channel's step values for B4 (direction k, state st), from step t0: dt (dl
// from B3, by step), u and gy (at the step's pixel), the state's B and C.
struct BCSteps {
  const SS2DScanParams* p;
  int64_t b, k, st, t0;
  const float *dl, *x, *gy;
  LIEDNET_HD scan_device::StateStep operator()(int q) const {
    const int64_t t = t0 + q, pix = pixel(k, t, p->H, p->W);
    const float* row = proj_row(*p, b, k, pix);
    return {dl[t], x[pix], gy[pix], row[p->R + st], row[p->R + p->N + st]};
  }
};

// B4, per i = ((b*4 + k)*N + state)*nseg + seg: for every channel in order,
// recompute that state over the segment from hstart and run its adjoint from
// ghend, summing dB_t and dC_t over the channels; then writes them to dproj's
// B and C rows of direction k at the steps' pixels. Uses dl from B3.
LIEDNET_HD inline void bwd_bc(const SS2DScanParams& p, int64_t i) {
  const int64_t seg = i % p.nseg, r = i / p.nseg, st = r % p.N, bk = r / p.N, b = bk / 4, k = bk % 4;
  const int64_t t0 = seg * kS, t1 = t0 + kS < p.L ? t0 + kS : p.L;
  const int len = static_cast<int>(t1 - t0);
  const int n = static_cast<int>(p.N);
  float dB[kS], dC[kS];
  for (int q = 0; q < len; ++q) dB[q] = dC[q] = 0.0f;
  for (int64_t c = 0; c < p.d; ++c) {
    const int64_t kc = k * p.d + c, seq = bk * p.d + c, j = (bk * p.nseg + seg) * p.d + c;
    const BCSteps at{&p, b, k, st, t0, p.dl + seq * p.L, p.x + (b * p.d + c) * p.L, p.gy + (b * p.d + c) * p.L};
    scan_device::state_bc_segment(-expf(p.alogs[kc * n + st]), len, p.hstart[j * n + st], p.ghend[j * n + st], at,
                                  dB, dC);
  }
  for (int q = 0; q < len; ++q) {
    const int64_t pix = pixel(k, t0 + q, p.H, p.W);
    float* out = p.dproj + (b * p.L + pix) * 4 * p.P + k * p.P + p.R;
    out[st] = dB[q];
    out[p.N + st] = dC[q];
  }
}

// B5, per i = (b*4 + k)*L + pix: dproj's dt rows of direction k at pixel pix,
// sum over channels (in order) of gz * dt_projs_weight.
LIEDNET_HD inline void bwd_dt_rows(const SS2DScanParams& p, int64_t i) {
  const int64_t pix = i % p.L, bk = i / p.L, b = bk / 4, k = bk % 4;
  float* out = p.dproj + (b * p.L + pix) * 4 * p.P + k * p.P;
  for (int64_t r = 0; r < p.R; ++r) {
    float v = 0.0f;
    for (int64_t c = 0; c < p.d; ++c) v += p.gz[(bk * p.d + c) * p.L + pix] * p.wdt[(k * p.d + c) * p.R + r];
    out[r] = v;
  }
}

// ---- B6: reductions in a fixed order (samples, then segments) ------------------------

// The sum over samples and segments of part[(j * width) + e] for parameter row kc.
LIEDNET_HD inline double sum_parts(const SS2DScanParams& p, const double* part, int64_t width, int64_t kc, int64_t e) {
  const int64_t k = kc / p.d, c = kc % p.d;
  double v = 0.0;
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t seg = 0; seg < p.nseg; ++seg) v += part[(((b * 4 + k) * p.nseg + seg) * p.d + c) * width + e];
  return v;
}

// Per i = kc*N + state: dA_logs += (sum dA) * A.
LIEDNET_HD inline void red_alogs(const SS2DScanParams& p, int64_t i) {
  const float A = -expf(p.alogs[i]);
  p.dalogs[i] += static_cast<float>(sum_parts(p, p.part_a, p.N, i / p.N, i % p.N) * A);
}

// Per i = kc: dDs and dt_projs_bias (either may be null).
LIEDNET_HD inline void red_channel(const SS2DScanParams& p, int64_t i) {
  if (p.dds) p.dds[i] += static_cast<float>(sum_parts(p, p.part_d, 1, i, 0));
  if (p.dbias) p.dbias[i] += static_cast<float>(sum_parts(p, p.part_bias, 1, i, 0));
}

// Per i = kc*R + r: dt_projs_weight.
LIEDNET_HD inline void red_wdt(const SS2DScanParams& p, int64_t i) {
  p.dwdt[i] += static_cast<float>(sum_parts(p, p.part_w, p.R, i / p.R, i % p.R));
}

// Per i = (b*d + c)*L + pix: dx += the four directions' du, in order.
LIEDNET_HD inline void red_dx(const SS2DScanParams& p, int64_t i) {
  const int64_t pix = i % p.L, bc = i / p.L, c = bc % p.d, b = bc / p.d;
  const float* du = p.du + (b * 4 * p.d + c) * p.L + pix;
  const int64_t dir = p.d * p.L;
  p.dx[i] = (((p.dx[i] + du[0]) + du[dir]) + du[2 * dir]) + du[3 * dir];
}

}  // namespace liednet::ops::cuda::ss2d_scan_device
