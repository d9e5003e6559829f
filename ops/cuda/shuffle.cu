// CUDA kernels of ops/shuffle.cpp (see shuffle.h): pixel shuffle and
// unshuffle, one copy kernel each way.
#include "ops/cuda/shuffle.h"

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "ops/cuda/check.cuh"
#include "ops/cuda/launch.cuh"

namespace liednet::ops::cuda {

namespace {

// ---- pixel shuffle ---------------------------------------------------------------
// One thread per element of big (N, C, H*r, W*r); the element of small
// (N, C*r*r, H, W) holding the same value is decoded from it. The map is a
// bijection, so every destination element has exactly one writer.
template <bool kToBig>
__global__ void shuffle_kernel(float* dst, const float* src, int64_t n, int64_t c, int64_t h, int64_t w, int64_t r,
                               bool add) {
  const int64_t hr = h * r, wr = w * r, total = n * c * hr * wr;
  for (int64_t e = first_index(); e < total; e += grid_stride()) {
    const int64_t bx = e % wr, t = e / wr;
    const int64_t by = t % hr, plane = t / hr;  // plane = sample * C + channel
    const int64_t hh = by / r, i = by % r, ww = bx / r, j = bx % r;
    const int64_t se = ((plane * r * r + i * r + j) * h + hh) * w + ww;  // small (n, c*r*r + i*r + j, hh, ww)
    const int64_t d = kToBig ? e : se, s = kToBig ? se : e;
    if (add)
      dst[d] += src[s];
    else
      dst[d] = src[s];
  }
}

void shuffle_to_big(float* big, const float* small, int64_t n, int64_t c, int64_t h, int64_t w, int64_t r,
                    bool add) {
  const int64_t total = n * c * h * r * w * r;
  if (total == 0) return;
  LIEDNET_LAUNCH(shuffle_kernel<true>, grid_for(total), kThreads, 0, stream())(big, small, n, c, h, w, r, add);
  LIEDNET_CHECK_LAUNCH("shuffle_kernel<true>");
}

void shuffle_to_small(float* small, const float* big, int64_t n, int64_t c, int64_t h, int64_t w, int64_t r,
                      bool add) {
  const int64_t total = n * c * h * r * w * r;
  if (total == 0) return;
  LIEDNET_LAUNCH(shuffle_kernel<false>, grid_for(total), kThreads, 0, stream())(small, big, n, c, h, w, r, add);
  LIEDNET_CHECK_LAUNCH("shuffle_kernel<false>");
}

}  // namespace

void register_shuffle_kernels(ShuffleKernels& k) {
  k.shuffle_to_big = shuffle_to_big;
  k.shuffle_to_small = shuffle_to_small;
}

}  // namespace liednet::ops::cuda
