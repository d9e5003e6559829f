// CUDA kernels of ops/conv2d.cpp (see conv2d.h); the GEMMs are gemm.cu's.
//
// Every kernel is written for obviousness first: one thread per output
// element, int64 indices throughout, grid-stride loops so any size is covered
// by a bounded grid. Sums are never split across threads with atomics: a thread
// owns its output element, and the two reductions over many elements (weight
// gradient of a depthwise tap, bias gradient of a channel) are one block each,
// with fixed per-thread strides and a fixed tree, so they are bit-identical
// from run to run.
#include "ops/cuda/conv2d.h"

#include <cuda_runtime.h>

#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "ops/cuda/check.cuh"
#include "ops/cuda/launch.cuh"

namespace liednet::ops::cuda {

namespace {

// Reductions rely on this exact block size (block_sum's tree).
constexpr int kReduceThreads = 256;

// The sum of v over the block (blockDim.x == kReduceThreads), in a fixed tree
// order; every thread gets it. Every thread of the block must call it.
__device__ float block_sum(float v) {
  LIEDNET_SHARED(float, buf, kReduceThreads);
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int half = kReduceThreads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) buf[threadIdx.x] += buf[threadIdx.x + half];
    __syncthreads();
  }
  return buf[0];
}

// ---- per-element bodies ---------------------------------------------------------------
// Each kernel below is a grid-stride loop over one of these; they are plain
// functions of the element index (host-callable too, so the index math can be
// exercised without a GPU).

// Column element idx of im2col for output rows [r0, r1); see Conv2dKernels::im2col.
__host__ __device__ inline void im2col_at(const ConvShape& s, const float* __restrict__ x, int64_t r0, int64_t r1,
                                          float* __restrict__ col, int64_t idx) {
  const int64_t band = (r1 - r0) * s.ow;
  const int64_t taps = s.kh * s.kw;
  const int64_t row = idx / band, p = idx % band;  // row (c, i, j), pixel p of the band
  const int64_t c = row / taps, t = row % taps;
  const int64_t i = t / s.kw, j = t % s.kw;
  const int64_t oh = r0 + p / s.ow, ow = p % s.ow;
  const int64_t ih = oh * s.stride - s.pad + i, iw = ow * s.stride - s.pad + j;
  const bool inside = ih >= 0 && ih < s.h && iw >= 0 && iw < s.w;
  col[idx] = inside ? x[(c * s.h + ih) * s.w + iw] : 0.0f;
}

// Input pixel idx of (c, ih, iw) with ih in [ih0, ih1): gathers the entries
// im2col copied it to, taps in (i, j) order, and adds their sum once. Pixel
// (ih, iw) went to tap (i, j) of output (oh, ow) exactly when
// oh*stride = ih + pad - i and ow*stride = iw + pad - j.
__host__ __device__ inline void col2im_add_at(const ConvShape& s, const float* __restrict__ col, int64_t r0,
                                              int64_t r1, int64_t ih0, int64_t ih1, float* __restrict__ dx,
                                              int64_t idx) {
  const int64_t band = (r1 - r0) * s.ow;
  const int64_t rows = ih1 - ih0;
  const int64_t iw = idx % s.w;
  const int64_t ih = ih0 + (idx / s.w) % rows;
  const int64_t c = idx / (s.w * rows);
  float sum = 0.0f;
  for (int64_t i = 0; i < s.kh; ++i) {
    const int64_t th = ih + s.pad - i;
    if (th < 0 || th % s.stride != 0) continue;
    const int64_t oh = th / s.stride;
    if (oh < r0 || oh >= r1) continue;
    const float* crow = col + (c * s.kh + i) * s.kw * band + (oh - r0) * s.ow;  // row (c, i, 0), output row oh
    for (int64_t j = 0; j < s.kw; ++j) {
      const int64_t tw = iw + s.pad - j;
      if (tw < 0 || tw % s.stride != 0) continue;
      const int64_t ow = tw / s.stride;
      if (ow >= s.ow) continue;
      sum += crow[j * band + ow];
    }
  }
  dx[(c * s.h + ih) * s.w + iw] += sum;
}

__host__ __device__ inline void fill_bias_at(const ConvShape& s, const float* __restrict__ bias,
                                             float* __restrict__ out, int64_t idx) {
  out[idx] = bias[(idx / (s.oh * s.ow)) % s.c_out];
}

// Term e of channel c's bias gradient: e runs over (n, pixel).
__host__ __device__ inline float bias_term(const ConvShape& s, const float* __restrict__ gout, int64_t c, int64_t e) {
  const int64_t pout = s.oh * s.ow;
  const int64_t n = e / pout, p = e % pout;
  return gout[(n * s.c_out + c) * pout + p];
}

// Depthwise: groups == c_in == c_out, so channel c of the output reads only
// channel c of x and weight row c (kh*kw taps).

// Output element idx: bias, then the taps in (i, j) order.
__host__ __device__ inline void depthwise_forward_at(const ConvShape& s, const float* __restrict__ x,
                                                     const float* __restrict__ w, const float* __restrict__ bias,
                                                     float* __restrict__ out, int64_t idx) {
  const int64_t pout = s.oh * s.ow, taps = s.kh * s.kw;
  const int64_t ow = idx % s.ow;
  const int64_t oh = (idx / s.ow) % s.oh;
  const int64_t plane = idx / pout;  // n * c_in + c
  const int64_t c = plane % s.c_in;
  const float* xp = x + plane * s.h * s.w;
  const float* wc = w + c * taps;
  float acc = bias ? bias[c] : 0.0f;
  for (int64_t i = 0; i < s.kh; ++i) {
    const int64_t ih = oh * s.stride - s.pad + i;
    if (ih < 0 || ih >= s.h) continue;
    for (int64_t j = 0; j < s.kw; ++j) {
      const int64_t iw = ow * s.stride - s.pad + j;
      if (iw < 0 || iw >= s.w) continue;
      acc += wc[i * s.kw + j] * xp[ih * s.w + iw];
    }
  }
  out[idx] = acc;
}

// Input element idx: the taps that read it, in (i, j) order (the same
// inversion as col2im_add_at).
__host__ __device__ inline void depthwise_backward_input_at(const ConvShape& s, const float* __restrict__ w,
                                                            const float* __restrict__ gout, float* __restrict__ dx,
                                                            int64_t idx) {
  const int64_t pin = s.h * s.w, pout = s.oh * s.ow, taps = s.kh * s.kw;
  const int64_t iw = idx % s.w;
  const int64_t ih = (idx / s.w) % s.h;
  const int64_t plane = idx / pin;  // n * c_in + c
  const int64_t c = plane % s.c_in;
  const float* gp = gout + plane * pout;
  const float* wc = w + c * taps;
  float sum = 0.0f;
  for (int64_t i = 0; i < s.kh; ++i) {
    const int64_t th = ih + s.pad - i;
    if (th < 0 || th % s.stride != 0) continue;
    const int64_t oh = th / s.stride;
    if (oh >= s.oh) continue;
    for (int64_t j = 0; j < s.kw; ++j) {
      const int64_t tw = iw + s.pad - j;
      if (tw < 0 || tw % s.stride != 0) continue;
      const int64_t ow = tw / s.stride;
      if (ow >= s.ow) continue;
      sum += wc[i * s.kw + j] * gp[oh * s.ow + ow];
    }
  }
  dx[idx] += sum;
}

// Term e of the weight gradient of channel c, tap t: e runs over (n, oh, ow),
// the term is gout at that output times the input pixel tap t reads there.
__host__ __device__ inline float depthwise_weight_term(const ConvShape& s, const float* __restrict__ x,
                                                       const float* __restrict__ gout, int64_t c, int64_t t,
                                                       int64_t e) {
  const int64_t pout = s.oh * s.ow;
  const int64_t i = t / s.kw, j = t % s.kw;
  const int64_t n = e / pout, p = e % pout;
  const int64_t oh = p / s.ow, ow = p % s.ow;
  const int64_t ih = oh * s.stride - s.pad + i, iw = ow * s.stride - s.pad + j;
  if (ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) return 0.0f;
  const int64_t plane = n * s.c_in + c;
  return gout[plane * pout + p] * x[(plane * s.h + ih) * s.w + iw];
}

// ---- kernels ------------------------------------------------------------------------

__global__ void im2col_kernel(ConvShape s, const float* __restrict__ x, int64_t r0, int64_t r1,
                              float* __restrict__ col, int64_t total) {
  for (int64_t idx = first_index(); idx < total; idx += grid_stride()) im2col_at(s, x, r0, r1, col, idx);
}

__global__ void col2im_add_kernel(ConvShape s, const float* __restrict__ col, int64_t r0, int64_t r1, int64_t ih0,
                                  int64_t ih1, float* __restrict__ dx, int64_t total) {
  for (int64_t idx = first_index(); idx < total; idx += grid_stride()) col2im_add_at(s, col, r0, r1, ih0, ih1, dx, idx);
}

__global__ void fill_bias_kernel(ConvShape s, const float* __restrict__ bias, float* __restrict__ out, int64_t total) {
  for (int64_t idx = first_index(); idx < total; idx += grid_stride()) fill_bias_at(s, bias, out, idx);
}

// One block per output channel; thread k sums terms k, k + kReduceThreads, ...
__global__ void bias_backward_kernel(ConvShape s, const float* __restrict__ gout, float* __restrict__ db) {
  const int64_t c = blockIdx.x;
  const int64_t total = s.n * s.oh * s.ow;
  float acc = 0.0f;
  for (int64_t e = threadIdx.x; e < total; e += kReduceThreads) acc += bias_term(s, gout, c, e);
  acc = block_sum(acc);
  if (threadIdx.x == 0) db[c] += acc;
}

__global__ void depthwise_forward_kernel(ConvShape s, const float* __restrict__ x, const float* __restrict__ w,
                                         const float* __restrict__ bias, float* __restrict__ out, int64_t total) {
  for (int64_t idx = first_index(); idx < total; idx += grid_stride()) depthwise_forward_at(s, x, w, bias, out, idx);
}

__global__ void depthwise_backward_input_kernel(ConvShape s, const float* __restrict__ w,
                                                const float* __restrict__ gout, float* __restrict__ dx,
                                                int64_t total) {
  for (int64_t idx = first_index(); idx < total; idx += grid_stride()) depthwise_backward_input_at(s, w, gout, dx, idx);
}

// One block per (channel, tap); thread k sums terms k, k + kReduceThreads, ...,
// so a warp reads consecutive pixels.
__global__ void depthwise_backward_weight_kernel(ConvShape s, const float* __restrict__ x,
                                                 const float* __restrict__ gout, float* __restrict__ dw) {
  const int64_t taps = s.kh * s.kw;
  const int64_t c = blockIdx.x / taps, t = blockIdx.x % taps;
  const int64_t total = s.n * s.oh * s.ow;
  float acc = 0.0f;
  for (int64_t e = threadIdx.x; e < total; e += kReduceThreads) acc += depthwise_weight_term(s, x, gout, c, t, e);
  acc = block_sum(acc);
  if (threadIdx.x == 0) dw[c * taps + t] += acc;
}

// ---- launches -------------------------------------------------------------------------

void im2col(const ConvShape& s, const float* x, int64_t r0, int64_t r1, float* col) {
  const int64_t total = s.c_in * s.kh * s.kw * (r1 - r0) * s.ow;
  if (total <= 0) return;
  LIEDNET_LAUNCH(im2col_kernel, grid_for(total), kThreads, 0, stream())(s, x, r0, r1, col, total);
  LIEDNET_CHECK_LAUNCH("im2col_kernel");
}

// Only input rows that some output row of [r0, r1) reads get a contribution.
void col2im_rows(const ConvShape& s, int64_t r0, int64_t r1, int64_t* ih0, int64_t* ih1) {
  *ih0 = r0 * s.stride - s.pad;
  *ih1 = (r1 - 1) * s.stride - s.pad + s.kh;
  if (*ih0 < 0) *ih0 = 0;
  if (*ih1 > s.h) *ih1 = s.h;
}

void col2im_add(const ConvShape& s, const float* col, int64_t r0, int64_t r1, float* dx) {
  if (r1 <= r0) return;
  int64_t ih0 = 0, ih1 = 0;
  col2im_rows(s, r0, r1, &ih0, &ih1);
  if (ih1 <= ih0) return;
  const int64_t total = s.c_in * (ih1 - ih0) * s.w;
  if (total <= 0) return;
  LIEDNET_LAUNCH(col2im_add_kernel, grid_for(total), kThreads, 0, stream())(s, col, r0, r1, ih0, ih1, dx, total);
  LIEDNET_CHECK_LAUNCH("col2im_add_kernel");
}

void fill_bias(const ConvShape& s, const float* bias, float* out) {
  const int64_t total = s.n * s.c_out * s.oh * s.ow;
  if (total <= 0) return;
  LIEDNET_LAUNCH(fill_bias_kernel, grid_for(total), kThreads, 0, stream())(s, bias, out, total);
  LIEDNET_CHECK_LAUNCH("fill_bias_kernel");
}

void bias_backward(const ConvShape& s, const float* gout, float* db) {
  if (s.c_out <= 0) return;
  if (s.c_out > INT_MAX) throw std::runtime_error("bias_backward: too many channels for one block each");
  LIEDNET_LAUNCH(bias_backward_kernel, static_cast<unsigned int>(s.c_out), kReduceThreads, 0, stream())(s, gout, db);
  LIEDNET_CHECK_LAUNCH("bias_backward_kernel");
}

void depthwise_forward(const ConvShape& s, const float* x, const float* w, const float* bias, float* out) {
  const int64_t total = s.n * s.c_in * s.oh * s.ow;
  if (total <= 0) return;
  LIEDNET_LAUNCH(depthwise_forward_kernel, grid_for(total), kThreads, 0, stream())(s, x, w, bias, out, total);
  LIEDNET_CHECK_LAUNCH("depthwise_forward_kernel");
}

void depthwise_backward_input(const ConvShape& s, const float* w, const float* gout, float* dx) {
  const int64_t total = s.n * s.c_in * s.h * s.w;
  if (total <= 0) return;
  LIEDNET_LAUNCH(depthwise_backward_input_kernel, grid_for(total), kThreads, 0, stream())(s, w, gout, dx, total);
  LIEDNET_CHECK_LAUNCH("depthwise_backward_input_kernel");
}

void depthwise_backward_weight(const ConvShape& s, const float* x, const float* gout, float* dw) {
  const int64_t blocks = s.c_in * s.kh * s.kw;
  if (blocks <= 0) return;
  if (blocks > INT_MAX) throw std::runtime_error("depthwise_backward_weight: too many (channel, tap) blocks");
  LIEDNET_LAUNCH(depthwise_backward_weight_kernel, static_cast<unsigned int>(blocks), kReduceThreads, 0, stream())(s, x,
      gout, dw);
  LIEDNET_CHECK_LAUNCH("depthwise_backward_weight_kernel");
}

}  // namespace

void register_conv2d_kernels(Conv2dKernels& k) {
  k.im2col = im2col;
  k.col2im_add = col2im_add;
  k.fill_bias = fill_bias;
  k.bias_backward = bias_backward;
  k.depthwise_forward = depthwise_forward;
  k.depthwise_backward_input = depthwise_backward_input;
  k.depthwise_backward_weight = depthwise_backward_weight;
}

}  // namespace liednet::ops::cuda
