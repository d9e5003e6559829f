// CUDA kernels of the layout op group, as function pointers filled by
// register_layout_kernels (ops/cuda/layout_kernels.cu, CUDA builds only). The op
// files call them through cuda::layout_kernels() when their inputs are on the GPU.
//
// Every pointer is device memory of float32 unless said otherwise; every kernel
// runs on the library's one stream. "Adds into" means the kernel reads the
// destination and writes back the sum (backward gradient buffers). No kernel
// uses atomics: each output element is written by one thread, and every sum
// runs in an order fixed by the sizes alone, so results are bit-identical from
// run to run.
#pragma once

#include <cstdint>
#include <vector>

namespace liednet::ops::cuda {

// For the backward gathers (host side): the inverse of a map from positions
// q < count to indices map[q] in [0, n), appended to `out` as n + 1 starts and
// then the positions grouped by index, ascending within a group -- the order
// in which the kernels add them. Positions and n must fit in int32.
inline void append_inverse(std::vector<int32_t>& out, const int64_t* map, int64_t count, int64_t n) {
  std::vector<int32_t> start(n + 1, 0);
  for (int64_t q = 0; q < count; ++q) ++start[map[q] + 1];
  for (int64_t i = 0; i < n; ++i) start[i + 1] += start[i];
  std::vector<int32_t> list(count), next(start.begin(), start.end() - 1);
  for (int64_t q = 0; q < count; ++q) list[next[map[q]]++] = static_cast<int32_t>(q);
  out.insert(out.end(), start.begin(), start.end());
  out.insert(out.end(), list.begin(), list.end());
}

// layer_norm_channels' weight and bias gradients are reduced over the N * P
// (sample, pixel) rows in chunks of this many rows: one double partial per
// chunk and channel, then the partials are added in chunk order.
constexpr int64_t kLayerNormRowsPerChunk = 4096;
inline int64_t layer_norm_chunks(int64_t n, int64_t p) {
  return (n * p + kLayerNormRowsPerChunk - 1) / kLayerNormRowsPerChunk;
}
// Bytes of the workspace the layer norm parameter gradients need: two
// (C, chunks) arrays of double.
inline int64_t layer_norm_workspace_bytes(int64_t n, int64_t c, int64_t p) {
  return 2 * c * layer_norm_chunks(n, p) * static_cast<int64_t>(sizeof(double));
}

struct LayoutKernels {
  // ---- layer_norm_channels: x viewed as (N, C, P) -----------------------------
  // y (N, C, P), mean and rstd (N, P) written; weight, bias (C) may be null.
  void (*layer_norm_forward)(float* y, float* mean, float* rstd, const float* x, const float* weight,
                             const float* bias, int64_t n, int64_t c, int64_t p, double eps) = nullptr;
  // Adds into gx (N, C, P) the input gradient; weight may be null.
  void (*layer_norm_backward_x)(float* gx, const float* g, const float* x, const float* weight, const float* mean,
                                const float* rstd, int64_t n, int64_t c, int64_t p) = nullptr;
  // Adds into gw and gb (C) the parameter gradients; either may be null. When
  // gw is null, x, mean and rstd may be null too (only g is read).
  // workspace: layer_norm_workspace_bytes(n, c, p) bytes of device memory.
  void (*layer_norm_backward_params)(float* gw, float* gb, const float* g, const float* x, const float* mean,
                                     const float* rstd, int64_t n, int64_t c, int64_t p, void* workspace) = nullptr;

  // ---- pixel shuffle: big (N, C, H*r, W*r) <-> small (N, C*r*r, H, W) ----------
  // big[n, c, h*r + i, w*r + j] (+)= small[n, c*r*r + i*r + j, h, w]; add: add into big.
  void (*shuffle_to_big)(float* big, const float* small, int64_t n, int64_t c, int64_t h, int64_t w, int64_t r,
                         bool add) = nullptr;
  // The same correspondence the other way: small (+)= big.
  void (*shuffle_to_small)(float* small, const float* big, int64_t n, int64_t c, int64_t h, int64_t w, int64_t r,
                           bool add) = nullptr;

  // ---- channel copies: (N, C, inner) -----------------------------------------
  // dst[s, dst_c0 + k, :] (+)= src[s, src_c0 + k, :] for s < n, k < count.
  void (*copy_planes)(float* dst, int64_t dst_c, int64_t dst_c0, const float* src, int64_t src_c, int64_t src_c0,
                      int64_t n, int64_t count, int64_t inner, bool add) = nullptr;

  // ---- pad_reflect and crop: out[plane, y, x] = in[plane, rows[y], cols[x]] -----
  // rows (ho) and cols (wo) are int32 device arrays.
  void (*remap_forward)(float* out, const float* in, int64_t planes, int64_t h, int64_t w, const int32_t* rows,
                        int64_t ho, const int32_t* cols, int64_t wo) = nullptr;
  // Adds into gin (planes, h, w): gin[plane, y, x] += sum of gout[plane, oy, ox]
  // over oy in row_list[row_start[y] .. row_start[y + 1]) (outer) and ox in
  // col_list[col_start[x] .. col_start[x + 1]) (inner), in list order. The
  // lists invert rows and cols: int32 device arrays, row_start (h + 1),
  // row_list (ho), col_start (w + 1), col_list (wo).
  void (*remap_backward)(float* gin, const float* gout, int64_t planes, int64_t h, int64_t w,
                         const int32_t* row_start, const int32_t* row_list, int64_t ho, const int32_t* col_start,
                         const int32_t* col_list, int64_t wo) = nullptr;

  // ---- resize_bicubic: (planes, h, w) -> (planes, oh, ow) ----------------------
  // Output row oy reads input rows ty_index[4*oy + a] with weights
  // ty_weight[4*oy + a], a = 0..3; columns likewise with tx_* (4*ow each).
  // ty_index, tx_index: int32 device arrays; the weights float.
  void (*resize_bicubic_forward)(float* out, const float* x, int64_t planes, int64_t h, int64_t w, int64_t oh,
                                 int64_t ow, const int32_t* ty_index, const float* ty_weight, const int32_t* tx_index,
                                 const float* tx_weight) = nullptr;
  // Adds into gx (planes, h, w): for input row iy, the taps that read it are
  // ry_list[ry_start[iy] .. ry_start[iy + 1]), each a tap number 4*oy + a
  // (so output row oy, weight ty_weight[4*oy + a]); columns likewise with
  // rx_* and tx_weight. ry_start (h + 1), rx_start (w + 1): int32 device arrays;
  // ry_list (4*oh), rx_list (4*ow) too.
  void (*resize_bicubic_backward)(float* gx, const float* gout, int64_t planes, int64_t h, int64_t w, int64_t oh,
                                  int64_t ow, const int32_t* ry_start, const int32_t* ry_list,
                                  const float* ty_weight, const int32_t* rx_start, const int32_t* rx_list,
                                  const float* tx_weight) = nullptr;

  // ---- max_pool2x2: (planes, h, w) -> (planes, h/2, w/2) ------------------------
  // winner (planes, h/2, w/2) bytes on the device, 0..3 = dy*2 + dx; may be null.
  void (*max_pool2x2_forward)(float* out, uint8_t* winner, const float* x, int64_t planes, int64_t h, int64_t w) =
      nullptr;
  // Adds each output gradient into the input element that won its window.
  void (*max_pool2x2_backward)(float* gx, const float* g, const uint8_t* winner, int64_t planes, int64_t h,
                               int64_t w) = nullptr;
};

void register_layout_kernels(LayoutKernels& k);
const LayoutKernels& layout_kernels();

}  // namespace liednet::ops::cuda
