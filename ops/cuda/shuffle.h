// CUDA kernels of ops/shuffle.cpp (pixel shuffle and unshuffle), as function
// pointers filled by register_shuffle_kernels (ops/cuda/shuffle.cu, CUDA builds
// only). The op file calls them through cuda::shuffle_kernels() when its input
// is on the GPU.
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

// big (N, C, H*r, W*r) <-> small (N, C*r*r, H, W)
struct ShuffleKernels {
  // big[n, c, h*r + i, w*r + j] (+)= small[n, c*r*r + i*r + j, h, w]; add: add into big.
  void (*shuffle_to_big)(float* big, const float* small, int64_t n, int64_t c, int64_t h, int64_t w, int64_t r,
                         bool add) = nullptr;
  // The same correspondence the other way: small (+)= big.
  void (*shuffle_to_small)(float* small, const float* big, int64_t n, int64_t c, int64_t h, int64_t w, int64_t r,
                           bool add) = nullptr;
};

void register_shuffle_kernels(ShuffleKernels& k);
const ShuffleKernels& shuffle_kernels();

}  // namespace liednet::ops::cuda
