#include "ops/conv2d.h"

#include <algorithm>
#include <atomic>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "autograd/profiler.h"
#include "ops/check.h"
#include "ops/cuda/conv2d.h"
#include "ops/cuda/gemm.h"
#include "ops/depthwise.h"
#include "ops/flops.h"
#include "ops/gemm.h"
#include "ops/isa.h"
#include "ops/scratch.h"
#include "tensor/parallel.h"

namespace liednet::ops {

namespace {

// 1 MiB of f32 per band of the column gradient (strided convolutions' dx), so
// it stays in a core's L2 cache between the GEMM that writes it and col2im.
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

using depthwise::Span;
using depthwise::valid_span;

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
// The 1x1 forward splits runs of pixels across threads, each run's GEMM on its
// own thread; every other GEMM splits itself across threads (ops::gemm). No
// split changes a sum (ops/gemm.h), so results are bit-identical for any
// thread count.

// Output rows per band: as many as the bound allows, at least one.
int64_t band_rows(const Geometry& g) {
  const int64_t per_row = g.c_in * g.taps() * g.ow;
  return std::clamp<int64_t>(g_tile_elements.load() / std::max<int64_t>(1, per_row), 1, g.oh);
}

// For channels [c0, c1): dx (C_in, H, W) += the scatter of col
// ((c1-c0)*kh*kw, (r1-r0)*OW), a band of the column matrix's gradient (row
// (c, i, j), column (oh, ow) belongs to x[c, oh*s - p + i, ow*s - p + j]), taps
// in a fixed order.
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

// f(c0, c1) over contiguous ranges of input channels, split across threads:
// col2im_add of different channels reads different rows of the column buffer
// and writes different planes of dx.
template <typename F>
void over_channels(const Geometry& g, int64_t band, F&& f) {
  isa::parallel_chunks_isa(g.c_in, grain_for(g.taps() * band), f);
}

// ---- implicit GEMM: the column matrix gathered straight into the GEMM's panels ----
//
// Row k of a group's column matrix is (input channel c, tap i, j) of the group,
// k = (c*kh + i)*kw + j; column q is output pixel (oh, ow), q = oh*OW + ow; the
// value is x[c, oh*s - p + i, ow*s - p + j], zero in the padding. The packers
// below write blocks of it (or of its transpose) in ops::gemm_pack_b's layout,
// so no column buffer is ever stored.

// dst gets `len` values at consecutive columns [col, col + len) of a packed block
// of kc rows, in row `row`: from src, or zeros when src is null.
template <typename T>
void put_run(T* dst, int64_t kc, int64_t nr, int64_t row, int64_t col, const T* src, int64_t len) {
  while (len > 0) {
    const int64_t n = std::min(len, nr - col % nr);
    T* d = dst + (col / nr) * kc * nr + row * nr + col % nr;
    if (src) {
      std::copy(src, src + n, d);
      src += n;
    } else {
      std::fill(d, d + n, T(0));
    }
    col += n;
    len -= n;
  }
}

// Rows [k0, k0+kc), columns [j0, j0+nc) of the column matrix of one sample's
// group, x pointing at the group's first channel plane.
template <typename T>
void pack_columns(const Geometry& g, const std::vector<Span>& spans, const T* x, int64_t k0, int64_t kc, int64_t j0,
                  int64_t nc, T* dst) {
  const int64_t nr = gemm_panel_width<T>();
  T gathered[64];  // a strided row's values, in pieces
  for (int64_t k = k0; k < k0 + kc; ++k) {
    const int64_t c = k / g.taps(), i = (k / g.kw) % g.kh, j = k % g.kw;
    const Span sp = spans[j];
    const T* xc = x + c * g.plane_in();
    for (int64_t q = j0; q < j0 + nc;) {
      const int64_t oh = q / g.ow, o0 = q % g.ow, o1 = std::min(g.ow, o0 + (j0 + nc - q));  // row oh, [o0, o1)
      const int64_t col = q - j0, ih = oh * g.stride - g.pad + i;
      if (ih < 0 || ih >= g.h) {
        put_run<T>(dst, kc, nr, k - k0, col, nullptr, o1 - o0);
      } else {
        const T* src = xc + ih * g.w;
        const int64_t lo = std::clamp(sp.lo, o0, o1), hi = std::clamp(sp.hi, lo, o1);
        put_run<T>(dst, kc, nr, k - k0, col, nullptr, lo - o0);
        if (g.stride == 1) {
          put_run<T>(dst, kc, nr, k - k0, col + lo - o0, src + lo - g.pad + j, hi - lo);
        } else {
          for (int64_t o = lo; o < hi; o += 64) {
            const int64_t n = std::min<int64_t>(64, hi - o);
            for (int64_t e = 0; e < n; ++e) gathered[e] = src[(o + e) * g.stride - g.pad + j];
            put_run<T>(dst, kc, nr, k - k0, col + o - o0, gathered, n);
          }
        }
        put_run<T>(dst, kc, nr, k - k0, col + hi - o0, nullptr, o1 - hi);
      }
      q += o1 - o0;
    }
  }
}

// The transpose: rows [k0, k0+kc) are output pixels, columns [j0, j0+nc) rows of
// the column matrix (the B operand of dw = gout x columns^T).
template <typename T>
void pack_columns_transposed(const Geometry& g, const std::vector<Span>& spans, const T* x, int64_t k0, int64_t kc,
                             int64_t j0, int64_t nc, T* dst) {
  const int64_t nr = gemm_panel_width<T>();
  for (int64_t t = j0; t < j0 + nc; ++t) {
    const int64_t c = t / g.taps(), i = (t / g.kw) % g.kh, j = t % g.kw;
    const Span sp = spans[j];
    const T* xc = x + c * g.plane_in();
    T* d = dst + ((t - j0) / nr) * kc * nr + (t - j0) % nr;  // row q of this column: d[(q - k0) * nr]
    for (int64_t q = k0; q < k0 + kc;) {
      const int64_t oh = q / g.ow, o0 = q % g.ow, o1 = std::min(g.ow, o0 + (k0 + kc - q));
      const int64_t ih = oh * g.stride - g.pad + i;
      T* dq = d + (q - k0) * nr - o0 * nr;  // dq[o * nr] is pixel (oh, o)
      if (ih < 0 || ih >= g.h) {
        for (int64_t o = o0; o < o1; ++o) dq[o * nr] = T(0);
      } else {
        const T* src = xc + ih * g.w - g.pad + j;
        const int64_t lo = std::clamp(sp.lo, o0, o1), hi = std::clamp(sp.hi, lo, o1);
        for (int64_t o = o0; o < lo; ++o) dq[o * nr] = T(0);
        for (int64_t o = lo; o < hi; ++o) dq[o * nr] = src[o * g.stride];
        for (int64_t o = hi; o < o1; ++o) dq[o * nr] = T(0);
      }
      q += o1 - o0;
    }
  }
}

// dx of a stride-1 convolution is itself a stride-1 convolution: of gout, padded
// by k - 1 - p, with the kernel flipped and its channel axes swapped. This is
// its geometry (per group), when the padding allows it (p <= k - 1).
bool transposed_conv_possible(const Geometry& g) {
  return g.stride == 1 && g.kh == g.kw && g.pad <= g.kh - 1;
}

Geometry transposed_geometry(const Geometry& g) {
  Geometry t = g;
  t.c_in = g.c_out, t.h = g.oh, t.w = g.ow;
  t.c_out = g.c_in;
  t.oh = g.h, t.ow = g.w;
  t.pad = g.kh - 1 - g.pad;  // kh == kw (transposed_conv_possible)
  return t;
}

// w' (groups, cg_in, cg_out*kh*kw): w'[gr][ci][(co*kh + kh-1-i)*kw + kw-1-j] = w[gr*cg_out + co][ci][i][j].
template <typename T>
std::vector<T> transposed_weight(const Geometry& g, const T* w) {
  const int64_t cgi = g.cg_in(), cgo = g.cg_out(), taps = g.taps();
  std::vector<T> t(g.groups * cgi * cgo * taps);
  for (int64_t gr = 0; gr < g.groups; ++gr)
    for (int64_t co = 0; co < cgo; ++co)
      for (int64_t ci = 0; ci < cgi; ++ci)
        for (int64_t k = 0; k < taps; ++k)
          t[((gr * cgi + ci) * cgo + co) * taps + (taps - 1 - k)] = w[((gr * cgo + co) * cgi + ci) * taps + k];
  return t;
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
    // The (C_in, H*W) plane is its own column matrix; tasks are runs of up to
    // 4096 pixels, halved (down to 256) until there is a task per thread: the
    // GEMM inside a task runs on one thread. A run's length never changes a
    // sum (ops/gemm.h), so results do not depend on it.
    const int64_t threads = omp_in_parallel() ? 1 : num_threads();
    int64_t pixels = 4096;
    while (pixels > 256 && g.n * ((pout + pixels - 1) / pixels) < threads) pixels /= 2;
    const int64_t runs = (pout + pixels - 1) / pixels;
    isa::parallel_for_isa(0, g.n * runs, grain_for(pixels * g.c_in * g.cg_out()), [&](int64_t t) {
      const int64_t n = t / runs, p0 = (t % runs) * pixels, p1 = std::min(p0 + pixels, pout);
      gemm_band(g, w, b, x + n * g.c_in * pin + p0, pin, p0, p1, out + n * g.c_out * pout);
    });
    return;
  }
  // Per sample and group one GEMM over the whole output plane, its columns
  // gathered from x by the packer; the GEMM splits itself across threads.
  const std::vector<Span> spans = column_spans(g);
  const int64_t cgi = g.cg_in(), cgo = g.cg_out(), depth = g.depth();
  for (int64_t n = 0; n < g.n; ++n) {
    T* on = out + n * g.c_out * pout;
    if (b)
      isa::parallel_for_isa(0, g.c_out, 1, [&](int64_t co) { std::fill(on + co * pout, on + (co + 1) * pout, b[co]); });
    for (int64_t gr = 0; gr < g.groups; ++gr) {
      const T* xg = x + (n * g.c_in + gr * cgi) * pin;
      gemm_pack_b<T>(
          false, cgo, pout, depth, T(1), w + gr * cgo * depth, depth,
          [&](int64_t k0, int64_t kc, int64_t j0, int64_t nc, T* dst) { pack_columns(g, spans, xg, k0, kc, j0, nc, dst); },
          b ? T(1) : T(0), on + gr * cgo * pout, pout);
    }
  }
}

// Each GEMM splits its own work across threads (ops/gemm.h: the split never
// changes a sum), and samples and bands run in order, so dw's sum over them has
// a fixed order and every result is bit-identical for any thread count. dx and
// dw may be null (not needed).
template <typename T>
void gemm_backward(const Geometry& g, const T* x, const T* w, const T* gout, T* dx, T* dw) {
  const int64_t pin = g.plane_in(), pout = g.plane_out(), cgi = g.cg_in(), cgo = g.cg_out(), depth = g.depth();
  const int64_t taps = g.taps();
  if (g.pointwise()) {
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t gr = 0; gr < g.groups; ++gr) {
        const T* go = gout + (n * g.c_out + gr * cgo) * pout;  // (cg_out, H*W)
        if (dw)
          gemm<T>(false, true, cgo, cgi, pout, T(1), go, pout, x + (n * g.c_in + gr * cgi) * pin, pin, T(1),
                  dw + gr * cgo * depth, depth);
        if (dx)
          gemm<T>(true, false, cgi, pin, cgo, T(1), w + gr * cgo * depth, depth, go, pout, T(1),
                  dx + (n * g.c_in + gr * cgi) * pin, pin);
      }
    return;
  }
  const std::vector<Span> spans = column_spans(g);
  if (dw)
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t gr = 0; gr < g.groups; ++gr) {
        const T* xg = x + (n * g.c_in + gr * cgi) * pin;
        gemm_pack_b<T>(
            false, cgo, depth, pout, T(1), gout + (n * g.c_out + gr * cgo) * pout, pout,
            [&](int64_t k0, int64_t kc, int64_t j0, int64_t nc, T* dst) {
              pack_columns_transposed(g, spans, xg, k0, kc, j0, nc, dst);
            },
            T(1), dw + gr * cgo * depth, depth);
      }
  if (!dx) return;
  if (transposed_conv_possible(g)) {
    const Geometry t = transposed_geometry(g);
    const std::vector<Span> tspans = column_spans(t);
    const std::vector<T> wt = transposed_weight(g, w);  // (groups, cg_in, cg_out*kh*kw)
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t gr = 0; gr < g.groups; ++gr) {
        const T* gg = gout + (n * g.c_out + gr * cgo) * pout;
        gemm_pack_b<T>(
            false, cgi, pin, t.depth(), T(1), wt.data() + gr * cgi * t.depth(), t.depth(),
            [&](int64_t k0, int64_t kc, int64_t j0, int64_t nc, T* dst) {
              pack_columns(t, tspans, gg, k0, kc, j0, nc, dst);
            },
            T(1), dx + (n * g.c_in + gr * cgi) * pin, pin);
      }
    return;
  }
  // Strided (or over-padded) convolutions: the columns' gradient in bands of
  // output rows, scattered back into dx (col2im).
  const int64_t rows = band_rows(g);
  T* col = scratch<T>(g.c_in * taps * rows * g.ow);  // (C_in*kh*kw, rows*OW)
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t r0 = 0; r0 < g.oh; r0 += rows) {
      const int64_t r1 = std::min(r0 + rows, g.oh), band = (r1 - r0) * g.ow;
      const T* go = gout + n * g.c_out * pout + r0 * g.ow;  // band of (C_out, OH*OW), row stride OH*OW
      for (int64_t gr = 0; gr < g.groups; ++gr)
        gemm<T>(true, false, depth, band, cgo, T(1), w + gr * cgo * depth, depth, go + gr * cgo * pout, pout, T(0),
                col + gr * depth * band, band);
      over_channels(g, band, [&](int64_t c0, int64_t c1) {
        col2im_add(g, col + c0 * taps * band, r0, r1, c0, c1, spans, dx + n * g.c_in * pin);
      });
    }
}

// ---- depthwise path (ops/depthwise.h) ------------------------------------------

depthwise::Shape depthwise_shape(const Geometry& g) {
  return {g.n, g.c_in, g.h, g.w, g.kh, g.kw, g.stride, g.pad, g.oh, g.ow, g.c_in};
}

// ---- shared -----------------------------------------------------------------------

// db[c] += sum over samples and pixels of gout[:, c]; one thread per channel.
template <typename T>
void bias_backward(const Geometry& g, const T* gout, T* db) {
  const int64_t pout = g.plane_out();
  isa::parallel_for_isa(0, g.c_out, grain_for(g.n * pout), [&](int64_t c) {
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
  if (g.depthwise()) depthwise::forward(depthwise_shape(g), x, w, b, out);
  else gemm_forward(g, x, w, b, out);
}

template <typename T>
void conv_backward(const Geometry& g, const T* x, const T* w, const T* gout, T* dx, T* dw, T* db) {
  if (dx || dw) {
    if (g.depthwise()) depthwise::backward(depthwise_shape(g), x, w, gout, dx, dw);
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
  LIEDNET_PROFILE_OP(op);
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
  // Three names for three kernels, so the profiler tells them apart.
  const char* op = g.depthwise() ? "conv2d_depthwise" : g.kh * g.kw == 1 ? "conv2d_1x1" : "conv2d";
  return conv_apply(op, g, x, weight, bias);
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
  LIEDNET_PROFILE_OP("conv2d_reference");
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
