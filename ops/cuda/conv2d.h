// CUDA kernels of ops/conv2d.cpp, as function pointers filled by
// register_conv2d_kernels (ops/cuda/conv2d.cu, CUDA builds only). The op file
// calls them through cuda::conv2d_kernels() when its inputs are on the GPU;
// its GEMMs go through ops/cuda/gemm.h.
//
// Everything takes raw device pointers (f32) and explicit sizes, runs on the
// one stream (liednet::cuda_stream()) and returns without synchronising. No
// sum uses atomics: results are bit-identical from run to run for the same
// shapes on the same GPU. Kernels that say "+=" add into their output, as the
// backward functions must.
//
// Plain C++17: this header is compiled by nvcc too.
#pragma once

#include <cstdint>

namespace liednet::ops::cuda {

// The sizes of one convolution (ops/conv2d.cpp checks them): x (n, c_in, h, w),
// weight (c_out, c_in/groups, kh, kw), output (n, c_out, oh, ow).
struct ConvShape {
  int64_t n, c_in, h, w;
  int64_t c_out, kh, kw;
  int64_t stride, pad, groups;
  int64_t oh, ow;
};

struct Conv2dKernels {
  // col (c_in*kh*kw, (r1-r0)*ow) = the columns of output rows [r0, r1) of one
  // sample x (c_in, h, w): row (c, i, j), column (oh-r0)*ow + ow holds
  // x[c, oh*stride - pad + i, ow*stride - pad + j], 0 in the padding.
  void (*im2col)(const ConvShape& s, const float* x, int64_t r0, int64_t r1, float* col) = nullptr;
  // The adjoint of im2col: dx (c_in, h, w) += the sum, per input pixel and in
  // a fixed tap order, of the col entries that im2col copied it to.
  void (*col2im_add)(const ConvShape& s, const float* col, int64_t r0, int64_t r1, float* dx) = nullptr;

  // out (n, c_out, oh, ow) = bias[c] at every pixel of channel c.
  void (*fill_bias)(const ConvShape& s, const float* bias, float* out) = nullptr;
  // db (c_out) += the sum of gout (n, c_out, oh, ow) over samples and pixels.
  void (*bias_backward)(const ConvShape& s, const float* gout, float* db) = nullptr;

  // Depthwise (groups == c_in == c_out), weight (c, 1, kh, kw).
  // out = conv(x, w) + bias; bias may be null.
  void (*depthwise_forward)(const ConvShape& s, const float* x, const float* w, const float* bias,
                            float* out) = nullptr;
  // dx (n, c, h, w) += the input gradient for upstream gradient gout.
  void (*depthwise_backward_input)(const ConvShape& s, const float* w, const float* gout, float* dx) = nullptr;
  // dw (c, 1, kh, kw) += the weight gradient.
  void (*depthwise_backward_weight)(const ConvShape& s, const float* x, const float* gout, float* dw) = nullptr;
};

void register_conv2d_kernels(Conv2dKernels& k);
const Conv2dKernels& conv2d_kernels();

}  // namespace liednet::ops::cuda
