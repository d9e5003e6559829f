// CUDA kernels of ops/resize.cpp (bicubic resize), as function pointers filled
// by register_resize_kernels (ops/cuda/resize.cu, CUDA builds only). The op
// file calls them through cuda::resize_kernels() when its input is on the GPU.
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

// (planes, h, w) -> (planes, oh, ow)
struct ResizeKernels {
  // Output row oy reads input rows ty_index[4*oy + a] with weights
  // ty_weight[4*oy + a], a = 0..3; columns likewise with tx_* (4*ow each).
  // ty_index, tx_index: int32 device arrays; the weights float.
  void (*resize_bicubic_forward)(float* out, const float* x, int64_t planes, int64_t h, int64_t w, int64_t oh,
                                 int64_t ow, const int32_t* ty_index, const float* ty_weight, const int32_t* tx_index,
                                 const float* tx_weight) = nullptr;
  // Adds into gx (planes, h, w): for input row iy, the taps that read it are
  // ry_list[ry_start[iy] .. ry_start[iy + 1]), each a tap number 4*oy + a
  // (so output row oy, weight ty_weight[4*oy + a]); columns likewise with
  // rx_* and tx_weight. ry_start (h + 1), rx_start (w + 1): int32 device arrays;
  // ry_list (4*oh), rx_list (4*ow) too (ops/cuda/inverse_map.h builds them).
  void (*resize_bicubic_backward)(float* gx, const float* gout, int64_t planes, int64_t h, int64_t w, int64_t oh,
                                  int64_t ow, const int32_t* ry_start, const int32_t* ry_list,
                                  const float* ty_weight, const int32_t* rx_start, const int32_t* rx_list,
                                  const float* tx_weight) = nullptr;
};

void register_resize_kernels(ResizeKernels& k);
const ResizeKernels& resize_kernels();

}  // namespace liednet::ops::cuda
