// CUDA kernels of ops/layernorm.cpp, as function pointers filled by
// register_layernorm_kernels (ops/cuda/layernorm.cu, CUDA builds only). The op
// file calls them through cuda::layernorm_kernels() when its inputs are on the GPU.
//
// Every pointer is device memory of float32 unless said otherwise; every kernel
// runs on the library's one stream. "Adds into" means the kernel reads the
// destination and writes back the sum (backward gradient buffers). No kernel
// uses atomics: each output element is written by one thread, and every sum
// runs in an order fixed by the sizes alone, so results are bit-identical from
// run to run. Plain C++17: this header is compiled by nvcc too.
#pragma once

#include <cstdint>

namespace liednet::ops::cuda {

// layer_norm_channels' weight and bias gradients are reduced over the N * P
// (sample, pixel) rows in chunks of this many rows: one double partial per
// chunk and channel, then the partials are added in chunk order.
constexpr int64_t kLayerNormRowsPerChunk = 4096;
inline int64_t layer_norm_chunks(int64_t n, int64_t p) {
  return (n * p + kLayerNormRowsPerChunk - 1) / kLayerNormRowsPerChunk;
}
// Bytes of the workspace the layer norm parameter gradients need: two
// (C, chunks) arrays of double.
inline int64_t layer_norm_workspace_bytes(int64_t n, int64_t c, int64_t p) {
  return 2 * c * layer_norm_chunks(n, p) * static_cast<int64_t>(sizeof(double));
}

// layer_norm_channels with x viewed as (N, C, P).
struct LayerNormKernels {
  // y (N, C, P), mean and rstd (N, P) written; weight, bias (C) may be null.
  void (*layer_norm_forward)(float* y, float* mean, float* rstd, const float* x, const float* weight,
                             const float* bias, int64_t n, int64_t c, int64_t p, double eps) = nullptr;
  // Adds into gx (N, C, P) the input gradient; weight may be null.
  void (*layer_norm_backward_x)(float* gx, const float* g, const float* x, const float* weight, const float* mean,
                                const float* rstd, int64_t n, int64_t c, int64_t p) = nullptr;
  // Adds into gw and gb (C) the parameter gradients; either may be null. When
  // gw is null, x, mean and rstd may be null too (only g is read).
  // workspace: layer_norm_workspace_bytes(n, c, p) bytes of device memory.
  void (*layer_norm_backward_params)(float* gw, float* gb, const float* g, const float* x, const float* mean,
                                     const float* rstd, int64_t n, int64_t c, int64_t p, void* workspace) = nullptr;
};

void register_layernorm_kernels(LayerNormKernels& k);
const LayerNormKernels& layernorm_kernels();

}  // namespace liednet::ops::cuda
