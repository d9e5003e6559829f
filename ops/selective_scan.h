// The selective scan (mamba's semantics), as its own autograd op.
//
//   u, delta (Bt, Dc, L); A (Dc, N); B, C (Bt, G, N, L) shared by the Dc/G
//   channels of each group; D (Dc) and delta_bias (Dc) optional (undefined Tensor()).
//   y[b, c, t] = sum_n C[b, g, n, t] h[n] + D[c] u[b, c, t],  g = c / (Dc / G),
//   h[n] = exp(dt A[c, n]) h[n] + dt B[b, g, n, t] u[b, c, t],
//   dt = softplus(delta[b, c, t] + delta_bias[c]) (or without softplus).
// Gradients for every input. scan_kernel.h holds the recurrence and its adjoint.
#pragma once

#include "tensor/tensor.h"

namespace liednet::ops {

struct ScanOptions {
  bool delta_softplus = true;
  // Steps between saved states: the forward keeps the state only at chunk
  // starts, the backward recomputes each chunk. Memory for saved states is
  // O(Bt Dc N L / chunk).
  int64_t chunk = 256;
};

// On CUDA (every input f32 on the GPU) the kernels of ops/cuda/selective_scan.h
// run instead; opt.chunk does not apply there (segments of cuda::kScanSegment steps).
Tensor selective_scan(const Tensor& u, const Tensor& delta, const Tensor& A, const Tensor& B, const Tensor& C,
                      const Tensor& D, const Tensor& delta_bias, const ScanOptions& opt = {});

// The naive sequential kernel, kept beside the fast one as its reference: it
// stores every state and loops in the most literal order. Same signature and
// gradients (opt.chunk is ignored).
Tensor selective_scan_reference(const Tensor& u, const Tensor& delta, const Tensor& A, const Tensor& B,
                                const Tensor& C, const Tensor& D, const Tensor& delta_bias,
                                const ScanOptions& opt = {});

namespace detail {
// selective_scan's CUDA path (ops/selective_scan_cuda.cpp), for inputs it has checked.
Tensor selective_scan_cuda(const Tensor& u, const Tensor& delta, const Tensor& A, const Tensor& B, const Tensor& C,
                           const Tensor& D, const Tensor& delta_bias, const ScanOptions& opt);
}  // namespace detail

}  // namespace liednet::ops
