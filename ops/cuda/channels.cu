// CUDA kernels of ops/channels.cpp (see channels.h): one copy kernel over
// channel planes serves concat, split and slice, forward and backward.
#include "ops/cuda/channels.h"

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "ops/cuda/check.cuh"
#include "ops/cuda/launch.cuh"

namespace liednet::ops::cuda {

namespace {

// ---- channel copies --------------------------------------------------------------
__global__ void copy_planes_kernel(float* dst, int64_t dst_c, int64_t dst_c0, const float* src, int64_t src_c,
                                   int64_t src_c0, int64_t n, int64_t count, int64_t inner, bool add) {
  const int64_t total = n * count * inner;
  for (int64_t e = first_index(); e < total; e += grid_stride()) {
    const int64_t i = e % inner, t = e / inner;
    const int64_t k = t % count, s = t / count;
    const int64_t d = (s * dst_c + dst_c0 + k) * inner + i;
    const int64_t from = (s * src_c + src_c0 + k) * inner + i;
    if (add)
      dst[d] += src[from];
    else
      dst[d] = src[from];
  }
}

void copy_planes(float* dst, int64_t dst_c, int64_t dst_c0, const float* src, int64_t src_c, int64_t src_c0,
                 int64_t n, int64_t count, int64_t inner, bool add) {
  const int64_t total = n * count * inner;
  if (total == 0) return;
  LIEDNET_LAUNCH(copy_planes_kernel, grid_for(total), kThreads, 0, stream())(dst, dst_c, dst_c0, src, src_c, src_c0, n,
      count, inner, add);
  LIEDNET_CHECK_LAUNCH("copy_planes_kernel");
}

}  // namespace

void register_channels_kernels(ChannelsKernels& k) { k.copy_planes = copy_planes; }

}  // namespace liednet::ops::cuda
