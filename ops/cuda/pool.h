// CUDA kernels of ops/pool.cpp (2x2 max pooling), as function pointers filled
// by register_pool_kernels (ops/cuda/pool.cu, CUDA builds only). The op file
// calls them through cuda::pool_kernels() when its input is on the GPU.
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

// (planes, h, w) -> (planes, h/2, w/2)
struct PoolKernels {
  // winner (planes, h/2, w/2) bytes on the device, 0..3 = dy*2 + dx; may be null.
  void (*max_pool2x2_forward)(float* out, uint8_t* winner, const float* x, int64_t planes, int64_t h, int64_t w) =
      nullptr;
  // Adds each output gradient into the input element that won its window.
  void (*max_pool2x2_backward)(float* gx, const float* g, const uint8_t* winner, int64_t planes, int64_t h,
                               int64_t w) = nullptr;
};

void register_pool_kernels(PoolKernels& k);
const PoolKernels& pool_kernels();

}  // namespace liednet::ops::cuda
