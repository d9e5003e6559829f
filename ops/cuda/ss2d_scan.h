// CUDA kernels of ops/ss2d_scan.cpp, as function pointers filled by
// register_ss2d_scan_kernels (ops/cuda/ss2d_scan.cu, CUDA builds only). The op
// file calls them through cuda::ss2d_scan_kernels() when its inputs are on the
// GPU; its projection GEMMs go through ops/cuda/gemm.h.
//
// The fused four-direction 2D scan (ops/ss2d_scan) on the GPU runs in phases
// over segments of kScanSegment steps; ops/cuda/ss2d_scan_device.h holds every
// thread's work as __host__ __device__ functions (the kernels only index and
// call them, and the host-emulation test runs the same functions on the CPU).
// docs/cuda.md ("The scans on CUDA") describes the phases.
//
// Everything takes raw device pointers and explicit sizes (SS2DScanParams), runs
// on the one stream (liednet::cuda_stream()) and returns without
// synchronising. No sum uses atomics: every output element and every partial
// sum is owned by one thread and accumulated in a fixed order, so results are
// bit-identical from run to run on the same GPU.
//
// Plain C++17: this header is compiled by nvcc too.
#pragma once

#include <cstdint>

#include "ops/cuda/scan_common.h"  // kScanSegment, kScanMaxState

namespace liednet::ops::cuda {

// Sizes and buffers of one ss2d_scan call. "seg" arrays are indexed by the
// segment number j = ((b * 4 + k) * nseg + seg) * d + c of sequence (b, k, c);
// "plane" arrays (batch, 4, d, L) by ((b * 4 + k) * d + c) * L + pixel (or + step
// where noted). Pointers a phase does not use may be null.
struct SS2DScanParams {
  int64_t batch = 0, d = 0, H = 0, W = 0, L = 0;  // L = H * W
  int64_t R = 0, N = 0, P = 0;                     // P = R + 2N projection rows per direction
  int64_t nseg = 0;                                // ceil(L / kScanSegment)

  // inputs
  const float* x = nullptr;      // (batch, d, L)
  const float* proj = nullptr;   // (batch, L, 4P) pixel-major: row p holds the 4 directions' (dt, B, C)
  const float* wdt = nullptr;    // (4, d, R) dt_projs_weight
  const float* bias = nullptr;   // (4, d) dt_projs_bias
  const float* alogs = nullptr;  // (4d, N) A_logs (A = -exp(A_logs))
  const float* ds = nullptr;     // (4d) Ds

  // forward
  float* hloc = nullptr;      // seg (N): the segment's end state when started from 0 (scratch)
  float* sumdelta = nullptr;  // seg: the sum of the segment's steps delta (saved for the backward)
  float* hstart = nullptr;    // seg (N): the state before the segment (saved for the backward)
  float* ys = nullptr;        // plane: each direction's output at its pixel (scratch)
  float* y = nullptr;         // (batch, d, L): the sum of ys over the directions, in order

  // backward
  const float* gy = nullptr;  // (batch, d, L) upstream gradient
  float* outloc = nullptr;    // seg (N): a_t0 * dL/dh_t0 of the segment alone (zero carry in)
  float* ghend = nullptr;     // seg (N): the carry into the segment from the later ones
  float* dl = nullptr;        // plane, by step: delta_t (written by the segment backward)
  float* du = nullptr;        // plane: dL/du of each direction (null when dx is not needed)
  float* gz = nullptr;        // plane: dL/d(dt_raw) of each direction
  double* part_a = nullptr;   // seg (N): the segment's share of dL/dA
  double* part_d = nullptr;   // seg: of dL/dDs
  double* part_bias = nullptr;  // seg: of dL/d dt_projs_bias
  double* part_w = nullptr;   // seg (R): of dL/d dt_projs_weight
  float* dproj = nullptr;     // (batch, L, 4P): the gradient of proj (written, not added)

  // results, added into (null when not needed)
  float* dx = nullptr;      // (batch, d, L): only the sum of du here; the GEMM adds the projection part
  float* dalogs = nullptr;  // (4d, N)
  float* dds = nullptr;     // (4d)
  float* dbias = nullptr;   // (4, d)
  float* dwdt = nullptr;    // (4, d, R)

  int64_t segments() const { return batch * 4 * nseg * d; }
  int64_t sequences() const { return batch * 4 * d; }
  int64_t plane() const { return batch * 4 * d * L; }
};

struct SS2DScanKernels {
  // Forward phases F1-F4 (proj already computed): fills hloc, sumdelta,
  // hstart, ys and y.
  void (*ss2d_forward)(const SS2DScanParams& p) = nullptr;
  // Backward phases B1-B5: fills outloc, ghend, dl, du (if not null), gz, the
  // part_* sums and dproj.
  void (*ss2d_backward)(const SS2DScanParams& p) = nullptr;
  // B6 without the GEMMs: adds into the non-null of dx (the sum of du over the
  // directions), dalogs, dds, dbias and dwdt (the part_* sums over samples and
  // segments, in order).
  void (*ss2d_reduce)(const SS2DScanParams& p) = nullptr;
};

void register_ss2d_scan_kernels(SS2DScanKernels& k);
const SS2DScanKernels& ss2d_scan_kernels();

}  // namespace liednet::ops::cuda
