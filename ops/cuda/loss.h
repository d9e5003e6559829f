// CUDA kernels of ops/loss.cpp, as function pointers filled by
// register_loss_kernels (ops/cuda/loss.cu, CUDA builds only). The op file
// calls them through cuda::loss_kernels() when its inputs are on the GPU.
//
// float32, device pointers, queued on `stream` (a cudaStream_t, from
// liednet::cuda_stream()); a launch error throws std::runtime_error naming the
// kernel, file and line. The loss is a deterministic block sum, as in
// ops/cuda/reduce.h. Plain C++17: this header is compiled by nvcc too.
#pragma once

#include <cstdint>

#include "ops/cuda/reduce.h"  // sum_partial_count: the loss's workspace

namespace liednet::ops::cuda {

struct LossKernels {
  // out[0] = mean |pred - target|; sign[i] = sign(pred[i] - target[i]) in
  // {-1, 0, 1} unless sign is null; partials holds sum_partial_count(n) doubles.
  void (*l1_loss)(float* out, int8_t* sign, const float* pred, const float* target, int64_t n, double* partials,
                  void* stream) = nullptr;
  // d = float(double(g[0]) / n) * sign[i]; gpred[i] += d, gtarget[i] -= d (either may be null).
  void (*l1_loss_backward)(float* gpred, float* gtarget, const int8_t* sign, const float* g, int64_t n,
                           void* stream) = nullptr;
  // out[0] = mean of the smooth L1 term (beta > 0); deriv[i] = clamp(d / beta, -1, 1)
  // with d = pred[i] - target[i] unless deriv is null.
  void (*smooth_l1_loss)(float* out, float* deriv, const float* pred, const float* target, int64_t n, float beta,
                         double* partials, void* stream) = nullptr;
  // d = float(double(g[0]) / n) * deriv[i]; gpred[i] += d, gtarget[i] -= d (either may be null).
  void (*smooth_l1_loss_backward)(float* gpred, float* gtarget, const float* deriv, const float* g, int64_t n,
                                  void* stream) = nullptr;
};

void register_loss_kernels(LossKernels& k);
const LossKernels& loss_kernels();

}  // namespace liednet::ops::cuda
