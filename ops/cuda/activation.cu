// CUDA kernels of ops/activation.cpp (see activation.h): one grid-stride
// kernel per activation and per derivative, the same float operations as the
// CPU kernels.
#include "ops/cuda/activation.h"

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "ops/cuda/check.cuh"
#include "ops/cuda/launch.cuh"

namespace liednet::ops::cuda {

namespace {

// exp is only taken of a non-positive number, so a large |x| of either sign cannot overflow.
__device__ float stable_sigmoid(float x) {
  if (x >= 0.f) return 1.f / (1.f + expf(-x));
  const float e = expf(x);
  return e / (1.f + e);
}

constexpr float kSqrtHalf = 0.70710678118654752440f;     // 1 / sqrt(2)
constexpr float kInvSqrtTwoPi = 0.39894228040143267794f;  // 1 / sqrt(2 pi)
constexpr float kSoftplusThreshold = 20.f;                // torch's: identity above

// forward(x), and derivative(s) of the saved tensor s (input or output, see the header).
struct ReluFn {
  // !(v <= 0) rather than v > 0 so that NaN passes through, as on the CPU.
  __device__ static float forward(float v) { return !(v <= 0.f) ? v : 0.f; }
  __device__ static float derivative(float y) { return y > 0.f ? 1.f : 0.f; }
};
struct SigmoidFn {
  __device__ static float forward(float v) { return stable_sigmoid(v); }
  __device__ static float derivative(float y) { return y * (1.f - y); }
};
struct SiluFn {
  __device__ static float forward(float v) { return v * stable_sigmoid(v); }
  __device__ static float derivative(float v) {
    const float s = stable_sigmoid(v);
    return s * (1.f + v * (1.f - s));
  }
};
struct GeluFn {
  __device__ static float forward(float v) { return 0.5f * v * (1.f + erff(v * kSqrtHalf)); }
  // d/dx of x * Phi(x) = Phi(x) + x * phi(x).
  __device__ static float derivative(float v) {
    const float cdf = 0.5f * (1.f + erff(v * kSqrtHalf));
    const float pdf = expf(-0.5f * v * v) * kInvSqrtTwoPi;
    return cdf + v * pdf;
  }
};
struct SoftplusFn {
  __device__ static float forward(float v) { return v > kSoftplusThreshold ? v : log1pf(expf(v)); }
  __device__ static float derivative(float v) { return v > kSoftplusThreshold ? 1.f : stable_sigmoid(v); }
};
struct ExpFn {
  __device__ static float forward(float v) { return expf(v); }
  __device__ static float derivative(float y) { return y; }
};

template <typename F>
__global__ void activation_forward_kernel(float* out, const float* x, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) out[i] = F::forward(x[i]);
}

template <typename F>
__global__ void activation_backward_kernel(float* gx, const float* g, const float* saved, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) gx[i] = gx[i] + g[i] * F::derivative(saved[i]);
}

template <typename F>
void forward_with(const char* name, float* out, const float* x, int64_t n, void* stream) {
  LIEDNET_LAUNCH(activation_forward_kernel<F>, grid_for(n), kThreads, 0, as_stream(stream))(out, x, n);
  LIEDNET_CHECK_LAUNCH(name);
}

template <typename F>
void backward_with(const char* name, float* gx, const float* g, const float* saved, int64_t n, void* stream) {
  LIEDNET_LAUNCH(activation_backward_kernel<F>, grid_for(n), kThreads, 0, as_stream(stream))(gx, g, saved, n);
  LIEDNET_CHECK_LAUNCH(name);
}

void launch_activation_forward(Activation act, float* out, const float* x, int64_t n, void* stream) {
  if (n <= 0) return;
  switch (act) {
    case Activation::Relu: return forward_with<ReluFn>("relu", out, x, n, stream);
    case Activation::Silu: return forward_with<SiluFn>("silu", out, x, n, stream);
    case Activation::Gelu: return forward_with<GeluFn>("gelu", out, x, n, stream);
    case Activation::Sigmoid: return forward_with<SigmoidFn>("sigmoid", out, x, n, stream);
    case Activation::Softplus: return forward_with<SoftplusFn>("softplus", out, x, n, stream);
    case Activation::Exp: return forward_with<ExpFn>("exp", out, x, n, stream);
  }
  throw std::runtime_error("CUDA activation_forward: unknown activation " + std::to_string(int(act)));
}

void launch_activation_backward(Activation act, float* gx, const float* g, const float* saved, int64_t n,
                                void* stream) {
  if (n <= 0) return;
  switch (act) {
    case Activation::Relu: return backward_with<ReluFn>("relu backward", gx, g, saved, n, stream);
    case Activation::Silu: return backward_with<SiluFn>("silu backward", gx, g, saved, n, stream);
    case Activation::Gelu: return backward_with<GeluFn>("gelu backward", gx, g, saved, n, stream);
    case Activation::Sigmoid: return backward_with<SigmoidFn>("sigmoid backward", gx, g, saved, n, stream);
    case Activation::Softplus: return backward_with<SoftplusFn>("softplus backward", gx, g, saved, n, stream);
    case Activation::Exp: return backward_with<ExpFn>("exp backward", gx, g, saved, n, stream);
  }
  throw std::runtime_error("CUDA activation_backward: unknown activation " + std::to_string(int(act)));
}

}  // namespace

void register_activation_kernels(ActivationKernels& k) {
  k.activation_forward = launch_activation_forward;
  k.activation_backward = launch_activation_backward;
}

}  // namespace liednet::ops::cuda
