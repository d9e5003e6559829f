// CUDA kernels of the conv op group, as function pointers filled by
// register_conv_kernels (ops/cuda/conv_kernels.cu, CUDA builds only). The op
// files call them through cuda::conv_kernels() when their inputs are on the GPU.
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

struct ConvKernels {
  // Row-major SGEMM through cuBLAS, with the conventions of ops::gemm:
  //   C (M, N) = alpha * op(A) * op(B) + beta * C,  op(A) is (M, K), op(B) is (K, N);
  // A is stored (M, K) with row stride lda, or (K, M) when ta; likewise B.
  // With beta == 0, C is not read. Deterministic: cuBLAS atomics are off and
  // its workspace is fixed. For any op that needs a GEMM on the GPU.
  void (*gemm_cuda)(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                    const float* B, int64_t ldb, float beta, float* C, int64_t ldc) = nullptr;

  // TF32 tensor cores in gemm_cuda: off by default, so GEMMs round like the
  // CPU's f32 (the CUDA-vs-CPU tests need that). On, GEMMs are several times
  // faster and round their inputs to a 10-bit mantissa (relative error about
  // 1e-3). Process-wide; takes effect from the next GEMM.
  void (*set_tf32)(bool on) = nullptr;
  bool (*tf32)() = nullptr;

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

void register_conv_kernels(ConvKernels& k);
const ConvKernels& conv_kernels();

}  // namespace liednet::ops::cuda
