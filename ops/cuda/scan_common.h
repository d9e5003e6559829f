// What the two CUDA scans share: the fused four-direction 2D scan
// (ss2d_scan.cu) and the plain selective scan (selective_scan.cu) both walk
// each sequence in segments of kScanSegment steps, keep the state only at
// segment starts, and do every thread's work in __host__ __device__ functions
// (ss2d_scan_device.h, selective_scan_device.h) that the host-emulation tests
// run on the CPU. Plain C++17: compiled by g++ and nvcc.
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

}  // namespace scan_device

}  // namespace liednet::ops::cuda
