// The deterministic block sums shared by the kernels of ops/elementwise.cpp
// (per-channel gradients), ops/reduce.cpp (sum, mean, mean_hw) and
// ops/loss.cpp (l1_loss). nvcc only; every .cu file that includes it gets its
// own copy of these kernels.
//
// No atomics: a block's share of the elements depends only on the sizes, each
// thread accumulates its strided share in double, the block combines its
// threads in a fixed tree, and a second kernel combines the blocks in a fixed
// order. Results are bit-identical run to run.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "ops/cuda/check.cuh"
#include "ops/cuda/launch.cuh"
#include "ops/cuda/reduce.h"

namespace liednet::ops::cuda {

namespace {

// Blocks for a loop over `items` items that take one block each (items > 0).
unsigned grid_for_items(int64_t items) { return static_cast<unsigned>(items < kMaxBlocks ? items : kMaxBlocks); }


// The sum of every thread's v, in a tree whose shape depends only on
// kThreads; every thread gets the result. All threads of the block must call it.
__device__ double block_sum(double v, LIEDNET_SHARED_PTR(double) scratch /* (kThreads) shared */) {
  const unsigned t = threadIdx.x;
  scratch[t] = v;
  __syncthreads();
  for (unsigned half = kThreads / 2; half > 0; half /= 2) {
    if (t < half) scratch[t] += scratch[t + half];
    __syncthreads();
  }
  const double total = scratch[0];
  __syncthreads();  // the caller may refill scratch straight away
  return total;
}

// out[plane] = float(S / divisor), S the double sum over the plane of a[i]
// (b null) or a[i] * b[i] (the product rounded to float first, as on the
// CPU). One block per plane; the threads' shares depend only on `inner`.
__global__ void plane_sums_kernel(float* out, const float* a, const float* b, int64_t planes, int64_t inner,
                                  double divisor) {
  LIEDNET_SHARED(double, scratch, kThreads);
  for (int64_t plane = blockIdx.x; plane < planes; plane += gridDim.x) {
    const float* ap = a + plane * inner;
    const float* bp = b ? b + plane * inner : nullptr;
    double acc = 0;
    for (int64_t i = threadIdx.x; i < inner; i += kThreads) acc += double(bp ? ap[i] * bp[i] : ap[i]);
    const double total = block_sum(acc, scratch);
    if (threadIdx.x == 0) out[plane] = float(total / divisor);
  }
}

// partials[blk] = sum of term(i) over block blk's kSumBlockElements elements.
template <typename Term>
__global__ void block_sums_kernel(double* partials, int64_t n, int64_t blocks, Term term) {
  LIEDNET_SHARED(double, scratch, kThreads);
  for (int64_t blk = blockIdx.x; blk < blocks; blk += gridDim.x) {
    const int64_t lo = blk * kSumBlockElements;
    const int64_t hi = n < lo + kSumBlockElements ? n : lo + kSumBlockElements;
    double acc = 0;
    for (int64_t i = lo + threadIdx.x; i < hi; i += kThreads) acc += term(i);
    const double total = block_sum(acc, scratch);
    if (threadIdx.x == 0) partials[blk] = total;
  }
}

// out[0] = float(S * factor / divisor), S the sum of the partials. One block.
__global__ void finish_sum_kernel(float* out, const double* partials, int64_t blocks, double factor, double divisor) {
  LIEDNET_SHARED(double, scratch, kThreads);
  double acc = 0;
  for (int64_t j = threadIdx.x; j < blocks; j += kThreads) acc += partials[j];
  const double total = block_sum(acc, scratch);
  if (threadIdx.x == 0) out[0] = float(total * factor / divisor);
}

// Both passes; an empty input sums to 0.
template <typename Term>
void launch_total(const char* name, float* out, int64_t n, Term term, double factor, double divisor,
                  double* partials, void* stream) {
  const int64_t blocks = n > 0 ? sum_partial_count(n) : 0;
  if (blocks > 0) {
    LIEDNET_LAUNCH(block_sums_kernel<Term>, grid_for_items(blocks), kThreads, 0, as_stream(stream))(partials, n, blocks,
        term);
    LIEDNET_CHECK_LAUNCH(name);
  }
  LIEDNET_LAUNCH(finish_sum_kernel, 1, kThreads, 0, as_stream(stream))(out, partials, blocks, factor, divisor);
  LIEDNET_CHECK_LAUNCH(name);
}

}  // namespace

}  // namespace liednet::ops::cuda
