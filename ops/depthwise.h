// Depthwise 2D convolution on the CPU (one kh x kw kernel per channel, zero
// padding, stride): the kernels behind conv2d's depthwise path and the fused
// DGDFFN op. Raw pointers and explicit sizes; no autograd, no checks (callers
// check shapes). A buffer may hold more channels per sample than the
// convolution uses (`sample_channels`): x, out, gout and dx then address
// channels [0, c) of each sample of such a buffer, so a convolution can read
// and write one slice of a wider tensor without copying it.
// Results are bit-identical for any thread count: planes are independent, and
// each channel's weight gradient is summed by one thread, samples in order.
#pragma once

#include <cstdint>

namespace liednet::ops::depthwise {

// Output positions o in [lo, hi) of [0, n_out) whose input position o*s - p + k
// lies in [0, n_in): one kernel tap's valid outputs (conv2d's im2col uses it too).
struct Span {
  int64_t lo, hi;
};
Span valid_span(int64_t k, int64_t n_in, int64_t n_out, int64_t s, int64_t p);

struct Shape {
  int64_t n, c, h, w;     // samples, channels, input plane
  int64_t kh, kw, stride, pad;
  int64_t oh, ow;         // output plane
  int64_t sample_channels;  // channels per sample in the buffers (>= c)
};

// Shape of a stride-1 convolution with padding k/2 (odd k: output = input size)
// over channels [0, c) of buffers with `sample_channels` channels per sample.
Shape same_size(int64_t n, int64_t c, int64_t h, int64_t w, int64_t k, int64_t sample_channels);

// out = bias (or 0) + correlation of x with w (c, kh*kw); then max(out, 0) when relu.
template <typename T>
void forward(const Shape& s, const T* x, const T* w, const T* b, T* out, bool relu = false);

// dx += the input gradient, dw += the weight gradient (either may be null; x
// may be null when dw is, w when dx is).
template <typename T>
void backward(const Shape& s, const T* x, const T* w, const T* gout, T* dx, T* dw);

// As backward, but the weight gradient's per-channel double sums are added to
// dw_acc (c, kh*kw) instead of being rounded and added to a dw: calls on
// consecutive samples, then add_sums(dw, dw_acc), give the same bits as one
// backward over all of them (a caller can go through a batch sample by sample).
template <typename T>
void backward_sums(const Shape& s, const T* x, const T* w, const T* gout, T* dx, double* dw_acc);
// dw[i] += dw_acc[i] rounded to T, for i < count.
template <typename T>
void add_sums(T* dw, const double* dw_acc, int64_t count);

}  // namespace liednet::ops::depthwise
