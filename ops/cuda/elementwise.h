// CUDA kernels of ops/elementwise.cpp, as function pointers filled by
// register_elementwise_kernels (ops/cuda/elementwise.cu, CUDA builds only).
// The op file calls them through cuda::elementwise_kernels() when its inputs
// are on the GPU.
//
// Every kernel is float32, takes device pointers and element counts, and is
// queued on `stream` (a cudaStream_t, from liednet::cuda_stream()); a launch
// error throws std::runtime_error naming the kernel, file and line.
//
// Plain C++17: this header is compiled by nvcc too.
#pragma once

#include <cstdint>

namespace liednet::ops::cuda {

struct ElementwiseKernels {
  // out[i] = a[i] op b[i]; out may alias a or b.
  void (*add)(float* out, const float* a, const float* b, int64_t n, void* stream) = nullptr;
  void (*sub)(float* out, const float* a, const float* b, int64_t n, void* stream) = nullptr;
  void (*mul)(float* out, const float* a, const float* b, int64_t n, void* stream) = nullptr;
  // dst[i] += alpha * src[i]
  void (*add_into)(float* dst, const float* src, float alpha, int64_t n, void* stream) = nullptr;
  // dst[i] += g[i] * other[i] (the backward of mul)
  void (*add_product)(float* dst, const float* g, const float* other, int64_t n, void* stream) = nullptr;
  // out[i] = x[i] * s and out[i] = x[i] + s
  void (*scale)(float* out, const float* x, float s, int64_t n, void* stream) = nullptr;
  void (*add_scalar)(float* out, const float* x, float s, int64_t n, void* stream) = nullptr;

  // Per-channel broadcasts over x viewed as (samples, channels, inner); b is
  // (channels), or (samples, channels) when per_sample.
  //   out = x + b, out = x * b
  void (*add_channel)(float* out, const float* x, const float* b, int64_t samples, int64_t channels, int64_t inner,
                      bool per_sample, void* stream) = nullptr;
  void (*mul_channel)(float* out, const float* x, const float* b, int64_t samples, int64_t channels, int64_t inner,
                      bool per_sample, void* stream) = nullptr;
  //   gx += g * b (the backward of mul_channel for x)
  void (*add_mul_channel)(float* gx, const float* g, const float* b, int64_t samples, int64_t channels, int64_t inner,
                          bool per_sample, void* stream) = nullptr;
  //   gb[entry] += sum over its planes of g (x null) or of x * g. Each plane is
  //   summed into plane_sums (samples * channels floats of workspace), then
  //   each entry adds its planes' sums in sample order, as the CPU does.
  void (*channel_grad)(float* gb, const float* x, const float* g, int64_t samples, int64_t channels, int64_t inner,
                       bool per_sample, float* plane_sums, void* stream) = nullptr;
};

void register_elementwise_kernels(ElementwiseKernels& k);
const ElementwiseKernels& elementwise_kernels();

}  // namespace liednet::ops::cuda
