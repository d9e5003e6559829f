// CUDA kernels of nn/optim.cpp (the optimiser's update), as function pointers
// filled by register_optim_kernels (ops/cuda/optim.cu, CUDA builds only).
// nn/optim.cpp calls them through cuda::optim_kernels() when a parameter is on
// the GPU.
//
// float32, device pointers, queued on `stream` (a cudaStream_t, from
// liednet::cuda_stream()). Plain C++17: this header is compiled by nvcc too.
#pragma once

#include <cstdint>

namespace liednet::ops::cuda {

// Adam's scalars, each rounded to float on the host exactly as the CPU update does.
struct AdamScalars {
  float beta1, beta2;
  float one_minus_beta1, one_minus_beta2;
  float weight_decay;  // used only when apply_weight_decay
  bool apply_weight_decay;
  float eps;
  float bias_correction2_sqrt;
  float neg_step_size;  // -lr / (1 - beta1^t)
};

struct OptimKernels {
  // One Adam update of n parameters in place, in the CPU's order of operations.
  void (*adam_step)(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
                    AdamScalars s, void* stream) = nullptr;
};

void register_optim_kernels(OptimKernels& k);
const OptimKernels& optim_kernels();

}  // namespace liednet::ops::cuda
