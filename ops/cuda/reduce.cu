// CUDA kernels of ops/reduce.cpp (see reduce.h): sum, mean and mean over H
// and W, with their backwards. The sums are the deterministic two-pass block
// sums of sums.cuh: no atomics, bit-identical run to run.
#include "ops/cuda/reduce.h"

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "ops/cuda/check.cuh"
#include "ops/cuda/launch.cuh"
#include "ops/cuda/sums.cuh"

namespace liednet::ops::cuda {

namespace {

struct ValueTerm {
  const float* x;
  __device__ double operator()(int64_t i) const { return double(x[i]); }
};

void launch_sum(float* out, const float* x, int64_t n, double factor, double* partials, void* stream) {
  launch_total("sum", out, n, ValueTerm{x}, factor, 1.0, partials, stream);
}

__global__ void add_scaled_scalar_kernel(float* gx, const float* g, double factor, int64_t n) {
  const float gv = float(double(g[0]) * factor);
  for (int64_t i = first_index(); i < n; i += grid_stride()) gx[i] = gx[i] + gv;
}

void launch_add_scaled_scalar(float* gx, const float* g, double factor, int64_t n, void* stream) {
  if (n <= 0) return;
  LIEDNET_LAUNCH(add_scaled_scalar_kernel, grid_for(n), kThreads, 0, as_stream(stream))(gx, g, factor, n);
  LIEDNET_CHECK_LAUNCH("add_scaled_scalar (sum/mean backward)");
}

// ---- mean over H and W ------------------------------------------------------------------

void launch_mean_hw(float* out, const float* x, int64_t planes, int64_t hw, void* stream) {
  if (planes <= 0) return;
  LIEDNET_LAUNCH(plane_sums_kernel, grid_for_items(planes), kThreads, 0, as_stream(stream))(out, x, nullptr, planes, hw,
      double(hw));
  LIEDNET_CHECK_LAUNCH("mean_hw");
}

__global__ void mean_hw_backward_kernel(float* gx, const float* g, int64_t hw, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) gx[i] = gx[i] + float(double(g[i / hw]) / double(hw));
}

void launch_mean_hw_backward(float* gx, const float* g, int64_t planes, int64_t hw, void* stream) {
  const int64_t n = planes * hw;
  if (n <= 0) return;
  LIEDNET_LAUNCH(mean_hw_backward_kernel, grid_for(n), kThreads, 0, as_stream(stream))(gx, g, hw, n);
  LIEDNET_CHECK_LAUNCH("mean_hw backward");
}

}  // namespace

void register_reduce_kernels(ReduceKernels& k) {
  k.sum = launch_sum;
  k.add_scaled_scalar = launch_add_scaled_scalar;
  k.mean_hw = launch_mean_hw;
  k.mean_hw_backward = launch_mean_hw_backward;
}

}  // namespace liednet::ops::cuda
