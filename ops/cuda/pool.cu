// CUDA kernels of ops/pool.cpp (see pool.h): 2x2 max pooling; the forward
// records each window's winner, the backward adds into it (windows do not
// overlap, so every input element has at most one writer).
#include "ops/cuda/pool.h"

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "ops/cuda/check.cuh"
#include "ops/cuda/launch.cuh"

namespace liednet::ops::cuda {

namespace {

// ---- max_pool2x2 -----------------------------------------------------------------
__global__ void max_pool2x2_forward_kernel(float* out, uint8_t* winner, const float* x, int64_t planes, int64_t h,
                                           int64_t w) {
  const int64_t ho = h / 2, wo = w / 2, total = planes * ho * wo;
  for (int64_t o = first_index(); o < total; o += grid_stride()) {
    const int64_t j = o % wo, t = o / wo;
    const int64_t i = t % ho, plane = t / ho;
    const float* top = x + plane * h * w + 2 * i * w + 2 * j;
    const float cand[4] = {top[0], top[1], top[w], top[w + 1]};
    int best = 0;
    // Strict > keeps the first of equal values; once a NaN is held nothing replaces it.
    for (int k = 1; k < 4; ++k)
      if (cand[k] > cand[best] || (isnan(cand[k]) && !isnan(cand[best]))) best = k;
    out[o] = cand[best];
    if (winner) winner[o] = static_cast<uint8_t>(best);
  }
}

// Windows do not overlap, so each input element has at most one writer.
__global__ void max_pool2x2_backward_kernel(float* gx, const float* g, const uint8_t* winner, int64_t planes,
                                            int64_t h, int64_t w) {
  const int64_t ho = h / 2, wo = w / 2, total = planes * ho * wo;
  for (int64_t o = first_index(); o < total; o += grid_stride()) {
    const int64_t j = o % wo, t = o / wo;
    const int64_t i = t % ho, plane = t / ho;
    const int k = winner[o];
    gx[plane * h * w + (2 * i + k / 2) * w + 2 * j + k % 2] += g[o];
  }
}

void max_pool2x2_forward(float* out, uint8_t* winner, const float* x, int64_t planes, int64_t h, int64_t w) {
  const int64_t total = planes * (h / 2) * (w / 2);
  if (total == 0) return;
  LIEDNET_LAUNCH(max_pool2x2_forward_kernel, grid_for(total), kThreads, 0, stream())(out, winner, x, planes, h, w);
  LIEDNET_CHECK_LAUNCH("max_pool2x2_forward_kernel");
}

void max_pool2x2_backward(float* gx, const float* g, const uint8_t* winner, int64_t planes, int64_t h, int64_t w) {
  const int64_t total = planes * (h / 2) * (w / 2);
  if (total == 0) return;
  LIEDNET_LAUNCH(max_pool2x2_backward_kernel, grid_for(total), kThreads, 0, stream())(gx, g, winner, planes, h, w);
  LIEDNET_CHECK_LAUNCH("max_pool2x2_backward_kernel");
}

}  // namespace

void register_pool_kernels(PoolKernels& k) {
  k.max_pool2x2_forward = max_pool2x2_forward;
  k.max_pool2x2_backward = max_pool2x2_backward;
}

}  // namespace liednet::ops::cuda
