// CUDA kernels of the elementwise op group, as function pointers filled by
// register_elementwise_kernels (ops/cuda/elementwise_kernels.cu, CUDA builds only). The op
// files call them through cuda::elementwise_kernels() when their inputs are on the GPU.
//
// Every kernel is float32, takes device pointers and element counts, and is
// queued on `stream` (a cudaStream_t, from liednet::cuda_stream()); a launch
// error throws std::runtime_error naming the kernel, file and line.
//
// Sums are deterministic: the split into blocks depends on the sizes only, each
// block accumulates in double and reduces in a fixed tree, and the block
// results are combined in a fixed order by a second kernel. No atomics.
#pragma once

#include <cstdint>

namespace liednet::ops::cuda {

// The pointwise activations (ops/activation.h), one kernel each, picked at launch.
enum class Activation : int { Relu, Silu, Gelu, Sigmoid, Softplus, Exp };

// Elements per block of the first pass of sum / mean / l1_loss: the same block
// size as the CPU's ordered_sum, so both round at the same boundaries.
constexpr int64_t kSumBlockElements = 8192;

// Doubles of workspace the sums need for n elements: one per block.
inline int64_t sum_partial_count(int64_t n) { return (n + kSumBlockElements - 1) / kSumBlockElements; }

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

struct ElementwiseKernels {
  // out[i] = a[i] op b[i]; out may alias a or b.
  void (*add)(float* out, const float* a, const float* b, int64_t n, void* stream) = nullptr;
  void (*sub)(float* out, const float* a, const float* b, int64_t n, void* stream) = nullptr;
  void (*mul)(float* out, const float* a, const float* b, int64_t n, void* stream) = nullptr;
  // dst[i] += alpha * src[i]
  void (*add_into)(float* dst, const float* src, float alpha, int64_t n, void* stream) = nullptr;
  // dst[i] += g[i] * other[i] (the backward of mul)
  void (*add_product)(float* dst, const float* g, const float* other, int64_t n, void* stream) = nullptr;
  // out[i] = x[i] * s and out[i] = x[i] + s
  void (*scale)(float* out, const float* x, float s, int64_t n, void* stream) = nullptr;
  void (*add_scalar)(float* out, const float* x, float s, int64_t n, void* stream) = nullptr;

  // Per-channel broadcasts over x viewed as (samples, channels, inner); b is
  // (channels), or (samples, channels) when per_sample.
  //   out = x + b, out = x * b
  void (*add_channel)(float* out, const float* x, const float* b, int64_t samples, int64_t channels, int64_t inner,
                      bool per_sample, void* stream) = nullptr;
  void (*mul_channel)(float* out, const float* x, const float* b, int64_t samples, int64_t channels, int64_t inner,
                      bool per_sample, void* stream) = nullptr;
  //   gx += g * b (the backward of mul_channel for x)
  void (*add_mul_channel)(float* gx, const float* g, const float* b, int64_t samples, int64_t channels, int64_t inner,
                          bool per_sample, void* stream) = nullptr;
  //   gb[entry] += sum over its planes of g (x null) or of x * g. Each plane is
  //   summed into plane_sums (samples * channels floats of workspace), then
  //   each entry adds its planes' sums in sample order, as the CPU does.
  void (*channel_grad)(float* gb, const float* x, const float* g, int64_t samples, int64_t channels, int64_t inner,
                       bool per_sample, float* plane_sums, void* stream) = nullptr;

  // out[i] = f(x[i]); gx[i] += g[i] * f'(...) where `saved` is the input for
  // Silu, Gelu and Softplus and the output for Relu, Sigmoid and Exp.
  void (*activation_forward)(Activation act, float* out, const float* x, int64_t n, void* stream) = nullptr;
  void (*activation_backward)(Activation act, float* gx, const float* g, const float* saved, int64_t n,
                              void* stream) = nullptr;

  // out[0] = (sum of x) * factor; partials holds sum_partial_count(n) doubles.
  void (*sum)(float* out, const float* x, int64_t n, double factor, double* partials, void* stream) = nullptr;
  // gx[i] += float(double(g[0]) * factor), g a one-element device tensor (the backward of sum and mean).
  void (*add_scaled_scalar)(float* gx, const float* g, double factor, int64_t n, void* stream) = nullptr;

  // out[plane] = mean of x[plane, :] over hw elements, for every plane.
  void (*mean_hw)(float* out, const float* x, int64_t planes, int64_t hw, void* stream) = nullptr;
  // gx[plane, i] += float(double(g[plane]) / hw)
  void (*mean_hw_backward)(float* gx, const float* g, int64_t planes, int64_t hw, void* stream) = nullptr;

  // out[0] = mean |pred - target|; sign[i] = sign(pred[i] - target[i]) in
  // {-1, 0, 1} unless sign is null; partials as for sum.
  void (*l1_loss)(float* out, int8_t* sign, const float* pred, const float* target, int64_t n, double* partials,
                  void* stream) = nullptr;
  // d = float(double(g[0]) / n) * sign[i]; gpred[i] += d, gtarget[i] -= d (either may be null).
  void (*l1_loss_backward)(float* gpred, float* gtarget, const int8_t* sign, const float* g, int64_t n,
                           void* stream) = nullptr;

  // One Adam update of n parameters in place, in the CPU's order of operations.
  void (*adam_step)(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
                    AdamScalars s, void* stream) = nullptr;
};

void register_elementwise_kernels(ElementwiseKernels& k);
const ElementwiseKernels& elementwise_kernels();

}  // namespace liednet::ops::cuda
