// CUDA kernels of ops/pad.cpp (pad_reflect and crop), as function pointers
// filled by register_pad_kernels (ops/cuda/pad.cu, CUDA builds only). The op
// file calls them through cuda::pad_kernels() when its input is on the GPU.
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

// out[plane, y, x] = in[plane, rows[y], cols[x]]
struct PadKernels {
  // rows (ho) and cols (wo) are int32 device arrays.
  void (*remap_forward)(float* out, const float* in, int64_t planes, int64_t h, int64_t w, const int32_t* rows,
                        int64_t ho, const int32_t* cols, int64_t wo) = nullptr;
  // Adds into gin (planes, h, w): gin[plane, y, x] += sum of gout[plane, oy, ox]
  // over oy in row_list[row_start[y] .. row_start[y + 1]) (outer) and ox in
  // col_list[col_start[x] .. col_start[x + 1]) (inner), in list order. The
  // lists invert rows and cols (ops/cuda/inverse_map.h): int32 device arrays,
  // row_start (h + 1), row_list (ho), col_start (w + 1), col_list (wo).
  void (*remap_backward)(float* gin, const float* gout, int64_t planes, int64_t h, int64_t w,
                         const int32_t* row_start, const int32_t* row_list, int64_t ho, const int32_t* col_start,
                         const int32_t* col_list, int64_t wo) = nullptr;
};

void register_pad_kernels(PadKernels& k);
const PadKernels& pad_kernels();

}  // namespace liednet::ops::cuda
