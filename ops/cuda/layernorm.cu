// CUDA kernels of ops/layernorm.cpp (see layernorm.h).
//
// Every kernel gives each output element to one thread (a grid-stride loop over
// the flat output index) and decodes the index the same way the CPU kernels
// loop. No atomics: the parameter gradients are summed per chunk of
// rows in a fixed tree, then the chunks in order, so every result is
// bit-identical from run to run.
#include "ops/cuda/layernorm.h"

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "ops/cuda/check.cuh"
#include "ops/cuda/launch.cuh"

namespace liednet::ops::cuda {

namespace {

// ---- layer_norm_channels ---------------------------------------------------------
// One thread per (sample, pixel) row; its C values lie p apart, so neighbouring
// threads read neighbouring addresses at every channel. Sums in double, as the
// CPU: a float sum over many channels loses digits the variance needs.

__global__ void layer_norm_forward_kernel(float* y, float* mean, float* rstd, const float* x, const float* weight,
                                          const float* bias, int64_t n, int64_t c, int64_t p, double eps) {
  for (int64_t row = first_index(); row < n * p; row += grid_stride()) {
    const int64_t s = row / p, i = row % p;
    const float* xr = x + s * c * p + i;  // channel k at xr[k * p]
    float* yr = y + s * c * p + i;
    double sum = 0;
    for (int64_t k = 0; k < c; ++k) sum += xr[k * p];
    const double mu = sum / static_cast<double>(c);
    // Deviations from the mean in a second pass, so a large mean does not cancel the variance.
    double sq = 0;
    for (int64_t k = 0; k < c; ++k) {
      const double d = xr[k * p] - mu;
      sq += d * d;
    }
    const float m = static_cast<float>(mu);
    const float r = static_cast<float>(1.0 / sqrt(sq / static_cast<double>(c) + eps));
    mean[row] = m;
    rstd[row] = r;
    for (int64_t k = 0; k < c; ++k) {
      const float wk = weight ? weight[k] : 1.0f, bk = bias ? bias[k] : 0.0f;
      yr[k * p] = (xr[k * p] - m) * r * wk + bk;
    }
  }
}

// dx = rstd * (gh - mean_c(gh) - xh * mean_c(gh * xh)), xh = (x - mean) * rstd, gh = g * w.
__global__ void layer_norm_backward_x_kernel(float* gx, const float* g, const float* x, const float* weight,
                                             const float* mean, const float* rstd, int64_t n, int64_t c,
                                             int64_t p) {
  for (int64_t row = first_index(); row < n * p; row += grid_stride()) {
    const int64_t s = row / p, i = row % p;
    const int64_t base = s * c * p + i;  // channel k at base + k * p
    const float m = mean[row], r = rstd[row];
    double sum_gh = 0, sum_ghxh = 0;
    for (int64_t k = 0; k < c; ++k) {
      const float wk = weight ? weight[k] : 1.0f;
      const float xh = (x[base + k * p] - m) * r;
      const float gh = g[base + k * p] * wk;
      sum_gh += gh;
      sum_ghxh += gh * xh;
    }
    const float a = static_cast<float>(sum_gh / static_cast<double>(c));
    const float b = static_cast<float>(sum_ghxh / static_cast<double>(c));
    for (int64_t k = 0; k < c; ++k) {
      const float wk = weight ? weight[k] : 1.0f;
      const float xh = (x[base + k * p] - m) * r;
      gx[base + k * p] += r * (g[base + k * p] * wk - a - xh * b);
    }
  }
}

// First pass of dw[k] = sum of g * xh and db[k] = sum of g over the N * P rows:
// block (k, chunk) sums its chunk of kLayerNormRowsPerChunk rows of channel k
// (thread t takes rows t, t + kThreads, ...; then a fixed halving tree) and
// writes one partial per array, at [k * chunks + chunk]. Must run with kThreads threads.
__global__ void layer_norm_param_partials_kernel(double* part_w, double* part_b, const float* g, const float* x,
                                                 const float* mean, const float* rstd, int64_t n, int64_t c,
                                                 int64_t p, int64_t chunks, bool want_w) {
  LIEDNET_SHARED(double, sw, kThreads);
  LIEDNET_SHARED(double, sb, kThreads);
  const int64_t k = blockIdx.x / chunks, chunk = blockIdx.x % chunks;
  const int t = threadIdx.x;
  const int64_t rows = n * p;
  const int64_t begin = chunk * kLayerNormRowsPerChunk;
  const int64_t end = begin + kLayerNormRowsPerChunk < rows ? begin + kLayerNormRowsPerChunk : rows;
  double acc_w = 0, acc_b = 0;
  for (int64_t row = begin + t; row < end; row += kThreads) {
    const int64_t s = row / p, i = row % p;
    const int64_t e = (s * c + k) * p + i;
    const float gv = g[e];
    acc_b += gv;
    if (want_w) {
      const float xh = (x[e] - mean[row]) * rstd[row];
      acc_w += static_cast<double>(gv * xh);
    }
  }
  sw[t] = acc_w;
  sb[t] = acc_b;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (t < half) {
      sw[t] += sw[t + half];
      sb[t] += sb[t + half];
    }
    __syncthreads();
  }
  if (t == 0) {
    part_w[k * chunks + chunk] = sw[0];
    part_b[k * chunks + chunk] = sb[0];
  }
}

// Second pass: one thread per channel adds its partials in chunk order.
__global__ void layer_norm_param_combine_kernel(float* gw, float* gb, const double* part_w, const double* part_b,
                                                int64_t c, int64_t chunks) {
  for (int64_t k = first_index(); k < c; k += grid_stride()) {
    double dw = 0, db = 0;
    for (int64_t j = 0; j < chunks; ++j) {
      dw += part_w[k * chunks + j];
      db += part_b[k * chunks + j];
    }
    if (gw) gw[k] += static_cast<float>(dw);
    if (gb) gb[k] += static_cast<float>(db);
  }
}

void layer_norm_forward(float* y, float* mean, float* rstd, const float* x, const float* weight, const float* bias,
                        int64_t n, int64_t c, int64_t p, double eps) {
  if (n * p == 0) return;
  LIEDNET_LAUNCH(layer_norm_forward_kernel, grid_for(n * p), kThreads, 0, stream())(y, mean, rstd, x, weight, bias, n,
      c, p, eps);
  LIEDNET_CHECK_LAUNCH("layer_norm_forward_kernel");
}

void layer_norm_backward_x(float* gx, const float* g, const float* x, const float* weight, const float* mean,
                           const float* rstd, int64_t n, int64_t c, int64_t p) {
  if (n * p == 0) return;
  LIEDNET_LAUNCH(layer_norm_backward_x_kernel, grid_for(n * p), kThreads, 0, stream())(gx, g, x, weight, mean, rstd, n,
      c, p);
  LIEDNET_CHECK_LAUNCH("layer_norm_backward_x_kernel");
}

void layer_norm_backward_params(float* gw, float* gb, const float* g, const float* x, const float* mean,
                                const float* rstd, int64_t n, int64_t c, int64_t p, void* workspace) {
  if ((!gw && !gb) || c == 0) return;
  const int64_t chunks = layer_norm_chunks(n, p);
  if (chunks == 0) return;  // no rows: the gradients stay as they are
  double* part_w = static_cast<double*>(workspace);  // (C, chunks)
  double* part_b = part_w + c * chunks;               // (C, chunks)
  LIEDNET_LAUNCH(layer_norm_param_partials_kernel, static_cast<unsigned>(c * chunks), kThreads, 0, stream())(part_w,
      part_b, g, x, mean, rstd, n, c, p, chunks, gw != nullptr);
  LIEDNET_CHECK_LAUNCH("layer_norm_param_partials_kernel");
  LIEDNET_LAUNCH(layer_norm_param_combine_kernel, grid_for(c), kThreads, 0, stream())(gw, gb, part_w, part_b, c,
      chunks);
  LIEDNET_CHECK_LAUNCH("layer_norm_param_combine_kernel");
}

}  // namespace

void register_layernorm_kernels(LayerNormKernels& k) {
  k.layer_norm_forward = layer_norm_forward;
  k.layer_norm_backward_x = layer_norm_backward_x;
  k.layer_norm_backward_params = layer_norm_backward_params;
}

}  // namespace liednet::ops::cuda
