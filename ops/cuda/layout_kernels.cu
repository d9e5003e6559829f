// CUDA kernels of the layout op group (see layout_kernels.h).
//
// Every kernel gives each output element to one thread (a grid-stride loop over
// the flat output index) and decodes the index the same way the CPU kernels
// loop. Backward passes that the CPU writes as scatters are gathers here: each
// destination element reads its contributions from host-built inverse index
// lists, in list order, and writes once. No atomics anywhere, so every result
// is bit-identical from run to run.
#include "ops/cuda/layout_kernels.h"

#include "ops/cuda/check.cuh"

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace liednet {
// The library's one stream (tensor/cuda.cpp), as a cudaStream_t. Declared here
// because the .cu files are C++17 and include none of the library's headers.
void* cuda_stream();
}  // namespace liednet

namespace liednet::ops::cuda {

namespace {

cudaStream_t stream() { return static_cast<cudaStream_t>(::liednet::cuda_stream()); }

// Threads per block; a power of two (the layer norm block reduction halves it).
constexpr int kThreads = 256;

// Blocks for one thread per element; the grid-stride loops cover any excess.
unsigned grid_for(int64_t elements) {
  const int64_t blocks = (elements + kThreads - 1) / kThreads;
  const int64_t cap = int64_t{1} << 20;
  return static_cast<unsigned>(blocks < cap ? blocks : cap);
}

__device__ int64_t first_index() { return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ int64_t grid_stride() { return static_cast<int64_t>(blockDim.x) * gridDim.x; }

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
  __shared__ double sw[kThreads];
  __shared__ double sb[kThreads];
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
  layer_norm_forward_kernel<<<grid_for(n * p), kThreads, 0, stream()>>>(y, mean, rstd, x, weight, bias, n, c, p,
                                                                          eps);
  LIEDNET_CHECK_LAUNCH("layer_norm_forward_kernel");
}

void layer_norm_backward_x(float* gx, const float* g, const float* x, const float* weight, const float* mean,
                           const float* rstd, int64_t n, int64_t c, int64_t p) {
  if (n * p == 0) return;
  layer_norm_backward_x_kernel<<<grid_for(n * p), kThreads, 0, stream()>>>(gx, g, x, weight, mean, rstd, n, c, p);
  LIEDNET_CHECK_LAUNCH("layer_norm_backward_x_kernel");
}

void layer_norm_backward_params(float* gw, float* gb, const float* g, const float* x, const float* mean,
                                const float* rstd, int64_t n, int64_t c, int64_t p, void* workspace) {
  if ((!gw && !gb) || c == 0) return;
  const int64_t chunks = layer_norm_chunks(n, p);
  if (chunks == 0) return;  // no rows: the gradients stay as they are
  double* part_w = static_cast<double*>(workspace);  // (C, chunks)
  double* part_b = part_w + c * chunks;               // (C, chunks)
  layer_norm_param_partials_kernel<<<static_cast<unsigned>(c * chunks), kThreads, 0, stream()>>>(
      part_w, part_b, g, x, mean, rstd, n, c, p, chunks, gw != nullptr);
  LIEDNET_CHECK_LAUNCH("layer_norm_param_partials_kernel");
  layer_norm_param_combine_kernel<<<grid_for(c), kThreads, 0, stream()>>>(gw, gb, part_w, part_b, c, chunks);
  LIEDNET_CHECK_LAUNCH("layer_norm_param_combine_kernel");
}

// ---- pixel shuffle ---------------------------------------------------------------
// One thread per element of big (N, C, H*r, W*r); the element of small
// (N, C*r*r, H, W) holding the same value is decoded from it. The map is a
// bijection, so every destination element has exactly one writer.
template <bool kToBig>
__global__ void shuffle_kernel(float* dst, const float* src, int64_t n, int64_t c, int64_t h, int64_t w, int64_t r,
                               bool add) {
  const int64_t hr = h * r, wr = w * r, total = n * c * hr * wr;
  for (int64_t e = first_index(); e < total; e += grid_stride()) {
    const int64_t bx = e % wr, t = e / wr;
    const int64_t by = t % hr, plane = t / hr;  // plane = sample * C + channel
    const int64_t hh = by / r, i = by % r, ww = bx / r, j = bx % r;
    const int64_t se = ((plane * r * r + i * r + j) * h + hh) * w + ww;  // small (n, c*r*r + i*r + j, hh, ww)
    const int64_t d = kToBig ? e : se, s = kToBig ? se : e;
    if (add)
      dst[d] += src[s];
    else
      dst[d] = src[s];
  }
}

void shuffle_to_big(float* big, const float* small, int64_t n, int64_t c, int64_t h, int64_t w, int64_t r,
                    bool add) {
  const int64_t total = n * c * h * r * w * r;
  if (total == 0) return;
  shuffle_kernel<true><<<grid_for(total), kThreads, 0, stream()>>>(big, small, n, c, h, w, r, add);
  LIEDNET_CHECK_LAUNCH("shuffle_kernel<true>");
}

void shuffle_to_small(float* small, const float* big, int64_t n, int64_t c, int64_t h, int64_t w, int64_t r,
                      bool add) {
  const int64_t total = n * c * h * r * w * r;
  if (total == 0) return;
  shuffle_kernel<false><<<grid_for(total), kThreads, 0, stream()>>>(small, big, n, c, h, w, r, add);
  LIEDNET_CHECK_LAUNCH("shuffle_kernel<false>");
}

// ---- channel copies --------------------------------------------------------------
__global__ void copy_planes_kernel(float* dst, int64_t dst_c, int64_t dst_c0, const float* src, int64_t src_c,
                                   int64_t src_c0, int64_t n, int64_t count, int64_t inner, bool add) {
  const int64_t total = n * count * inner;
  for (int64_t e = first_index(); e < total; e += grid_stride()) {
    const int64_t i = e % inner, t = e / inner;
    const int64_t k = t % count, s = t / count;
    const int64_t d = (s * dst_c + dst_c0 + k) * inner + i;
    const int64_t from = (s * src_c + src_c0 + k) * inner + i;
    if (add)
      dst[d] += src[from];
    else
      dst[d] = src[from];
  }
}

void copy_planes(float* dst, int64_t dst_c, int64_t dst_c0, const float* src, int64_t src_c, int64_t src_c0,
                 int64_t n, int64_t count, int64_t inner, bool add) {
  const int64_t total = n * count * inner;
  if (total == 0) return;
  copy_planes_kernel<<<grid_for(total), kThreads, 0, stream()>>>(dst, dst_c, dst_c0, src, src_c, src_c0, n, count,
                                                                   inner, add);
  LIEDNET_CHECK_LAUNCH("copy_planes_kernel");
}

// ---- pad_reflect and crop ----------------------------------------------------------
__global__ void remap_forward_kernel(float* out, const float* in, int64_t planes, int64_t h, int64_t w,
                                     const int32_t* rows, int64_t ho, const int32_t* cols, int64_t wo) {
  const int64_t total = planes * ho * wo;
  for (int64_t e = first_index(); e < total; e += grid_stride()) {
    const int64_t ox = e % wo, t = e / wo;
    const int64_t oy = t % ho, plane = t / ho;
    out[e] = in[(plane * h + rows[oy]) * w + cols[ox]];
  }
}

// One thread per input element: it starts from the gradient already there and
// adds the output gradients of every (output row, output column) pair that
// maps to it, rows outer, both in ascending order -- the CPU scatter's order.
__global__ void remap_backward_kernel(float* gin, const float* gout, int64_t planes, int64_t h, int64_t w,
                                      const int32_t* row_start, const int32_t* row_list, int64_t ho,
                                      const int32_t* col_start, const int32_t* col_list, int64_t wo) {
  const int64_t total = planes * h * w;
  for (int64_t e = first_index(); e < total; e += grid_stride()) {
    const int64_t x = e % w, t = e / w;
    const int64_t y = t % h, plane = t / h;
    const float* gp = gout + plane * ho * wo;
    float acc = gin[e];
    for (int32_t a = row_start[y]; a < row_start[y + 1]; ++a) {
      const float* gr = gp + static_cast<int64_t>(row_list[a]) * wo;
      for (int32_t b = col_start[x]; b < col_start[x + 1]; ++b) acc += gr[col_list[b]];
    }
    gin[e] = acc;
  }
}

void remap_forward(float* out, const float* in, int64_t planes, int64_t h, int64_t w, const int32_t* rows, int64_t ho,
                   const int32_t* cols, int64_t wo) {
  const int64_t total = planes * ho * wo;
  if (total == 0) return;
  remap_forward_kernel<<<grid_for(total), kThreads, 0, stream()>>>(out, in, planes, h, w, rows, ho, cols, wo);
  LIEDNET_CHECK_LAUNCH("remap_forward_kernel");
}

void remap_backward(float* gin, const float* gout, int64_t planes, int64_t h, int64_t w, const int32_t* row_start,
                    const int32_t* row_list, int64_t ho, const int32_t* col_start, const int32_t* col_list,
                    int64_t wo) {
  const int64_t total = planes * h * w;
  if (total == 0) return;
  remap_backward_kernel<<<grid_for(total), kThreads, 0, stream()>>>(gin, gout, planes, h, w, row_start, row_list, ho,
                                                                      col_start, col_list, wo);
  LIEDNET_CHECK_LAUNCH("remap_backward_kernel");
}

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
  resize_bicubic_forward_kernel<<<grid_for(total), kThreads, 0, stream()>>>(out, x, planes, h, w, oh, ow, ty_index,
                                                                              ty_weight, tx_index, tx_weight);
  LIEDNET_CHECK_LAUNCH("resize_bicubic_forward_kernel");
}

void resize_bicubic_backward(float* gx, const float* gout, int64_t planes, int64_t h, int64_t w, int64_t oh,
                             int64_t ow, const int32_t* ry_start, const int32_t* ry_list, const float* ty_weight,
                             const int32_t* rx_start, const int32_t* rx_list, const float* tx_weight) {
  const int64_t total = planes * h * w;
  if (total == 0) return;
  resize_bicubic_backward_kernel<<<grid_for(total), kThreads, 0, stream()>>>(
      gx, gout, planes, h, w, oh, ow, ry_start, ry_list, ty_weight, rx_start, rx_list, tx_weight);
  LIEDNET_CHECK_LAUNCH("resize_bicubic_backward_kernel");
}

// ---- max_pool2x2 -----------------------------------------------------------------
__global__ void max_pool2x2_forward_kernel(float* out, uint8_t* winner, const float* x, int64_t planes, int64_t h,
                                           int64_t w) {
  const int64_t ho = h / 2, wo = w / 2, total = planes * ho * wo;
  for (int64_t o = first_index(); o < total; o += grid_stride()) {
    const int64_t j = o % wo, t = o / wo;
    const int64_t i = t % ho, plane = t / ho;
    const float* top = x + plane * h * w + 2 * i * w + 2 * j;
    const float cand[4] = {top[0], top[1], top[w], top[w + 1]};
    int best = 0;
    // Strict > keeps the first of equal values; once a NaN is held nothing replaces it.
    for (int k = 1; k < 4; ++k)
      if (cand[k] > cand[best] || (isnan(cand[k]) && !isnan(cand[best]))) best = k;
    out[o] = cand[best];
    if (winner) winner[o] = static_cast<uint8_t>(best);
  }
}

// Windows do not overlap, so each input element has at most one writer.
__global__ void max_pool2x2_backward_kernel(float* gx, const float* g, const uint8_t* winner, int64_t planes,
                                            int64_t h, int64_t w) {
  const int64_t ho = h / 2, wo = w / 2, total = planes * ho * wo;
  for (int64_t o = first_index(); o < total; o += grid_stride()) {
    const int64_t j = o % wo, t = o / wo;
    const int64_t i = t % ho, plane = t / ho;
    const int k = winner[o];
    gx[plane * h * w + (2 * i + k / 2) * w + 2 * j + k % 2] += g[o];
  }
}

void max_pool2x2_forward(float* out, uint8_t* winner, const float* x, int64_t planes, int64_t h, int64_t w) {
  const int64_t total = planes * (h / 2) * (w / 2);
  if (total == 0) return;
  max_pool2x2_forward_kernel<<<grid_for(total), kThreads, 0, stream()>>>(out, winner, x, planes, h, w);
  LIEDNET_CHECK_LAUNCH("max_pool2x2_forward_kernel");
}

void max_pool2x2_backward(float* gx, const float* g, const uint8_t* winner, int64_t planes, int64_t h, int64_t w) {
  const int64_t total = planes * (h / 2) * (w / 2);
  if (total == 0) return;
  max_pool2x2_backward_kernel<<<grid_for(total), kThreads, 0, stream()>>>(gx, g, winner, planes, h, w);
  LIEDNET_CHECK_LAUNCH("max_pool2x2_backward_kernel");
}

}  // namespace

void register_layout_kernels(LayoutKernels& k) {
  k.layer_norm_forward = layer_norm_forward;
  k.layer_norm_backward_x = layer_norm_backward_x;
  k.layer_norm_backward_params = layer_norm_backward_params;
  k.shuffle_to_big = shuffle_to_big;
  k.shuffle_to_small = shuffle_to_small;
  k.copy_planes = copy_planes;
  k.remap_forward = remap_forward;
  k.remap_backward = remap_backward;
  k.resize_bicubic_forward = resize_bicubic_forward;
  k.resize_bicubic_backward = resize_bicubic_backward;
  k.max_pool2x2_forward = max_pool2x2_forward;
  k.max_pool2x2_backward = max_pool2x2_backward;
}

}  // namespace liednet::ops::cuda
