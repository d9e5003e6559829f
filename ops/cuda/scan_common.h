// What the two CUDA scans share: the fused four-direction 2D scan
// (ss2d_scan.cu) and the plain selective scan (selective_scan.cu) both walk
// each sequence in segments of kScanSegment steps, keep the state only at
// segment starts, and do every thread's work in __host__ __device__ functions
// (ss2d_scan_device.h, selective_scan_device.h), which the emulated device
// (-DLIEDNET_CUDA=EMULATE) runs on the CPU. Plain C++17: compiled by g++ and nvcc.
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

}  // namespace scan_device

}  // namespace liednet::ops::cuda
