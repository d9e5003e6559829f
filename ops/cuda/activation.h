// CUDA kernels of ops/activation.cpp, as function pointers filled by
// register_activation_kernels (ops/cuda/activation.cu, CUDA builds only). The
// op file calls them through cuda::activation_kernels() when its input is on
// the GPU.
//
// float32, device pointers, queued on `stream` (a cudaStream_t, from
// liednet::cuda_stream()); a launch error throws std::runtime_error naming the
// kernel, file and line. Plain C++17: this header is compiled by nvcc too.
#pragma once

#include <cstdint>

namespace liednet::ops::cuda {

// The pointwise activations (ops/activation.h), one kernel each, picked at launch.
enum class Activation : int { Relu, Silu, Gelu, Sigmoid, Softplus, Exp };

struct ActivationKernels {
  // out[i] = f(x[i]); gx[i] += g[i] * f'(...) where `saved` is the input for
  // Silu, Gelu and Softplus and the output for Relu, Sigmoid and Exp.
  void (*activation_forward)(Activation act, float* out, const float* x, int64_t n, void* stream) = nullptr;
  void (*activation_backward)(Activation act, float* gx, const float* g, const float* saved, int64_t n,
                              void* stream) = nullptr;
};

void register_activation_kernels(ActivationKernels& k);
const ActivationKernels& activation_kernels();

}  // namespace liednet::ops::cuda
