// CUDA kernels of ops/selective_scan.cpp (the plain selective scan, mamba's
// semantics), as function pointers filled by register_selective_scan_kernels
// (ops/cuda/selective_scan.cu, CUDA builds only). ops/selective_scan_cuda.cpp
// calls them through cuda::selective_scan_kernels() when the inputs are on the GPU.
//
// The same plan as the fused 2D scan (ops/cuda/ss2d_scan.h): each sequence
// (sample, channel) is cut into segments of kScanSegment steps; the forward
// keeps the state only at segment starts, the backward recomputes a segment's
// states from it. ops/cuda/selective_scan_device.h holds every thread's work
// as __host__ __device__ functions (the kernels only index and call them; the
// host-emulation test runs the same functions on the CPU).
//
// Everything takes raw device pointers and explicit sizes, runs on the one
// stream (liednet::cuda_stream()) and returns without synchronising. No sum
// uses atomics: every output element and partial sum is owned by one thread
// and accumulated in a fixed order, so results are bit-identical from run to
// run on the same GPU.
//
// Plain C++17: this header is compiled by nvcc too.
#pragma once

#include <cstdint>

#include "ops/cuda/scan_common.h"  // kScanSegment, kScanMaxState

namespace liednet::ops::cuda {

// Sizes and buffers of one selective_scan call. "seg" arrays are indexed by
// the segment number j = (b * nseg + seg) * channels + c of sequence (b, c),
// so threads of neighbouring channels read the same B and C rows. Pointers a
// phase does not use may be null.
struct SelectiveScanParams {
  int64_t batch = 0, channels = 0, L = 0;  // u is (batch, channels, L)
  int64_t groups = 0, N = 0;               // B, C are (batch, groups, N, L); channels % groups == 0
  int64_t nseg = 0;                        // ceil(L / kScanSegment)
  bool softplus = true;                    // dt = softplus(delta + bias), else delta + bias

  // inputs
  const float* u = nullptr;      // (batch, channels, L)
  const float* delta = nullptr;  // (batch, channels, L)
  const float* A = nullptr;      // (channels, N)
  const float* B = nullptr;      // (batch, groups, N, L)
  const float* C = nullptr;      // (batch, groups, N, L)
  const float* D = nullptr;      // (channels), or null: D = 0
  const float* bias = nullptr;   // (channels), or null: bias = 0

  // forward
  float* hloc = nullptr;      // seg (N): the segment's end state when started from 0 (scratch)
  float* sumdelta = nullptr;  // seg: the sum of the segment's steps dt (saved for the backward)
  float* hstart = nullptr;    // seg (N): the state before the segment (saved for the backward)
  float* y = nullptr;         // (batch, channels, L)

  // backward
  const float* gy = nullptr;    // (batch, channels, L) upstream gradient
  float* outloc = nullptr;      // seg (N): a_t0 * dL/dh_t0 of the segment alone (zero carry in)
  float* ghend = nullptr;       // seg (N): the carry into the segment from the later ones
  float* dl = nullptr;          // (batch, channels, L): dt at each step (written by B3, read by B4)
  double* part_a = nullptr;     // seg (N): the segment's share of dL/dA
  double* part_d = nullptr;     // seg: of dL/dD
  double* part_bias = nullptr;  // seg: of dL/d delta_bias

  // results, added into (null when not needed)
  float* du = nullptr;      // (batch, channels, L)
  float* ddelta = nullptr;  // (batch, channels, L)
  float* dA = nullptr;      // (channels, N)
  float* dB = nullptr;      // (batch, groups, N, L)
  float* dC = nullptr;      // (batch, groups, N, L)
  float* dD = nullptr;      // (channels)
  float* dbias = nullptr;   // (channels)

  constexpr int64_t per_group() const { return channels / groups; }
  int64_t segments() const { return batch * nseg * channels; }
  int64_t sequences() const { return batch * channels; }
};

struct SelectiveScanKernels {
  // Forward phases F1-F3: fills hloc, sumdelta, hstart and y.
  void (*forward)(const SelectiveScanParams& p) = nullptr;
  // Backward phases B1-B4: fills outloc, ghend, dl and the part_* sums, adds
  // into du, ddelta, dB and dC (those not null).
  void (*backward)(const SelectiveScanParams& p) = nullptr;
  // B5: adds into the non-null of dA, dD and dbias the part_* sums over
  // samples and segments, in order.
  void (*reduce)(const SelectiveScanParams& p) = nullptr;
};

void register_selective_scan_kernels(SelectiveScanKernels& k);
const SelectiveScanKernels& selective_scan_kernels();

}  // namespace liednet::ops::cuda
