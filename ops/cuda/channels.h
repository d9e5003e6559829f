// CUDA kernels of ops/channels.cpp (concat, split and slice over channels), as
// function pointers filled by register_channels_kernels (ops/cuda/channels.cu,
// CUDA builds only). The op file calls them through cuda::channels_kernels()
// when its inputs are on the GPU.
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

// Tensors viewed as (N, C, inner).
struct ChannelsKernels {
  // dst[s, dst_c0 + k, :] (+)= src[s, src_c0 + k, :] for s < n, k < count.
  void (*copy_planes)(float* dst, int64_t dst_c, int64_t dst_c0, const float* src, int64_t src_c, int64_t src_c0,
                      int64_t n, int64_t count, int64_t inner, bool add) = nullptr;
};

void register_channels_kernels(ChannelsKernels& k);
const ChannelsKernels& channels_kernels();

}  // namespace liednet::ops::cuda
