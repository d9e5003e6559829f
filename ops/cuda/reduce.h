// CUDA kernels of ops/reduce.cpp, as function pointers filled by
// register_reduce_kernels (ops/cuda/reduce.cu, CUDA builds only). The op file
// calls them through cuda::reduce_kernels() when its input is on the GPU.
//
// float32, device pointers, queued on `stream` (a cudaStream_t, from
// liednet::cuda_stream()); a launch error throws std::runtime_error naming the
// kernel, file and line.
//
// Sums are deterministic: the split into blocks depends on the sizes only, each
// block accumulates in double and reduces in a fixed tree, and the block
// results are combined in a fixed order by a second kernel (ops/cuda/sums.cuh).
// No atomics. Plain C++17: this header is compiled by nvcc too.
#pragma once

#include <cstdint>

namespace liednet::ops::cuda {

// Elements per block of the first pass of sum / mean / l1_loss: the same block
// size as the CPU's ordered_sum, so both round at the same boundaries.
constexpr int64_t kSumBlockElements = 8192;

// Doubles of workspace the sums need for n elements: one per block.
inline int64_t sum_partial_count(int64_t n) { return (n + kSumBlockElements - 1) / kSumBlockElements; }

struct ReduceKernels {
  // out[0] = (sum of x) * factor; partials holds sum_partial_count(n) doubles.
  void (*sum)(float* out, const float* x, int64_t n, double factor, double* partials, void* stream) = nullptr;
  // gx[i] += float(double(g[0]) * factor), g a one-element device tensor (the backward of sum and mean).
  void (*add_scaled_scalar)(float* gx, const float* g, double factor, int64_t n, void* stream) = nullptr;

  // out[plane] = mean of x[plane, :] over hw elements, for every plane.
  void (*mean_hw)(float* out, const float* x, int64_t planes, int64_t hw, void* stream) = nullptr;
  // gx[plane, i] += float(double(g[plane]) / hw)
  void (*mean_hw_backward)(float* gx, const float* g, int64_t planes, int64_t hw, void* stream) = nullptr;
};

void register_reduce_kernels(ReduceKernels& k);
const ReduceKernels& reduce_kernels();

}  // namespace liednet::ops::cuda
