// The core of LIEDNet's SS2D as one autograd op: the four-direction 2D
// selective scan, exactly what upstream computes with CrossScan, the
// x_proj/dt_proj einsums, the selective scan and CrossMerge (before out_norm).
//
//   x               (Bt, d, H, W)   after the depthwise conv and SiLU
//   x_proj_weight   (K=4, R+2N, d)  per direction: rows [0,R) dt, [R,R+N) B, [R+N,R+2N) C
//   dt_projs_weight (K, d, R)
//   dt_projs_bias   (K, d)
//   A_logs          (K*d, N)        A = -exp(A_logs)
//   Ds              (K*d)
//   y               (Bt, d, H, W) = sum over directions k of the scan of direction k,
//                                   each step's output written back to its pixel.
// Directions: k0 row-major, k1 column-major, k2 reversed k0, k3 reversed k1. They
// are index maps over the pixels; the feature map is never copied four times.
// The projections are per pixel, so they are computed once in pixel order; the
// step size delta = dt_projs_weight[k] @ dt is formed on the fly inside the scan.
// docs/selective_scan.md derives the algorithm and explains chunking and determinism.
// With SS2DScanOptions::silu_input the op scans SiLU(x) (SS2D's activation
// after its depthwise convolution, fused in).
// CUDA tensors (f32) take the GPU path: the same results, computed in segments
// of 32 steps by the kernels of ops/cuda/ss2d_scan.h (opt.chunk is the
// CPU's and does not apply there; docs/cuda.md, "The scans on CUDA").
#pragma once

#include "tensor/tensor.h"

namespace liednet::ops {

struct SS2DScanOptions {
  int64_t chunk = 256;  // steps between saved states (see ScanOptions::chunk)
  // Scan SiLU(x) instead of x: ss2d_scan(x, ..., {.silu_input = true}) equals
  // ss2d_scan(ops::silu(x), ...), but the activated map exists only while the
  // forward (and again the backward) runs; the graph keeps x alone. CPU only.
  bool silu_input = false;
};

Tensor ss2d_scan(const Tensor& x, const Tensor& x_proj_weight, const Tensor& dt_projs_weight,
                 const Tensor& dt_projs_bias, const Tensor& A_logs, const Tensor& Ds,
                 const SS2DScanOptions& opt = {});

// The naive reference: materialises the four direction copies as upstream
// does, computes the projections with plain loops, runs the naive sequential
// scan keeping every state, and merges. Same gradients.
Tensor ss2d_scan_reference(const Tensor& x, const Tensor& x_proj_weight, const Tensor& dt_projs_weight,
                           const Tensor& dt_projs_bias, const Tensor& A_logs, const Tensor& Ds);

// Pixel index visited at step t of direction k (0..3) of an H x W map.
int64_t ss2d_pixel(int k, int64_t t, int64_t H, int64_t W);

// Bytes the forward keeps for the backward in the chunk states alone.
int64_t ss2d_saved_state_bytes(const Shape& x, int64_t state_size, const SS2DScanOptions& opt, DType dtype);

}  // namespace liednet::ops
