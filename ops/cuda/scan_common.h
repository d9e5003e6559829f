// What the two CUDA scans share: the fused four-direction 2D scan
// (ss2d_scan.cu) and the plain selective scan (selective_scan.cu) both walk
// each sequence in segments of kScanSegment steps, keep the state only at
// segment starts, and do every thread's work in __host__ __device__ functions
// (ss2d_scan_device.h, selective_scan_device.h), which the emulated device
// (-DLIEDNET_CUDA=EMULATE) runs on the CPU; the segment carries and every
// step of the recurrence and its adjoint are written once, below. Plain C++17: compiled by g++ and nvcc.
//
// Math is plain C (expf, log1pf), the same functions on both sides; the GPU's
// expf differs from glibc's by at most a couple of ulps.
#pragma once

#include <math.h>

#include <cstdint>

#ifdef __CUDACC__
#define LIEDNET_HD __host__ __device__
#else
#define LIEDNET_HD
#endif

namespace liednet::ops::cuda {

// Steps per segment: the forward keeps the state only at each segment's start;
// the backward recomputes a segment's states from it (kScanSegment x N values
// per thread).
constexpr int kScanSegment = 32;
// Largest state size (= ops::scan::kMaxState).
constexpr int kScanMaxState = 64;

namespace scan_device {

constexpr int kS = kScanSegment;

// Local state arrays: NS states when known at compile time, else the maximum.
template <int NS>
constexpr int kLanes = NS > 0 ? NS : kScanMaxState;

// torch's softplus (threshold 20) and its derivative.
LIEDNET_HD inline float softplus(float z) { return z > 20.0f ? z : log1pf(expf(z)); }
LIEDNET_HD inline float softplus_grad(float z) { return z > 20.0f ? 1.0f : 1.0f / (1.0f + expf(-z)); }

// The segment carries of one sequence, shared by both scans. The sequence's
// segments are numbered j0, j0 + step, ..., j0 + (nseg - 1) * step; a
// segment's n values start at [j * n]; A holds the sequence's n decay rates
// and sumdelta[j] the sum of dt over segment j.
//
// F2: the segments in order; hstart[seg] = carry, carry = exp(A sumdelta) carry + hloc[seg].
template <int NS>
LIEDNET_HD inline void forward_carry(const float* A, int n, int64_t j0, int64_t step, int64_t nseg,
                                     const float* sumdelta, const float* hloc, float* hstart) {
  float h[kLanes<NS>];
  for (int q = 0; q < n; ++q) h[q] = 0.0f;
  for (int64_t seg = 0; seg < nseg; ++seg) {
    const int64_t j = j0 + seg * step;
    const float sd = sumdelta[j];
    for (int q = 0; q < n; ++q) {
      hstart[j * n + q] = h[q];
      h[q] = expf(A[q] * sd) * h[q] + hloc[j * n + q];
    }
  }
}

// B2: the segments last to first; ghend[seg] = carry, carry = outloc[seg] + exp(A sumdelta) carry.
template <int NS>
LIEDNET_HD inline void backward_carry(const float* A, int n, int64_t j0, int64_t step, int64_t nseg,
                                      const float* sumdelta, const float* outloc, float* ghend) {
  float g[kLanes<NS>];
  for (int q = 0; q < n; ++q) g[q] = 0.0f;
  for (int64_t seg = nseg - 1; seg >= 0; --seg) {
    const int64_t j = j0 + seg * step;
    const float sd = sumdelta[j];
    for (int q = 0; q < n; ++q) {
      ghend[j * n + q] = g[q];
      g[q] = outloc[j * n + q] + expf(A[q] * sd) * g[q];
    }
  }
}


// ---- one step, shared by the phases of both scans -----------------------------------
// B's (and C's) n values for a step are `stride` apart: the plain scan keeps them
// as (N, L) rows (stride L, pointer at step t), the 2D scan as one projection row
// per pixel (stride 1).

// The recurrence: h[q] = exp(dt A[q]) hp[q] + du B[q] (hp may be h).
template <int NS>
LIEDNET_HD inline void state_step(const float* A, int n, float dt, float du, const float* B, int64_t stride,
                                  const float* hp, float* h) {
  for (int q = 0; q < n; ++q) h[q] = expf(dt * A[q]) * hp[q] + du * B[q * stride];
}

// The adjoint without the state (B1): g[q] = (g[q] + gy C[q]) exp(dt A[q]).
template <int NS>
LIEDNET_HD inline void adjoint_step(const float* A, int n, float dt, float gy, const float* C, int64_t stride,
                                    float* g) {
  for (int q = 0; q < n; ++q) g[q] = (g[q] + gy * C[q * stride]) * expf(dt * A[q]);
}

// The adjoint with the state before the step, hp (B3): adds gy C into g, then
// dL/dA into dA (in double), and carries g back through the step; returns the
// step's sums over the states of g (A a hp + u B), for dL/d dt, and of g B, for dL/du.
struct AdjointSums {
  float sdt, su;
};
template <int NS>
LIEDNET_HD inline AdjointSums adjoint_step_grads(const float* A, int n, float dt, float u, float gy, const float* B,
                                                 const float* C, int64_t stride, const float* hp, float* g,
                                                 double* dA) {
  float sdt = 0.0f, su = 0.0f;
  for (int q = 0; q < n; ++q) {
    const float Bq = B[q * stride];
    const float a = expf(dt * A[q]);
    g[q] += gy * C[q * stride];
    const float ah = a * hp[q];
    sdt += g[q] * (A[q] * ah + u * Bq);
    su += g[q] * Bq;
    dA[q] += static_cast<double>(g[q] * dt * ah);
    g[q] *= a;
  }
  return {sdt, su};
}

// B4 for one state of one channel over a segment of len steps: recompute its h
// from h0, then run its adjoint from g_end, adding each step's dL/dB_t and
// dL/dC_t into dB[q] and dC[q]. at(q) gives step q's values.
struct StateStep {
  float dt, u, gy, B, C;
};
template <class StepAt>
LIEDNET_HD inline void state_bc_segment(float A, int len, float h0, float g_end, const StepAt& at, float* dB,
                                        float* dC) {
  float hs[kS];
  float h = h0;
  for (int q = 0; q < len; ++q) {
    const StateStep s = at(q);
    h = expf(s.dt * A) * h + (s.dt * s.u) * s.B;
    hs[q] = h;
  }
  float g = g_end;
  for (int q = len - 1; q >= 0; --q) {
    const StateStep s = at(q);
    g += s.gy * s.C;
    dC[q] += s.gy * hs[q];
    dB[q] += g * (s.dt * s.u);
    g *= expf(s.dt * A);
  }
}

}  // namespace scan_device

}  // namespace liednet::ops::cuda
