#include "ops/conv2d.h"

#include <algorithm>
#include <atomic>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "ops/check.h"
#include "ops/cuda/conv2d.h"
#include "ops/cuda/gemm.h"
#include "ops/flops.h"
#include "ops/gemm.h"
#include "tensor/parallel.h"

namespace liednet::ops {

namespace {

// 1 MiB of f32 per band, so the column buffer stays in a core's L2 cache while
// the GEMM reads it. Measured on 64 channels at 128x128, 3x3, one thread:
// 0.25 to 1 MiB bands were about equally fast, 2 MiB ~15% and 32 MiB ~40% slower.
std::atomic<int64_t> g_tile_elements{int64_t{1} << 18};

// Below this many multiply-adds a loop runs on one thread: starting a team costs more.
constexpr int64_t kMinParallelWork = int64_t{1} << 15;

int64_t grain_for(int64_t work_per_item) {
  return std::max<int64_t>(1, kMinParallelWork / std::max<int64_t>(1, work_per_item));
}

// The sizes of one convolution, checked once by the wrapper.
struct Geometry {
  int64_t n, c_in, h, w;  // x
  int64_t c_out, kh, kw;  // weight
  int64_t stride, pad, groups;
  int64_t oh, ow;  // output plane

  int64_t cg_in() const { return c_in / groups; }
  int64_t cg_out() const { return c_out / groups; }
  int64_t taps() const { return kh * kw; }
  int64_t depth() const { return cg_in() * taps(); }  // GEMM inner size per group
  int64_t plane_in() const { return h * w; }
  int64_t plane_out() const { return oh * ow; }
  bool depthwise() const { return groups == c_in && groups == c_out; }
  bool pointwise() const { return kh == 1 && kw == 1 && stride == 1 && pad == 0; }
};

// Output positions o in [0, n_out) whose input position o*s - p + k lies in [0, n_in).
struct Span {
  int64_t lo, hi;
};

Span valid_span(int64_t k, int64_t n_in, int64_t n_out, int64_t s, int64_t p) {
  const int64_t first = p - k;             // o*s must be >= first
  const int64_t last = n_in - 1 + p - k;   // and <= last
  int64_t lo = first <= 0 ? 0 : (first + s - 1) / s;
  int64_t hi = last < 0 ? 0 : last / s + 1;
  lo = std::min(lo, n_out);
  hi = std::clamp(hi, lo, n_out);
  return {lo, hi};
}

std::vector<Span> column_spans(const Geometry& g) {
  std::vector<Span> spans(g.kw);
  for (int64_t j = 0; j < g.kw; ++j) spans[j] = valid_span(j, g.w, g.ow, g.stride, g.pad);
  return spans;
}

std::string describe(const Tensor& x, const Tensor& w, const Tensor& b) {
  std::ostringstream s;
  s << "x " << (x.defined() ? x.str() : "undefined") << ", weight " << (w.defined() ? w.str() : "undefined")
    << ", bias " << (b.defined() ? b.str() : "none");
  return s.str();
}

// x, weight and bias (when defined) on one device; the message names all three.
void check_same_device(const char* op, const Tensor& x, const Tensor& w, const Tensor& b) {
  LIEDNET_CHECK(x.device() == w.device() && (!b.defined() || b.device() == x.device()), op,
                ": inputs are on different devices (", describe(x, w, b), ")");
}

// ---- GEMM paths -------------------------------------------------------------------
//
// Threads split the work outside the GEMM calls (bands of output rows in the
// forward, ranges of input channels in the backward), and each GEMM runs on one
// thread, as Eigen does by itself inside a parallel region. Eigen's own
// threading spins at a barrier after every block; on the shared two-core
// machine this project is built on, it made the backward several times slower
// than one thread.

// A per-thread buffer kept across calls, so a warm training step allocates no
// column buffers. Each thread holds at most one at a time.
template <typename T>
T* scratch(int64_t elements) {
  thread_local std::vector<T> buffer;
  if (static_cast<int64_t>(buffer.size()) < elements) buffer.resize(elements);
  return buffer.data();
}

// Output rows per band: as many as the bound allows, at least one.
int64_t band_rows(const Geometry& g) {
  const int64_t per_row = g.c_in * g.taps() * g.ow;
  return std::clamp<int64_t>(g_tile_elements.load() / std::max<int64_t>(1, per_row), 1, g.oh);
}

// Column rows of input channels [c0, c1) for output rows [r0, r1) of one sample.
// x (C_in, H, W) -> col ((c1-c0)*kh*kw, (r1-r0)*OW); row (c-c0, i, j) holds
// x[c, oh*s - p + i, ow*s - p + j], zero where that falls in the padding.
// Rows of one group are contiguous, so a group's GEMM operand is one block of rows.
template <typename T>
void im2col(const Geometry& g, const T* x, int64_t r0, int64_t r1, int64_t c0, int64_t c1,
            const std::vector<Span>& spans, T* col) {
  const int64_t band = (r1 - r0) * g.ow;
  for (int64_t r = c0 * g.taps(); r < c1 * g.taps(); ++r) {
    const int64_t c = r / g.taps(), i = (r / g.kw) % g.kh, j = r % g.kw;
    const Span sp = spans[j];
    const T* xc = x + c * g.plane_in();
    T* dst = col + (r - c0 * g.taps()) * band;
    for (int64_t oh = r0; oh < r1; ++oh, dst += g.ow) {
      const int64_t ih = oh * g.stride - g.pad + i;
      if (ih < 0 || ih >= g.h) {
        std::fill(dst, dst + g.ow, T(0));
        continue;
      }
      const T* src = xc + ih * g.w;
      std::fill(dst, dst + sp.lo, T(0));
      if (g.stride == 1)
        std::copy(src + (sp.lo - g.pad + j), src + (sp.hi - g.pad + j), dst + sp.lo);
      else
        for (int64_t ow = sp.lo; ow < sp.hi; ++ow) dst[ow] = src[ow * g.stride - g.pad + j];
      std::fill(dst + sp.hi, dst + g.ow, T(0));
    }
  }
}

// The adjoint of im2col for channels [c0, c1): dx (C_in, H, W) += the scatter
// of col ((c1-c0)*kh*kw, (r1-r0)*OW), taps in a fixed order.
template <typename T>
void col2im_add(const Geometry& g, const T* col, int64_t r0, int64_t r1, int64_t c0, int64_t c1,
                const std::vector<Span>& spans, T* dx) {
  const int64_t band = (r1 - r0) * g.ow;
  for (int64_t c = c0; c < c1; ++c) {
    T* dxc = dx + c * g.plane_in();
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const Span sp = spans[j];
        const T* src = col + (((c - c0) * g.kh + i) * g.kw + j) * band;
        for (int64_t oh = r0; oh < r1; ++oh, src += g.ow) {
          const int64_t ih = oh * g.stride - g.pad + i;
          if (ih < 0 || ih >= g.h) continue;
          T* drow = dxc + ih * g.w;
          if (g.stride == 1) {
            T* d = drow + (sp.lo - g.pad + j);
            const T* s = src + sp.lo;
            for (int64_t k = 0, e = sp.hi - sp.lo; k < e; ++k) d[k] += s[k];
          } else {
            for (int64_t ow = sp.lo; ow < sp.hi; ++ow) drow[ow * g.stride - g.pad + j] += src[ow];
          }
        }
      }
  }
}

// Calls f(group, s0, s1) for each piece [s0, s1) of the channel range [c0, c1)
// that lies in one group.
template <typename F>
void for_group_pieces(const Geometry& g, int64_t c0, int64_t c1, F f) {
  const int64_t cgi = g.cg_in();
  for (int64_t s0 = c0; s0 < c1;) {
    const int64_t gr = s0 / cgi, s1 = std::min(c1, (gr + 1) * cgi);
    f(gr, s0, s1);
    s0 = s1;
  }
}

// Fewest channels per thread in the backward: below this a team costs more than it saves.
int64_t channels_per_chunk(int64_t work_per_channel) {
  return std::max<int64_t>(1, kMinParallelWork / std::max<int64_t>(1, work_per_channel));
}

// f(c0, c1) over chunks of input channels whose size comes from the shapes
// alone: at least `min_channels`, and about 8 chunks so threads balance. The
// chunks set the GEMM shapes of the backward, and Eigen rounds edge rows of a
// product differently from full blocks, so chunking by thread count would make
// the gradients depend on it.
template <typename F>
void for_channel_chunks(int64_t channels, int64_t min_channels, F&& f) {
  const int64_t size = std::max<int64_t>(min_channels, (channels + 7) / 8);
  const int64_t chunks = (channels + size - 1) / size;
  parallel_for(0, chunks, 1, [&](int64_t k) { f(k * size, std::min(channels, (k + 1) * size)); });
}

// Pixels [p0, p1) of one sample's out (C_out, OH*OW) = bias (or 0) + W x cols,
// where cols is the column matrix of those pixels, (C_in*kh*kw, p1-p0) with row stride ldb.
template <typename T>
void gemm_band(const Geometry& g, const T* w, const T* b, const T* cols, int64_t ldb, int64_t p0, int64_t p1,
               T* out) {
  const int64_t pout = g.plane_out(), cgo = g.cg_out(), depth = g.depth();
  if (b)
    for (int64_t co = 0; co < g.c_out; ++co) std::fill(out + co * pout + p0, out + co * pout + p1, b[co]);
  for (int64_t gr = 0; gr < g.groups; ++gr)
    gemm<T>(false, false, cgo, p1 - p0, depth, T(1), w + gr * cgo * depth, depth, cols + gr * depth * ldb, ldb,
            b ? T(1) : T(0), out + gr * cgo * pout + p0, pout);
}

// Each task is one band of output rows of one sample, done start to finish by
// one thread in its own column buffer.
template <typename T>
void gemm_forward(const Geometry& g, const T* x, const T* w, const T* b, T* out) {
  const int64_t pin = g.plane_in(), pout = g.plane_out();
  if (g.pointwise()) {
    // The (C_in, H*W) plane is its own column matrix; tasks are runs of pixels.
    constexpr int64_t kPixels = 4096;
    const int64_t runs = (pout + kPixels - 1) / kPixels;
    parallel_for(0, g.n * runs, grain_for(kPixels * g.c_in * g.cg_out()), [&](int64_t t) {
      const int64_t n = t / runs, p0 = (t % runs) * kPixels, p1 = std::min(p0 + kPixels, pout);
      gemm_band(g, w, b, x + n * g.c_in * pin + p0, pin, p0, p1, out + n * g.c_out * pout);
    });
    return;
  }
  // About 8 bands per sample or more, so threads have work at batch 1. The band
  // height depends on the shapes only: Eigen rounds the edge columns of a
  // product differently from full blocks, so bands chosen by thread count would
  // make the output depend on it.
  const int64_t rows = std::min(band_rows(g), (g.oh + 7) / 8);
  const int64_t bands = (g.oh + rows - 1) / rows;
  const std::vector<Span> spans = column_spans(g);
  parallel_chunks(g.n * bands, 1, [&](int64_t lo, int64_t hi) {
    T* col = scratch<T>(g.c_in * g.taps() * rows * g.ow);  // (C_in*kh*kw, rows*OW)
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t n = t / bands, r0 = (t % bands) * rows, r1 = std::min(r0 + rows, g.oh), band = (r1 - r0) * g.ow;
      im2col(g, x + n * g.c_in * pin, r0, r1, 0, g.c_in, spans, col);
      gemm_band(g, w, b, col, band, r0 * g.ow, r1 * g.ow, out + n * g.c_out * pout);
    }
  });
}

// Threads own ranges of input channels: the columns of dw and the planes of dx
// that belong to them, and a column buffer for just those channels. Each thread
// walks every sample and band in order, so there is one parallel region and no
// barrier, and every sum has a fixed order. dx and dw may be null (not needed).
template <typename T>
void gemm_backward(const Geometry& g, const T* x, const T* w, const T* gout, T* dx, T* dw) {
  const int64_t pin = g.plane_in(), pout = g.plane_out(), cgi = g.cg_in(), cgo = g.cg_out(), depth = g.depth();
  const int64_t taps = g.taps();
  // Per input channel: the two GEMMs' multiply-adds over the whole batch.
  const int64_t min_channels = channels_per_chunk(2 * g.n * pout * taps * cgo);
  if (g.pointwise()) {
    for_channel_chunks(g.c_in, min_channels, [&](int64_t c0, int64_t c1) {
      for (int64_t n = 0; n < g.n; ++n)
        for_group_pieces(g, c0, c1, [&](int64_t gr, int64_t s0, int64_t s1) {
          const T* go = gout + (n * g.c_out + gr * cgo) * pout;  // (cg_out, H*W)
          const int64_t k0 = s0 - gr * cgi;                      // first column of the piece in the group's weight
          if (dw)
            gemm<T>(false, true, cgo, s1 - s0, pout, T(1), go, pout, x + (n * g.c_in + s0) * pin, pin, T(1),
                    dw + gr * cgo * depth + k0, depth);
          if (dx)
            gemm<T>(true, false, s1 - s0, pin, cgo, T(1), w + gr * cgo * depth + k0, depth, go, pout, T(1),
                    dx + (n * g.c_in + s0) * pin, pin);
        });
    });
    return;
  }
  const std::vector<Span> spans = column_spans(g);
  // The band height comes from the shapes alone (all input channels), never from
  // how many channels a thread got: the bands fix the order of every sum, so the
  // gradients are bit-identical for any thread count. A thread's buffer holds
  // only its channels, so it stays within the bound.
  const int64_t rows = std::clamp<int64_t>(g_tile_elements.load() / (g.c_in * taps * g.ow), 1, g.oh);
  for_channel_chunks(g.c_in, min_channels, [&](int64_t c0, int64_t c1) {
    const int64_t per_row = (c1 - c0) * taps * g.ow;
    T* col = scratch<T>(rows * per_row);  // ((c1-c0)*kh*kw, rows*OW)
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t r0 = 0; r0 < g.oh; r0 += rows) {
        const int64_t r1 = std::min(r0 + rows, g.oh), band = (r1 - r0) * g.ow;
        const T* go = gout + n * g.c_out * pout + r0 * g.ow;  // band of (C_out, OH*OW), row stride OH*OW
        if (dw) im2col(g, x + n * g.c_in * pin, r0, r1, c0, c1, spans, col);
        for_group_pieces(g, c0, c1, [&](int64_t gr, int64_t s0, int64_t s1) {
          const int64_t k0 = (s0 - gr * cgi) * taps, kn = (s1 - s0) * taps;  // column range in the group's weight
          T* piece = col + (s0 - c0) * taps * band;                            // (kn, band)
          const T* go_g = go + gr * cgo * pout;
          if (dw)
            gemm<T>(false, true, cgo, kn, band, T(1), go_g, pout, piece, band, T(1), dw + gr * cgo * depth + k0, depth);
          // The piece of the column buffer now receives the gradient of those columns.
          if (dx)
            gemm<T>(true, false, kn, band, cgo, T(1), w + gr * cgo * depth + k0, depth, go_g, pout, T(0), piece, band);
        });
        if (dx) col2im_add(g, col, r0, r1, c0, c1, spans, dx + n * g.c_in * pin);
      }
  });
}

// ---- depthwise path -------------------------------------------------------------
//
// Stride 1 with a 3x3 or 5x5 kernel (every depthwise convolution in LIEDNet)
// runs on a zero-padded copy of each plane: every output row is then one
// branch-free loop whose kh*kw taps unroll into registers. Other shapes take the
// general loops, which skip the padding with per-tap column spans.

bool fixed_depthwise(const Geometry& g) {
  return g.stride == 1 && ((g.kh == 3 && g.kw == 3) || (g.kh == 5 && g.kw == 5));
}

// dst (dh, dw) = src (sh, sw) moved down by `top` rows and right by `left`
// columns (either may be negative), zero where src has no element.
template <typename T>
void pad_plane(const T* src, int64_t sh, int64_t sw, int64_t top, int64_t left, T* dst, int64_t dh, int64_t dw) {
  const int64_t lo = std::clamp<int64_t>(left, 0, dw), hi = std::clamp<int64_t>(left + sw, lo, dw);
  for (int64_t r = 0; r < dh; ++r) {
    T* d = dst + r * dw;
    const int64_t sr = r - top;
    if (sr < 0 || sr >= sh) {
      std::fill(d, d + dw, T(0));
      continue;
    }
    std::fill(d, d + lo, T(0));
    std::copy(src + sr * sw + (lo - left), src + sr * sw + (hi - left), d + lo);
    std::fill(d + hi, d + dw, T(0));
  }
}

// out (rows, cols) = bias + sum over taps of k[i, j] * in[r + i, c + j], or
// out += that sum when Accumulate; in has row stride ld and no padding left to skip.
template <typename T, int KH, int KW, bool Accumulate>
void correlate_plane(const T* in, int64_t ld, const T* k, T bias, T* out, int64_t rows, int64_t cols) {
  T kr[KH * KW];
  std::copy(k, k + KH * KW, kr);
  for (int64_t r = 0; r < rows; ++r) {
    const T* base = in + r * ld;
    T* o = out + r * cols;
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) {
      T acc = Accumulate ? T(0) : bias;
      for (int i = 0; i < KH; ++i)
        for (int j = 0; j < KW; ++j) acc += kr[i * KW + j] * base[i * ld + c + j];
      o[c] = Accumulate ? o[c] + acc : acc;
    }
  }
}

// sums (KH*KW, cols) += for each tap (i, j) and column c, the sum over rows r of
// g[r, c] * in[r + i, c + j]. Each column's sum runs over the rows in order, so
// a vector of columns needs no reassociation; the caller adds up the columns.
template <typename T, int KH, int KW>
void tap_sums_plane(const T* g, const T* in, int64_t ld, T* sums, int64_t rows, int64_t cols) {
  constexpr int L = 64 / sizeof(T);  // one 512-bit vector; the KH*KW running sums of a strip stay in registers
  int64_t c0 = 0;
  for (; c0 + L <= cols; c0 += L) {
    T acc[KH * KW][L] = {};
    for (int64_t r = 0; r < rows; ++r) {
      const T* gr = g + r * cols + c0;
      for (int i = 0; i < KH; ++i)
        for (int j = 0; j < KW; ++j) {
          const T* xs = in + (r + i) * ld + c0 + j;
#pragma omp simd
          for (int l = 0; l < L; ++l) acc[i * KW + j][l] += gr[l] * xs[l];
        }
    }
    for (int t = 0; t < KH * KW; ++t)
      for (int l = 0; l < L; ++l) sums[t * cols + c0 + l] += acc[t][l];
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int i = 0; i < KH; ++i)
      for (int j = 0; j < KW; ++j)
        for (int64_t c = c0; c < cols; ++c) sums[(i * KW + j) * cols + c] += g[r * cols + c] * in[(r + i) * ld + c + j];
}

template <typename T, bool Accumulate>
void correlate_fixed(const Geometry& g, const T* in, int64_t ld, const T* k, T bias, T* out, int64_t rows,
                     int64_t cols) {
  if (g.kh == 3) correlate_plane<T, 3, 3, Accumulate>(in, ld, k, bias, out, rows, cols);
  else correlate_plane<T, 5, 5, Accumulate>(in, ld, k, bias, out, rows, cols);
}

// One (sample, channel) plane per task.
template <typename T>
void depthwise_forward(const Geometry& g, const T* x, const T* w, const T* b, T* out) {
  const int64_t taps = g.taps(), pin = g.plane_in(), pout = g.plane_out();
  const bool fixed = fixed_depthwise(g);
  const std::vector<Span> spans = column_spans(g);
  parallel_for(0, g.n * g.c_in, grain_for(pout * taps), [&](int64_t plane) {
    const int64_t c = plane % g.c_in;
    const T* xp = x + plane * pin;
    const T* wc = w + c * taps;
    const T bias = b ? b[c] : T(0);
    if (fixed) {
      const int64_t hp = g.h + 2 * g.pad, wp = g.w + 2 * g.pad;
      T* padded = scratch<T>(hp * wp);  // (H + 2p, W + 2p)
      pad_plane(xp, g.h, g.w, g.pad, g.pad, padded, hp, wp);
      correlate_fixed<T, false>(g, padded, wp, wc, bias, out + plane * pout, g.oh, g.ow);
      return;
    }
    // Each output row accumulates its kh*kw shifted input rows.
    for (int64_t oh = 0; oh < g.oh; ++oh) {
      T* orow = out + plane * pout + oh * g.ow;
      std::fill(orow, orow + g.ow, bias);
      for (int64_t i = 0; i < g.kh; ++i) {
        const int64_t ih = oh * g.stride - g.pad + i;
        if (ih < 0 || ih >= g.h) continue;
        const T* xrow = xp + ih * g.w;
        for (int64_t j = 0; j < g.kw; ++j) {
          const Span sp = spans[j];
          const T wv = wc[i * g.kw + j];
          if (g.stride == 1) {
            const T* s = xrow + (sp.lo - g.pad + j);
            T* d = orow + sp.lo;
            for (int64_t k = 0, e = sp.hi - sp.lo; k < e; ++k) d[k] += wv * s[k];
          } else {
            for (int64_t ow = sp.lo; ow < sp.hi; ++ow) orow[ow] += wv * xrow[ow * g.stride - g.pad + j];
          }
        }
      }
    }
  });
}

// sum over k < n of a[k] * b[k], vectorised; the order is fixed by the compiled code.
template <typename T>
T dot(const T* a, const T* b, int64_t n) {
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t k = 0; k < n; ++k) sum += a[k] * b[k];
  return sum;
}

// One channel per task, samples in order: dw[c] is summed by one thread in a
// fixed order. Row partial sums go into a double accumulator per tap.
template <typename T>
void depthwise_backward(const Geometry& g, const T* x, const T* w, const T* gout, T* dx, T* dw) {
  const int64_t taps = g.taps(), pin = g.plane_in(), pout = g.plane_out();
  const bool fixed = fixed_depthwise(g);
  const std::vector<Span> spans = column_spans(g);
  // Fixed path: x padded as in the forward, and gout padded so that dx is the
  // correlation of it with the flipped kernel.
  const int64_t xh = g.h + 2 * g.pad, xw = g.w + 2 * g.pad;
  const int64_t gh = g.h + g.kh - 1, gw = g.w + g.kw - 1;
  parallel_for(0, g.c_in, grain_for(g.n * pout * taps), [&](int64_t c) {
    const T* wc = w ? w + c * taps : nullptr;
    std::vector<double> acc(dw ? taps : 0, 0.0);  // (kh*kw)
    T* xpad = fixed ? scratch<T>(xh * xw + gh * gw + taps * g.ow) : nullptr;  // (H + 2p, W + 2p)
    T* gpad = fixed ? xpad + xh * xw : nullptr;                               // (H + kh - 1, W + kw - 1)
    T* sums = fixed ? gpad + gh * gw : nullptr;                               // (kh*kw, OW)
    T flipped[25];  // the fixed path's kernel is at most 5x5
    if (fixed && dx) std::reverse_copy(wc, wc + taps, flipped);
    for (int64_t n = 0; n < g.n; ++n) {
      const int64_t plane = n * g.c_in + c;
      const T* gp = gout + plane * pout;
      const T* xp = x ? x + plane * pin : nullptr;
      if (fixed) {
        if (dx) {
          pad_plane(gp, g.oh, g.ow, g.kh - 1 - g.pad, g.kw - 1 - g.pad, gpad, gh, gw);
          correlate_fixed<T, true>(g, gpad, gw, flipped, T(0), dx + plane * pin, g.h, g.w);
        }
        if (dw) {
          pad_plane(xp, g.h, g.w, g.pad, g.pad, xpad, xh, xw);
          std::fill(sums, sums + taps * g.ow, T(0));
          if (g.kh == 3) tap_sums_plane<T, 3, 3>(gp, xpad, xw, sums, g.oh, g.ow);
          else tap_sums_plane<T, 5, 5>(gp, xpad, xw, sums, g.oh, g.ow);
          for (int64_t t = 0; t < taps; ++t) {
            double s = 0;
            for (int64_t k = 0; k < g.ow; ++k) s += sums[t * g.ow + k];
            acc[t] += s;
          }
        }
        continue;
      }
      for (int64_t oh = 0; oh < g.oh; ++oh) {
        const T* grow = gp + oh * g.ow;
        for (int64_t i = 0; i < g.kh; ++i) {
          const int64_t ih = oh * g.stride - g.pad + i;
          if (ih < 0 || ih >= g.h) continue;
          for (int64_t j = 0; j < g.kw; ++j) {
            const Span sp = spans[j];
            const int64_t shift = j - g.pad;  // input column = ow*s + shift
            if (dx) {
              const T wv = wc[i * g.kw + j];
              T* drow = dx + plane * pin + ih * g.w;
              if (g.stride == 1) {
                T* d = drow + sp.lo + shift;
                const T* s = grow + sp.lo;
                for (int64_t k = 0, e = sp.hi - sp.lo; k < e; ++k) d[k] += wv * s[k];
              } else {
                for (int64_t ow = sp.lo; ow < sp.hi; ++ow) drow[ow * g.stride + shift] += wv * grow[ow];
              }
            }
            if (dw) {
              const T* xrow = xp + ih * g.w;
              if (g.stride == 1) {
                acc[i * g.kw + j] += dot(grow + sp.lo, xrow + sp.lo + shift, sp.hi - sp.lo);
              } else {
                T sum = 0;
                for (int64_t ow = sp.lo; ow < sp.hi; ++ow) sum += grow[ow] * xrow[ow * g.stride + shift];
                acc[i * g.kw + j] += sum;
              }
            }
          }
        }
      }
    }
    if (dw)
      for (int64_t t = 0; t < taps; ++t) dw[c * taps + t] += static_cast<T>(acc[t]);
  });
}

// ---- shared -----------------------------------------------------------------------

// db[c] += sum over samples and pixels of gout[:, c]; one thread per channel.
template <typename T>
void bias_backward(const Geometry& g, const T* gout, T* db) {
  const int64_t pout = g.plane_out();
  parallel_for(0, g.c_out, grain_for(g.n * pout), [&](int64_t c) {
    double acc = 0;
    for (int64_t n = 0; n < g.n; ++n) {
      const T* gp = gout + (n * g.c_out + c) * pout;
      T sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t k = 0; k < pout; ++k) sum += gp[k];
      acc += sum;
    }
    db[c] += static_cast<T>(acc);
  });
}

// ---- CUDA -------------------------------------------------------------------------
//
// The same three paths on the GPU, in f32: depthwise as direct kernels;
// pointwise as GEMMs on each sample's plane; everything else im2col over bands
// of output rows plus GEMM, with dx gathered back by col2im. Every kernel and
// GEMM goes to the one stream in the order issued here, and no sum uses
// atomics, so results are bit-identical from run to run.

// Column buffer bound on the GPU, in elements: 64 MiB of f32. There is no cache
// to fit as on the CPU; larger bands mean fewer, larger GEMMs, and this is still
// small beside a training step's activations.
std::atomic<int64_t> g_cuda_tile_elements{int64_t{1} << 24};

cuda::ConvShape cuda_shape(const Geometry& g) {
  return {g.n, g.c_in, g.h, g.w, g.c_out, g.kh, g.kw, g.stride, g.pad, g.groups, g.oh, g.ow};
}

int64_t cuda_band_rows(const Geometry& g) {
  const int64_t per_row = g.c_in * g.taps() * g.ow;
  return std::clamp<int64_t>(g_cuda_tile_elements.load() / std::max<int64_t>(1, per_row), 1, g.oh);
}

// A column buffer of `rows` output rows, from the device allocator.
Tensor cuda_columns(const Geometry& g, int64_t rows) {
  return Tensor::empty({g.c_in * g.taps() * rows * g.ow}, DType::F32, Device::CUDA);  // (C_in*kh*kw, rows*OW)
}

void conv_forward_cuda(const char* op, const Geometry& g, const float* x, const float* w, const float* b, float* out) {
  const cuda::Conv2dKernels& k = cuda::conv2d_kernels();
  const cuda::ConvShape s = cuda_shape(g);
  if (g.depthwise()) {
    cuda_kernel(k.depthwise_forward, op)(s, x, w, b, out);
    return;
  }
  const auto gemm = cuda_kernel(cuda::gemm_kernels().gemm_cuda, op);
  const int64_t pin = g.plane_in(), pout = g.plane_out(), cgi = g.cg_in(), cgo = g.cg_out(), depth = g.depth();
  // With a bias, out starts as the bias and the GEMMs add to it.
  if (b) cuda_kernel(k.fill_bias, op)(s, b, out);
  const float beta = b ? 1.0f : 0.0f;
  if (g.pointwise()) {
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t gr = 0; gr < g.groups; ++gr)
        gemm(false, false, cgo, pout, depth, 1.0f, w + gr * cgo * depth, depth, x + (n * g.c_in + gr * cgi) * pin,
             pin, beta, out + (n * g.c_out + gr * cgo) * pout, pout);
    return;
  }
  const auto im2col = cuda_kernel(k.im2col, op);
  const int64_t rows = cuda_band_rows(g);
  Tensor columns = cuda_columns(g, rows);
  float* col = columns.data<float>();
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t r0 = 0; r0 < g.oh; r0 += rows) {
      const int64_t r1 = std::min(r0 + rows, g.oh), band = (r1 - r0) * g.ow;
      im2col(s, x + n * g.c_in * pin, r0, r1, col);  // (C_in*kh*kw, band)
      for (int64_t gr = 0; gr < g.groups; ++gr)
        gemm(false, false, cgo, band, depth, 1.0f, w + gr * cgo * depth, depth, col + gr * depth * band, band, beta,
             out + (n * g.c_out + gr * cgo) * pout + r0 * g.ow, pout);
    }
}

// dx, dw, db may be null (not needed); x is null when dw is, w when dx is.
// Samples and bands run in order, so dw's sum over them has a fixed order.
void conv_backward_cuda(const char* op, const Geometry& g, const float* x, const float* w, const float* gout,
                        float* dx, float* dw, float* db) {
  const cuda::Conv2dKernels& k = cuda::conv2d_kernels();
  const cuda::ConvShape s = cuda_shape(g);
  if (db) cuda_kernel(k.bias_backward, op)(s, gout, db);
  if (!dx && !dw) return;
  if (g.depthwise()) {
    if (dx) cuda_kernel(k.depthwise_backward_input, op)(s, w, gout, dx);
    if (dw) cuda_kernel(k.depthwise_backward_weight, op)(s, x, gout, dw);
    return;
  }
  const auto gemm = cuda_kernel(cuda::gemm_kernels().gemm_cuda, op);
  const int64_t pin = g.plane_in(), pout = g.plane_out(), cgi = g.cg_in(), cgo = g.cg_out(), depth = g.depth();
  if (g.pointwise()) {
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t gr = 0; gr < g.groups; ++gr) {
        const float* go = gout + (n * g.c_out + gr * cgo) * pout;  // (cg_out, H*W)
        if (dw)
          gemm(false, true, cgo, cgi, pout, 1.0f, go, pout, x + (n * g.c_in + gr * cgi) * pin, pin, 1.0f,
               dw + gr * cgo * depth, depth);
        if (dx)
          gemm(true, false, cgi, pin, cgo, 1.0f, w + gr * cgo * depth, depth, go, pout, 1.0f,
               dx + (n * g.c_in + gr * cgi) * pin, pin);
      }
    return;
  }
  const auto im2col = cuda_kernel(k.im2col, op);
  const auto col2im_add = cuda_kernel(k.col2im_add, op);
  const int64_t rows = cuda_band_rows(g);
  // One buffer serves both gradients: the columns of x for dw, then (the
  // GEMM overwrites them) the column gradient for dx.
  Tensor columns = cuda_columns(g, rows);
  float* col = columns.data<float>();
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t r0 = 0; r0 < g.oh; r0 += rows) {
      const int64_t r1 = std::min(r0 + rows, g.oh), band = (r1 - r0) * g.ow;
      const float* go = gout + n * g.c_out * pout + r0 * g.ow;  // band of (C_out, OH*OW), row stride OH*OW
      if (dw) {
        im2col(s, x + n * g.c_in * pin, r0, r1, col);  // (C_in*kh*kw, band)
        for (int64_t gr = 0; gr < g.groups; ++gr)
          gemm(false, true, cgo, depth, band, 1.0f, go + gr * cgo * pout, pout, col + gr * depth * band, band, 1.0f,
               dw + gr * cgo * depth, depth);
      }
      if (dx) {
        for (int64_t gr = 0; gr < g.groups; ++gr)
          gemm(true, false, depth, band, cgo, 1.0f, w + gr * cgo * depth, depth, go + gr * cgo * pout, pout, 0.0f,
               col + gr * depth * band, band);
        col2im_add(s, col, r0, r1, dx + n * g.c_in * pin);
      }
    }
}

const float* cuda_data_or_null(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

float* cuda_mutable_data_or_null(Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

// ---- dispatch ---------------------------------------------------------------------

template <typename T>
void conv_forward(const Geometry& g, const T* x, const T* w, const T* b, T* out) {
  if (g.depthwise()) depthwise_forward(g, x, w, b, out);
  else gemm_forward(g, x, w, b, out);
}

template <typename T>
void conv_backward(const Geometry& g, const T* x, const T* w, const T* gout, T* dx, T* dw, T* db) {
  if (dx || dw) {
    if (g.depthwise()) depthwise_backward(g, x, w, gout, dx, dw);
    else gemm_backward(g, x, w, gout, dx, dw);
  }
  if (db) bias_backward(g, gout, db);
}

template <typename T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

template <typename T>
T* mutable_data_or_null(Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// Runs the forward and records the backward. The weight may be 4-D (conv2d) or
// 2-D (linear_channels): both are (C_out, C_in/groups * kh * kw) in memory.
Tensor conv_apply(const char* op, const Geometry& g, const Tensor& x, const Tensor& w, const Tensor& b) {
  // Multiply-adds (2 FLOPs each) plus the bias adds.
  FlopCounter::add(g.n * g.c_out * g.oh * g.ow * (2 * g.cg_in() * g.kh * g.kw + (b.defined() ? 1 : 0)));
  Tensor out = Tensor::empty({g.n, g.c_out, g.oh, g.ow}, x.dtype(), x.device());
  if (on_cuda(op, x))
    conv_forward_cuda(op, g, x.data<float>(), w.data<float>(), cuda_data_or_null(b), out.data<float>());
  else
    LIEDNET_DISPATCH(x.dtype(), T,
                     conv_forward<T>(g, x.data<T>(), w.data<T>(), b.defined() ? b.data<T>() : nullptr, out.data<T>()));
  if (autograd::needs_grad({&x, &w, &b})) {
    // dx needs only the weight, dw only x; db needs neither.
    Tensor saved_x = w.requires_grad() ? x.detach() : Tensor();
    Tensor saved_w = x.requires_grad() ? w.detach() : Tensor();
    autograd::record(out, op, {x, w, b}, [op, g, saved_x, saved_w](const Tensor& gout, std::vector<Tensor>& gi) {
      if (on_cuda(op, gout)) {
        conv_backward_cuda(op, g, cuda_data_or_null(saved_x), cuda_data_or_null(saved_w), gout.data<float>(),
                           cuda_mutable_data_or_null(gi[0]), cuda_mutable_data_or_null(gi[1]),
                           cuda_mutable_data_or_null(gi[2]));
        return;
      }
      LIEDNET_DISPATCH(gout.dtype(), T,
                       conv_backward<T>(g, data_or_null<T>(saved_x), data_or_null<T>(saved_w), gout.data<T>(),
                                        mutable_data_or_null<T>(gi[0]), mutable_data_or_null<T>(gi[1]),
                                        mutable_data_or_null<T>(gi[2])));
    });
  }
  return out;
}

Geometry conv2d_geometry(const char* op, const Tensor& x, const Tensor& w, const Tensor& b,
                         const Conv2dOptions& opt) {
  LIEDNET_CHECK(x.defined() && w.defined(), op, ": undefined input (", describe(x, w, b), ")");
  LIEDNET_CHECK(x.ndim() == 4, op, ": x must be (N, C_in, H, W) (", describe(x, w, b), ")");
  LIEDNET_CHECK(w.ndim() == 4, op, ": weight must be (C_out, C_in/groups, kh, kw) (", describe(x, w, b), ")");
  check_same_device(op, x, w, b);
  check_compatible(op, x, w);
  on_cuda(op, x);  // a CUDA x must be f32
  if (b.defined()) {
    check_compatible(op, x, b);
    LIEDNET_CHECK(b.ndim() == 1 && b.size(0) == w.size(0), op, ": bias must be (C_out) = (", w.size(0), ") (",
                  describe(x, w, b), ")");
  }
  LIEDNET_CHECK(opt.stride >= 1, op, ": stride must be at least 1, got ", opt.stride, " (", describe(x, w, b), ")");
  LIEDNET_CHECK(opt.padding >= 0, op, ": padding must be non-negative, got ", opt.padding, " (", describe(x, w, b),
                ")");
  LIEDNET_CHECK(opt.groups >= 1, op, ": groups must be at least 1, got ", opt.groups, " (", describe(x, w, b), ")");
  Geometry g{};
  g.n = x.size(0), g.c_in = x.size(1), g.h = x.size(2), g.w = x.size(3);
  g.c_out = w.size(0), g.kh = w.size(2), g.kw = w.size(3);
  g.stride = opt.stride, g.pad = opt.padding, g.groups = opt.groups;
  LIEDNET_CHECK(g.c_in % g.groups == 0, op, ": input channels ", g.c_in, " are not divisible by groups ", g.groups,
                " (", describe(x, w, b), ")");
  LIEDNET_CHECK(g.c_out % g.groups == 0, op, ": output channels ", g.c_out, " are not divisible by groups ",
                g.groups, " (", describe(x, w, b), ")");
  LIEDNET_CHECK(w.size(1) == g.cg_in(), op, ": weight has ", w.size(1), " input channels per group, expected C_in/groups = ",
                g.c_in, "/", g.groups, " = ", g.cg_in(), " (", describe(x, w, b), ")");
  LIEDNET_CHECK(g.kh >= 1 && g.kw >= 1, op, ": empty kernel (", describe(x, w, b), ")");
  LIEDNET_CHECK(g.kh <= g.h + 2 * g.pad && g.kw <= g.w + 2 * g.pad, op, ": kernel ", g.kh, "x", g.kw,
                " is larger than the padded input ", g.h + 2 * g.pad, "x", g.w + 2 * g.pad, " (", describe(x, w, b),
                ", padding ", g.pad, ")");
  g.oh = (g.h + 2 * g.pad - g.kh) / g.stride + 1;
  g.ow = (g.w + 2 * g.pad - g.kw) / g.stride + 1;
  return g;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& opt) {
  const Geometry g = conv2d_geometry("conv2d", x, weight, bias, opt);
  return conv_apply("conv2d", g, x, weight, bias);
}

bool set_cuda_tf32(bool on) {
  const cuda::GemmKernels& k = cuda::gemm_kernels();
  if (!k.set_tf32 || !k.tf32) return false;  // no CUDA in this build: nothing to switch
  const bool previous = k.tf32();
  k.set_tf32(on);
  return previous;
}

Tensor linear_channels(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const char* op = "linear_channels";
  LIEDNET_CHECK(x.defined() && weight.defined(), op, ": undefined input (", describe(x, weight, bias), ")");
  LIEDNET_CHECK(x.ndim() == 4, op, ": x must be (N, in, H, W) (", describe(x, weight, bias), ")");
  LIEDNET_CHECK(weight.ndim() == 2 && weight.size(1) == x.size(1), op, ": weight must be (out, in) with in = ",
                x.size(1), " (", describe(x, weight, bias), ")");
  check_same_device(op, x, weight, bias);
  check_compatible(op, x, weight);
  on_cuda(op, x);  // a CUDA x must be f32
  if (bias.defined()) {
    check_compatible(op, x, bias);
    LIEDNET_CHECK(bias.ndim() == 1 && bias.size(0) == weight.size(0), op, ": bias must be (out) = (",
                  weight.size(0), ") (", describe(x, weight, bias), ")");
  }
  Geometry g{};
  g.n = x.size(0), g.c_in = x.size(1), g.h = x.size(2), g.w = x.size(3);
  g.c_out = weight.size(0), g.kh = 1, g.kw = 1;
  g.stride = 1, g.pad = 0, g.groups = 1;
  g.oh = g.h, g.ow = g.w;
  return conv_apply(op, g, x, weight, bias);
}

namespace detail {

int64_t set_conv2d_tile_elements(int64_t elements) {
  LIEDNET_CHECK(elements >= 1, "set_conv2d_tile_elements: bound must be at least 1, got ", elements);
  return g_tile_elements.exchange(elements);
}

int64_t set_conv2d_cuda_tile_elements(int64_t elements) {
  LIEDNET_CHECK(elements >= 1, "set_conv2d_cuda_tile_elements: bound must be at least 1, got ", elements);
  return g_cuda_tile_elements.exchange(elements);
}

Tensor conv2d_reference(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& opt) {
  const Geometry g = conv2d_geometry("conv2d_reference", x, weight, bias, opt);
  check_cpu("conv2d_reference", x);
  Tensor out = Tensor::empty({g.n, g.c_out, g.oh, g.ow}, x.dtype());
  LIEDNET_DISPATCH(x.dtype(), T, {
    const T* xp = x.data<T>();
    const T* wp = weight.data<T>();
    const T* bp = bias.defined() ? bias.data<T>() : nullptr;
    T* op = out.data<T>();
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t co = 0; co < g.c_out; ++co) {
        const int64_t gr = co / g.cg_out();
        for (int64_t oh = 0; oh < g.oh; ++oh)
          for (int64_t ow = 0; ow < g.ow; ++ow) {
            T acc = bp ? bp[co] : T(0);
            for (int64_t ci = 0; ci < g.cg_in(); ++ci)
              for (int64_t i = 0; i < g.kh; ++i)
                for (int64_t j = 0; j < g.kw; ++j) {
                  const int64_t ih = oh * g.stride - g.pad + i, iw = ow * g.stride - g.pad + j;
                  if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
                  acc += wp[((co * g.cg_in() + ci) * g.kh + i) * g.kw + j] *
                         xp[((n * g.c_in + gr * g.cg_in() + ci) * g.h + ih) * g.w + iw];
                }
            op[((n * g.c_out + co) * g.oh + oh) * g.ow + ow] = acc;
          }
      }
  });
  return out;
}

Conv2dGrads conv2d_reference_backward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                      const Tensor& grad_out, const Conv2dOptions& opt) {
  const Geometry g = conv2d_geometry("conv2d_reference_backward", x, weight, bias, opt);
  check_cpu("conv2d_reference_backward", x);
  check_compatible("conv2d_reference_backward", x, grad_out);
  LIEDNET_CHECK(grad_out.shape() == Shape({g.n, g.c_out, g.oh, g.ow}),
                "conv2d_reference_backward: grad_out must match the output, got ", grad_out.str());
  Conv2dGrads r{Tensor::zeros(x.shape(), x.dtype()), Tensor::zeros(weight.shape(), x.dtype()),
                bias.defined() ? Tensor::zeros(bias.shape(), x.dtype()) : Tensor()};
  LIEDNET_DISPATCH(x.dtype(), T, {
    const T* xp = x.data<T>();
    const T* wp = weight.data<T>();
    const T* gp = grad_out.data<T>();
    T* dx = r.x.data<T>();
    T* dw = r.weight.data<T>();
    T* db = bias.defined() ? r.bias.data<T>() : nullptr;
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t co = 0; co < g.c_out; ++co) {
        const int64_t gr = co / g.cg_out();
        for (int64_t oh = 0; oh < g.oh; ++oh)
          for (int64_t ow = 0; ow < g.ow; ++ow) {
            const T gv = gp[((n * g.c_out + co) * g.oh + oh) * g.ow + ow];
            if (db) db[co] += gv;
            for (int64_t ci = 0; ci < g.cg_in(); ++ci)
              for (int64_t i = 0; i < g.kh; ++i)
                for (int64_t j = 0; j < g.kw; ++j) {
                  const int64_t ih = oh * g.stride - g.pad + i, iw = ow * g.stride - g.pad + j;
                  if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
                  const int64_t wi = ((co * g.cg_in() + ci) * g.kh + i) * g.kw + j;
                  const int64_t xi = ((n * g.c_in + gr * g.cg_in() + ci) * g.h + ih) * g.w + iw;
                  dw[wi] += gv * xp[xi];
                  dx[xi] += gv * wp[wi];
                }
          }
      }
  });
  return r;
}

}  // namespace detail

}  // namespace liednet::ops
