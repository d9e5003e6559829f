// CUDA kernels of ops/resize.cpp (see resize.h): bicubic resize, forward as
// a gather over four taps per axis, backward as a gather over host-built
// inverse tap lists, in list order. No atomics: bit-identical run to run.
#include "ops/cuda/resize.h"

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "ops/cuda/check.cuh"
#include "ops/cuda/launch.cuh"

namespace liednet::ops::cuda {

namespace {

// ---- resize_bicubic --------------------------------------------------------------
// Interpolated along x on each of the 4 source rows, then along y, as the CPU.
__global__ void resize_bicubic_forward_kernel(float* out, const float* x, int64_t planes, int64_t h, int64_t w,
                                              int64_t oh, int64_t ow, const int32_t* ty_index,
                                              const float* ty_weight, const int32_t* tx_index,
                                              const float* tx_weight) {
  const int64_t total = planes * oh * ow;
  for (int64_t e = first_index(); e < total; e += grid_stride()) {
    const int64_t ox = e % ow, t = e / ow;
    const int64_t oy = t % oh, plane = t / oh;
    const float* xp = x + plane * h * w;
    float acc = 0;
    for (int a = 0; a < 4; ++a) {
      const float* xr = xp + static_cast<int64_t>(ty_index[4 * oy + a]) * w;
      float along_x = 0;
      for (int b = 0; b < 4; ++b) along_x += tx_weight[4 * ox + b] * xr[tx_index[4 * ox + b]];
      acc += ty_weight[4 * oy + a] * along_x;
    }
    out[e] = acc;
  }
}

// One thread per input element: the sum, over the taps (oy, a) reading its row
// and the taps (ox, b) reading its column, of wy * wx * gout[oy, ox], added to
// the gradient already there, in list order (row taps outer).
__global__ void resize_bicubic_backward_kernel(float* gx, const float* gout, int64_t planes, int64_t h, int64_t w,
                                               int64_t oh, int64_t ow, const int32_t* ry_start,
                                               const int32_t* ry_list, const float* ty_weight,
                                               const int32_t* rx_start, const int32_t* rx_list,
                                               const float* tx_weight) {
  const int64_t total = planes * h * w;
  for (int64_t e = first_index(); e < total; e += grid_stride()) {
    const int64_t ix = e % w, t = e / w;
    const int64_t iy = t % h, plane = t / h;
    const float* gp = gout + plane * oh * ow;
    float acc = gx[e];
    for (int32_t u = ry_start[iy]; u < ry_start[iy + 1]; ++u) {
      const int32_t tap_y = ry_list[u];  // 4 * oy + a
      const float wy = ty_weight[tap_y];
      const float* gr = gp + static_cast<int64_t>(tap_y / 4) * ow;
      for (int32_t v = rx_start[ix]; v < rx_start[ix + 1]; ++v) {
        const int32_t tap_x = rx_list[v];  // 4 * ox + b
        const float ga = wy * gr[tap_x / 4];
        acc += tx_weight[tap_x] * ga;
      }
    }
    gx[e] = acc;
  }
}

void resize_bicubic_forward(float* out, const float* x, int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow,
                            const int32_t* ty_index, const float* ty_weight, const int32_t* tx_index,
                            const float* tx_weight) {
  const int64_t total = planes * oh * ow;
  if (total == 0) return;
  LIEDNET_LAUNCH(resize_bicubic_forward_kernel, grid_for(total), kThreads, 0, stream())(out, x, planes, h, w, oh, ow,
      ty_index, ty_weight, tx_index, tx_weight);
  LIEDNET_CHECK_LAUNCH("resize_bicubic_forward_kernel");
}

void resize_bicubic_backward(float* gx, const float* gout, int64_t planes, int64_t h, int64_t w, int64_t oh,
                             int64_t ow, const int32_t* ry_start, const int32_t* ry_list, const float* ty_weight,
                             const int32_t* rx_start, const int32_t* rx_list, const float* tx_weight) {
  const int64_t total = planes * h * w;
  if (total == 0) return;
  LIEDNET_LAUNCH(resize_bicubic_backward_kernel, grid_for(total), kThreads, 0, stream())(gx, gout, planes, h, w, oh, ow,
      ry_start, ry_list, ty_weight, rx_start, rx_list, tx_weight);
  LIEDNET_CHECK_LAUNCH("resize_bicubic_backward_kernel");
}

}  // namespace

void register_resize_kernels(ResizeKernels& k) {
  k.resize_bicubic_forward = resize_bicubic_forward;
  k.resize_bicubic_backward = resize_bicubic_backward;
}

}  // namespace liednet::ops::cuda
