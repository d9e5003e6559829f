// 2D convolution (cross-correlation, as in PyTorch) on NCHW tensors, with
// symmetric zero padding, stride and channel groups, and its gradients for the
// input, the weight and the bias.
//
// Three CPU paths, picked from the shapes:
//   - depthwise (groups == C_in == C_out): a direct kernel, no GEMM (ops/depthwise.h);
//   - 1x1, stride 1, no padding: GEMMs straight on each sample's (C, H*W) plane;
//   - everything else: implicit GEMM: the GEMM's packer gathers the column
//     matrix (im2col) from x block by block, so it is never stored. dw likewise;
//     dx of a stride-1 convolution is the stride-1 convolution of gout with the
//     flipped kernel (same packer); strided convolutions' dx takes GEMM plus
//     col2im over bands of output rows (see detail::set_conv2d_tile_elements).
// Results are bit-identical for any thread count: no sum depends on the split.
//
// On CUDA (f32) the same three paths run on the GPU: direct depthwise kernels,
// cuBLAS GEMMs on the plane for 1x1, im2col over bands plus cuBLAS for the
// rest (dx gathered back by col2im, one thread per input pixel). No sum uses
// atomics, so CUDA results are bit-identical from run to run.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace liednet::ops {

struct Conv2dOptions {
  int64_t stride = 1;
  int64_t padding = 0;
  int64_t groups = 1;
};

// x (N, C_in, H, W), weight (C_out, C_in/groups, kh, kw), bias (C_out) or undefined Tensor() for none.
// Output (N, C_out, (H + 2p - kh)/s + 1, (W + 2p - kw)/s + 1).
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& opt = {});

// "Linear over channels": a 1x1 convolution whose weight keeps PyTorch nn.Linear's (out, in) shape.
// x (N, in, H, W) -> (N, out, H, W); bias (out) or undefined.
Tensor linear_channels(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// TF32 tensor cores in the CUDA GEMMs (conv2d, linear_channels, and every op
// that calls cuda::gemm_kernels().gemm_cuda). Off by default: GEMMs then round
// like f32 on the CPU, which the CUDA-vs-CPU tests rely on. On, GEMM inputs
// are rounded to a 10-bit mantissa (relative error about 1e-3) for several
// times the speed. Process-wide; returns the previous setting. Does nothing,
// and returns false, in a build without CUDA. The depthwise kernels are plain
// f32 either way.
bool set_cuda_tf32(bool on);

namespace detail {
// Upper bound, in elements, on the column-gradient buffer of one band of
// output rows in a strided convolution's dx (a band is never less than one
// row). Returns the previous bound. Tests set it small so that a small input
// spans several bands.
int64_t set_conv2d_tile_elements(int64_t elements);
// The same bound for the CUDA column buffer (default 2^24 elements, 64 MiB).
int64_t set_conv2d_cuda_tile_elements(int64_t elements);

// Plain nested loops, no autograd: the reference the fast paths are tested against.
Tensor conv2d_reference(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& opt = {});

// The gradients of conv2d_reference for upstream gradient grad_out; bias is
// undefined when the convolution has none.
struct Conv2dGrads {
  Tensor x, weight, bias;
};
Conv2dGrads conv2d_reference_backward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                      const Tensor& grad_out, const Conv2dOptions& opt = {});
}  // namespace detail

}  // namespace liednet::ops
