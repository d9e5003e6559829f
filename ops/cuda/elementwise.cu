// CUDA kernels of ops/elementwise.cpp (see elementwise.h): pointwise
// arithmetic, the per-channel broadcasts and the per-channel gradient sums.
//
// Pointwise kernels are grid-stride loops, so any element count works with a
// capped grid. The channel sums never use atomics (sums.cuh): results are
// bit-identical run to run. The arithmetic mirrors the CPU kernels line by
// line (same float operations in the same order) so that CUDA and CPU agree
// to rounding.
#include "ops/cuda/elementwise.h"

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "ops/cuda/check.cuh"
#include "ops/cuda/launch.cuh"
#include "ops/cuda/sums.cuh"

namespace liednet::ops::cuda {

namespace {

// ---- pointwise arithmetic -----------------------------------------------------

struct Plus {
  __device__ static float apply(float a, float b) { return a + b; }
};
struct Minus {
  __device__ static float apply(float a, float b) { return a - b; }
};
struct Times {
  __device__ static float apply(float a, float b) { return a * b; }
};

template <typename Op>
__global__ void binary_kernel(float* out, const float* a, const float* b, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) out[i] = Op::apply(a[i], b[i]);
}

template <typename Op>
void launch_binary(const char* name, float* out, const float* a, const float* b, int64_t n, void* stream) {
  if (n <= 0) return;
  LIEDNET_LAUNCH(binary_kernel<Op>, grid_for(n), kThreads, 0, as_stream(stream))(out, a, b, n);
  LIEDNET_CHECK_LAUNCH(name);
}

void launch_add(float* out, const float* a, const float* b, int64_t n, void* stream) {
  launch_binary<Plus>("add", out, a, b, n, stream);
}
void launch_sub(float* out, const float* a, const float* b, int64_t n, void* stream) {
  launch_binary<Minus>("sub", out, a, b, n, stream);
}
void launch_mul(float* out, const float* a, const float* b, int64_t n, void* stream) {
  launch_binary<Times>("mul", out, a, b, n, stream);
}

__global__ void add_into_kernel(float* dst, const float* src, float alpha, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) dst[i] = dst[i] + alpha * src[i];
}

void launch_add_into(float* dst, const float* src, float alpha, int64_t n, void* stream) {
  if (n <= 0) return;
  LIEDNET_LAUNCH(add_into_kernel, grid_for(n), kThreads, 0, as_stream(stream))(dst, src, alpha, n);
  LIEDNET_CHECK_LAUNCH("add_into");
}

__global__ void add_product_kernel(float* dst, const float* g, const float* other, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) dst[i] = dst[i] + g[i] * other[i];
}

void launch_add_product(float* dst, const float* g, const float* other, int64_t n, void* stream) {
  if (n <= 0) return;
  LIEDNET_LAUNCH(add_product_kernel, grid_for(n), kThreads, 0, as_stream(stream))(dst, g, other, n);
  LIEDNET_CHECK_LAUNCH("add_product (mul backward)");
}

template <typename Op>
__global__ void scalar_kernel(float* out, const float* x, float s, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) out[i] = Op::apply(x[i], s);
}

void launch_scale(float* out, const float* x, float s, int64_t n, void* stream) {
  if (n <= 0) return;
  LIEDNET_LAUNCH(scalar_kernel<Times>, grid_for(n), kThreads, 0, as_stream(stream))(out, x, s, n);
  LIEDNET_CHECK_LAUNCH("scale");
}

void launch_add_scalar(float* out, const float* x, float s, int64_t n, void* stream) {
  if (n <= 0) return;
  LIEDNET_LAUNCH(scalar_kernel<Plus>, grid_for(n), kThreads, 0, as_stream(stream))(out, x, s, n);
  LIEDNET_CHECK_LAUNCH("add_scalar");
}

// ---- per-channel broadcasts -----------------------------------------------------

// Where element i of x (samples, channels, inner) finds its per-channel value:
// plane = i / inner = sample * channels + channel, so a (samples, channels)
// tensor is indexed by the plane itself and a (channels) one by plane % channels.
struct ChannelIndex {
  int64_t channels, inner;
  bool per_sample;
  __device__ int64_t operator()(int64_t i) const {
    const int64_t plane = i / inner;
    return per_sample ? plane : plane % channels;
  }
};

template <typename Op>
__global__ void channel_kernel(float* out, const float* x, const float* b, int64_t n, ChannelIndex index) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) out[i] = Op::apply(x[i], b[index(i)]);
}

template <typename Op>
void launch_channel(const char* name, float* out, const float* x, const float* b, int64_t samples, int64_t channels,
                    int64_t inner, bool per_sample, void* stream) {
  const int64_t n = samples * channels * inner;
  if (n <= 0) return;
  LIEDNET_LAUNCH(channel_kernel<Op>, grid_for(n), kThreads, 0, as_stream(stream))(out, x, b, n,
      ChannelIndex{channels, inner, per_sample});
  LIEDNET_CHECK_LAUNCH(name);
}

void launch_add_channel(float* out, const float* x, const float* b, int64_t samples, int64_t channels, int64_t inner,
                        bool per_sample, void* stream) {
  launch_channel<Plus>("add_channel", out, x, b, samples, channels, inner, per_sample, stream);
}

void launch_mul_channel(float* out, const float* x, const float* b, int64_t samples, int64_t channels, int64_t inner,
                        bool per_sample, void* stream) {
  launch_channel<Times>("mul_channel", out, x, b, samples, channels, inner, per_sample, stream);
}

__global__ void add_mul_channel_kernel(float* gx, const float* g, const float* b, int64_t n, ChannelIndex index) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) gx[i] = gx[i] + g[i] * b[index(i)];
}

void launch_add_mul_channel(float* gx, const float* g, const float* b, int64_t samples, int64_t channels,
                            int64_t inner, bool per_sample, void* stream) {
  const int64_t n = samples * channels * inner;
  if (n <= 0) return;
  LIEDNET_LAUNCH(add_mul_channel_kernel, grid_for(n), kThreads, 0, as_stream(stream))(gx, g, b, n,
      ChannelIndex{channels, inner, per_sample});
  LIEDNET_CHECK_LAUNCH("add_mul_channel (mul_channel backward)");
}


// gb[entry] += each of its planes' sums, in sample order: per_sample entries
// own one plane (entry == plane); shared ones own planes s * channels + entry.
__global__ void channel_grad_combine_kernel(float* gb, const float* plane_sums, int64_t samples, int64_t channels,
                                            bool per_sample) {
  const int64_t entries = per_sample ? samples * channels : channels;
  for (int64_t e = first_index(); e < entries; e += grid_stride()) {
    if (per_sample) {
      gb[e] = gb[e] + plane_sums[e];
    } else {
      float acc = gb[e];
      for (int64_t s = 0; s < samples; ++s) acc = acc + plane_sums[s * channels + e];
      gb[e] = acc;
    }
  }
}

void launch_channel_grad(float* gb, const float* x, const float* g, int64_t samples, int64_t channels, int64_t inner,
                         bool per_sample, float* plane_sums, void* stream) {
  const int64_t planes = samples * channels;
  if (planes <= 0 || inner <= 0) return;  // nothing to add
  LIEDNET_LAUNCH(plane_sums_kernel, grid_for_items(planes), kThreads, 0, as_stream(stream))(plane_sums, g, x, planes,
      inner, 1.0);
  LIEDNET_CHECK_LAUNCH("channel_grad (plane sums)");
  const int64_t entries = per_sample ? planes : channels;
  LIEDNET_LAUNCH(channel_grad_combine_kernel, grid_for(entries), kThreads, 0, as_stream(stream))(gb, plane_sums,
      samples, channels, per_sample);
  LIEDNET_CHECK_LAUNCH("channel_grad (combine)");
}

}  // namespace

void register_elementwise_kernels(ElementwiseKernels& k) {
  k.add = launch_add;
  k.sub = launch_sub;
  k.mul = launch_mul;
  k.add_into = launch_add_into;
  k.add_product = launch_add_product;
  k.scale = launch_scale;
  k.add_scalar = launch_add_scalar;
  k.add_channel = launch_add_channel;
  k.mul_channel = launch_mul_channel;
  k.add_mul_channel = launch_add_mul_channel;
  k.channel_grad = launch_channel_grad;
}

}  // namespace liednet::ops::cuda
