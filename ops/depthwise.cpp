#include "ops/depthwise.h"

#include <algorithm>
#include <vector>

#include "ops/scratch.h"
#include "ops/isa.h"
#include "tensor/parallel.h"

namespace liednet::ops::depthwise {

namespace {

// Below this many multiply-adds a loop runs on one thread: starting a team costs more.
constexpr int64_t kMinParallelWork = int64_t{1} << 15;

int64_t grain_for(int64_t work_per_item) {
  return std::max<int64_t>(1, kMinParallelWork / std::max<int64_t>(1, work_per_item));
}

// Stride 1 with a 3x3 or 5x5 kernel (every depthwise convolution in LIEDNet)
// runs on a zero-padded copy of each plane: every output row is then one
// branch-free loop whose kh*kw taps unroll into registers. Other shapes take the
// general loops, which skip the padding with per-tap column spans.

bool fixed(const Shape& g) {
  return g.stride == 1 && ((g.kh == 3 && g.kw == 3) || (g.kh == 5 && g.kw == 5));
}

int64_t taps(const Shape& g) { return g.kh * g.kw; }

std::vector<Span> column_spans(const Shape& g) {
  std::vector<Span> spans(g.kw);
  for (int64_t j = 0; j < g.kw; ++j) spans[j] = valid_span(j, g.w, g.ow, g.stride, g.pad);
  return spans;
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
void correlate_fixed(const Shape& g, const T* in, int64_t ld, const T* k, T bias, T* out, int64_t rows,
                     int64_t cols) {
  if (g.kh == 3) correlate_plane<T, 3, 3, Accumulate>(in, ld, k, bias, out, rows, cols);
  else correlate_plane<T, 5, 5, Accumulate>(in, ld, k, bias, out, rows, cols);
}

// One (sample, channel) plane per task.
template <typename T>
void forward_planes(const Shape& g, const T* x, const T* w, const T* b, T* out, bool relu) {
  const int64_t nt = taps(g), pin = g.h * g.w, pout = g.oh * g.ow;
  const bool is_fixed = fixed(g);
  const std::vector<Span> spans = column_spans(g);
  isa::parallel_for_isa(0, g.n * g.c, grain_for(pout * nt), [&](int64_t task) {
    const int64_t n = task / g.c, c = task % g.c, plane = n * g.sample_channels + c;
    const T* xp = x + plane * pin;
    T* op = out + plane * pout;
    const T* wc = w + c * nt;
    const T bias = b ? b[c] : T(0);
    if (is_fixed) {
      const int64_t hp = g.h + 2 * g.pad, wp = g.w + 2 * g.pad;
      T* padded = scratch<T>(hp * wp);  // (H + 2p, W + 2p)
      pad_plane(xp, g.h, g.w, g.pad, g.pad, padded, hp, wp);
      correlate_fixed<T, false>(g, padded, wp, wc, bias, op, g.oh, g.ow);
    } else {
      // Each output row accumulates its kh*kw shifted input rows.
      for (int64_t oh = 0; oh < g.oh; ++oh) {
        T* orow = op + oh * g.ow;
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
    }
    // While the plane is still in cache. !(v <= 0) as in ops::relu, so NaN passes through.
    if (relu)
      for (int64_t k = 0; k < pout; ++k) op[k] = !(op[k] <= T(0)) ? op[k] : T(0);
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
// With dw_acc, the weight gradient's double sums go on in dw_acc (c, kh*kw) and
// are not rounded into dw: calls over consecutive samples then sum exactly as one.
template <typename T>
void backward_planes(const Shape& g, const T* x, const T* w, const T* gout, T* dx, T* dw, double* dw_acc = nullptr) {
  const int64_t taps = depthwise::taps(g), pin = g.h * g.w, pout = g.oh * g.ow;
  const bool fixed = depthwise::fixed(g);
  const std::vector<Span> spans = column_spans(g);
  // Fixed path: x padded as in the forward, and gout padded so that dx is the
  // correlation of it with the flipped kernel.
  const int64_t xh = g.h + 2 * g.pad, xw = g.w + 2 * g.pad;
  const int64_t gh = g.h + g.kh - 1, gw = g.w + g.kw - 1;
  const bool want_dw = dw || dw_acc;
  T* const dw_out = dw_acc ? nullptr : dw;  // with dw_acc, the sums stay there
  isa::parallel_for_isa(0, g.c, grain_for(g.n * pout * taps), [&](int64_t c) {
    const T* wc = w ? w + c * taps : nullptr;
    std::vector<double> own(dw_out ? taps : 0, 0.0);  // (kh*kw)
    double* acc = dw_acc ? dw_acc + c * taps : own.data();
    T* xpad = fixed ? scratch<T>(xh * xw + gh * gw + taps * g.ow) : nullptr;  // (H + 2p, W + 2p)
    T* gpad = fixed ? xpad + xh * xw : nullptr;                               // (H + kh - 1, W + kw - 1)
    T* sums = fixed ? gpad + gh * gw : nullptr;                               // (kh*kw, OW)
    T flipped[25];  // the fixed path's kernel is at most 5x5
    if (fixed && dx) std::reverse_copy(wc, wc + taps, flipped);
    for (int64_t n = 0; n < g.n; ++n) {
      const int64_t plane = n * g.sample_channels + c;
      const T* gp = gout + plane * pout;
      const T* xp = x ? x + plane * pin : nullptr;
      if (fixed) {
        if (dx) {
          pad_plane(gp, g.oh, g.ow, g.kh - 1 - g.pad, g.kw - 1 - g.pad, gpad, gh, gw);
          correlate_fixed<T, true>(g, gpad, gw, flipped, T(0), dx + plane * pin, g.h, g.w);
        }
        if (want_dw) {
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
            if (want_dw) {
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
    if (dw_out)
      for (int64_t t = 0; t < taps; ++t) dw_out[c * taps + t] += static_cast<T>(acc[t]);
  });
}

}  // namespace

Span valid_span(int64_t k, int64_t n_in, int64_t n_out, int64_t s, int64_t p) {
  const int64_t first = p - k;             // o*s must be >= first
  const int64_t last = n_in - 1 + p - k;   // and <= last
  int64_t lo = first <= 0 ? 0 : (first + s - 1) / s;
  int64_t hi = last < 0 ? 0 : last / s + 1;
  lo = std::min(lo, n_out);
  hi = std::clamp(hi, lo, n_out);
  return {lo, hi};
}

Shape same_size(int64_t n, int64_t c, int64_t h, int64_t w, int64_t k, int64_t sample_channels) {
  return {n, c, h, w, k, k, 1, k / 2, h + 2 * (k / 2) - k + 1, w + 2 * (k / 2) - k + 1, sample_channels};
}

template <typename T>
void forward(const Shape& s, const T* x, const T* w, const T* b, T* out, bool relu) {
  forward_planes(s, x, w, b, out, relu);
}

template <typename T>
void backward(const Shape& s, const T* x, const T* w, const T* gout, T* dx, T* dw) {
  if (dx || dw) backward_planes(s, x, w, gout, dx, dw);
}

template <typename T>
void backward_sums(const Shape& s, const T* x, const T* w, const T* gout, T* dx, double* dw_acc) {
  if (dx || dw_acc) backward_planes(s, x, w, gout, dx, static_cast<T*>(nullptr), dw_acc);
}

template <typename T>
void add_sums(T* dw, const double* dw_acc, int64_t count) {
  for (int64_t i = 0; i < count; ++i) dw[i] += static_cast<T>(dw_acc[i]);
}

template void forward<float>(const Shape&, const float*, const float*, const float*, float*, bool);
template void forward<double>(const Shape&, const double*, const double*, const double*, double*, bool);
template void backward<float>(const Shape&, const float*, const float*, const float*, float*, float*);
template void backward<double>(const Shape&, const double*, const double*, const double*, double*, double*);
template void backward_sums<float>(const Shape&, const float*, const float*, const float*, float*, double*);
template void backward_sums<double>(const Shape&, const double*, const double*, const double*, double*, double*);
template void add_sums<float>(float*, const double*, int64_t);
template void add_sums<double>(double*, const double*, int64_t);

}  // namespace liednet::ops::depthwise
