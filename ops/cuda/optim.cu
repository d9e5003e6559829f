// CUDA kernels of nn/optim.cpp (see optim.h): Adam's update fused into one
// grid-stride kernel, in the CPU's order of float operations.
#include "ops/cuda/optim.h"

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "ops/cuda/check.cuh"
#include "ops/cuda/launch.cuh"

namespace liednet::ops::cuda {

namespace {

__global__ void adam_kernel(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
                            AdamScalars s) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const float g = s.apply_weight_decay ? grad[i] + s.weight_decay * param[i] : grad[i];
    const float m = exp_avg[i] * s.beta1 + g * s.one_minus_beta1;
    const float v = exp_avg_sq[i] * s.beta2 + s.one_minus_beta2 * g * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    const float denom = sqrtf(v) / s.bias_correction2_sqrt + s.eps;
    param[i] = param[i] + s.neg_step_size * (m / denom);
  }
}

void launch_adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n, AdamScalars s,
                      void* stream) {
  if (n <= 0) return;
  LIEDNET_LAUNCH(adam_kernel, grid_for(n), kThreads, 0, as_stream(stream))(param, grad, exp_avg, exp_avg_sq, n, s);
  LIEDNET_CHECK_LAUNCH("adam_step");
}

}  // namespace

void register_optim_kernels(OptimKernels& k) { k.adam_step = launch_adam_step; }

}  // namespace liednet::ops::cuda
