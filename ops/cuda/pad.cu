// CUDA kernels of ops/pad.cpp (see pad.h): reflect padding and cropping as
// one gather through row and column index maps. The backward is a gather too:
// each input element reads its contributions from host-built inverse index
// lists, in list order, and writes once. No atomics: bit-identical run to run.
#include "ops/cuda/pad.h"

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "ops/cuda/check.cuh"
#include "ops/cuda/launch.cuh"

namespace liednet::ops::cuda {

namespace {

// ---- pad_reflect and crop ----------------------------------------------------------
__global__ void remap_forward_kernel(float* out, const float* in, int64_t planes, int64_t h, int64_t w,
                                     const int32_t* rows, int64_t ho, const int32_t* cols, int64_t wo) {
  const int64_t total = planes * ho * wo;
  for (int64_t e = first_index(); e < total; e += grid_stride()) {
    const int64_t ox = e % wo, t = e / wo;
    const int64_t oy = t % ho, plane = t / ho;
    out[e] = in[(plane * h + rows[oy]) * w + cols[ox]];
  }
}

// One thread per input element: it starts from the gradient already there and
// adds the output gradients of every (output row, output column) pair that
// maps to it, rows outer, both in ascending order -- the CPU scatter's order.
__global__ void remap_backward_kernel(float* gin, const float* gout, int64_t planes, int64_t h, int64_t w,
                                      const int32_t* row_start, const int32_t* row_list, int64_t ho,
                                      const int32_t* col_start, const int32_t* col_list, int64_t wo) {
  const int64_t total = planes * h * w;
  for (int64_t e = first_index(); e < total; e += grid_stride()) {
    const int64_t x = e % w, t = e / w;
    const int64_t y = t % h, plane = t / h;
    const float* gp = gout + plane * ho * wo;
    float acc = gin[e];
    for (int32_t a = row_start[y]; a < row_start[y + 1]; ++a) {
      const float* gr = gp + static_cast<int64_t>(row_list[a]) * wo;
      for (int32_t b = col_start[x]; b < col_start[x + 1]; ++b) acc += gr[col_list[b]];
    }
    gin[e] = acc;
  }
}

void remap_forward(float* out, const float* in, int64_t planes, int64_t h, int64_t w, const int32_t* rows, int64_t ho,
                   const int32_t* cols, int64_t wo) {
  const int64_t total = planes * ho * wo;
  if (total == 0) return;
  LIEDNET_LAUNCH(remap_forward_kernel, grid_for(total), kThreads, 0, stream())(out, in, planes, h, w, rows, ho, cols,
      wo);
  LIEDNET_CHECK_LAUNCH("remap_forward_kernel");
}

void remap_backward(float* gin, const float* gout, int64_t planes, int64_t h, int64_t w, const int32_t* row_start,
                    const int32_t* row_list, int64_t ho, const int32_t* col_start, const int32_t* col_list,
                    int64_t wo) {
  const int64_t total = planes * h * w;
  if (total == 0) return;
  LIEDNET_LAUNCH(remap_backward_kernel, grid_for(total), kThreads, 0, stream())(gin, gout, planes, h, w, row_start,
      row_list, ho, col_start, col_list, wo);
  LIEDNET_CHECK_LAUNCH("remap_backward_kernel");
}

}  // namespace

void register_pad_kernels(PadKernels& k) {
  k.remap_forward = remap_forward;
  k.remap_backward = remap_backward;
}

}  // namespace liednet::ops::cuda
