#include "ops/conv2d.h"

#include <algorithm>
#include <atomic>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "ops/check.h"
#include "ops/gemm.h"
#include "tensor/parallel.h"

namespace liednet::ops {

namespace {

// 2 MiB of f32 per band: the column buffer and the band of the output it feeds
// stay in the last-level cache while Eigen's GEMM streams over them.
std::atomic<int64_t> g_tile_elements{int64_t{1} << 19};

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

// ---- im2col path --------------------------------------------------------------

int64_t band_rows(const Geometry& g) {
  const int64_t per_row = g.c_in * g.taps() * g.ow;
  return std::clamp<int64_t>(g_tile_elements.load() / std::max<int64_t>(1, per_row), 1, g.oh);
}

// Column buffer for output rows [r0, r1) of one sample.
// x (C_in, H, W) -> col (C_in*kh*kw, (r1-r0)*OW); row (c, i, j) holds
// x[c, oh*s - p + i, ow*s - p + j], zero where that falls in the padding.
// Rows of one group are contiguous, so group g's GEMM operand starts at row g*depth.
template <typename T>
void im2col(const Geometry& g, const T* x, int64_t r0, int64_t r1, const std::vector<Span>& spans, T* col) {
  const int64_t rows = g.c_in * g.taps(), band = (r1 - r0) * g.ow;
  parallel_for(0, rows, grain_for(band), [&](int64_t r) {
    const int64_t c = r / g.taps(), i = (r / g.kw) % g.kh, j = r % g.kw;
    const Span sp = spans[j];
    const T* xc = x + c * g.plane_in();
    T* dst = col + r * band;
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
  });
}

// The adjoint of im2col: dx (C_in, H, W) += the scatter of col (C_in*kh*kw, (r1-r0)*OW).
// One thread per channel, taps in a fixed order: deterministic.
template <typename T>
void col2im_add(const Geometry& g, const T* col, int64_t r0, int64_t r1, const std::vector<Span>& spans, T* dx) {
  const int64_t band = (r1 - r0) * g.ow;
  parallel_for(0, g.c_in, grain_for(band * g.taps()), [&](int64_t c) {
    T* dxc = dx + c * g.plane_in();
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const Span sp = spans[j];
        const T* src = col + ((c * g.kh + i) * g.kw + j) * band;
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
  });
}

// out (N, C_out, OH, OW) = bias per channel, so the GEMMs can accumulate into it.
template <typename T>
void fill_bias(const Geometry& g, const T* b, T* out) {
  const int64_t plane = g.plane_out();
  parallel_for(0, g.n * g.c_out, grain_for(plane), [&](int64_t p) {
    std::fill(out + p * plane, out + (p + 1) * plane, b[p % g.c_out]);
  });
}

template <typename T>
void gemm_forward(const Geometry& g, const T* x, const T* w, const T* b, T* out) {
  const int64_t pin = g.plane_in(), pout = g.plane_out(), cgi = g.cg_in(), cgo = g.cg_out(), depth = g.depth();
  if (b) fill_bias(g, b, out);
  const T beta = b ? T(1) : T(0);
  if (g.pointwise()) {
    // The (C_in, H*W) plane is its own column matrix.
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t gr = 0; gr < g.groups; ++gr)
        gemm<T>(false, false, cgo, pout, cgi, T(1), w + gr * cgo * cgi, cgi, x + (n * g.c_in + gr * cgi) * pin, pin,
                beta, out + (n * g.c_out + gr * cgo) * pout, pout);
    return;
  }
  const int64_t rows = band_rows(g);
  const std::vector<Span> spans = column_spans(g);
  Tensor buffer = Tensor::empty({g.c_in * g.taps(), rows * g.ow}, dtype_of<T>());  // (C_in*kh*kw, rows*OW)
  T* col = buffer.data<T>();
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t r0 = 0; r0 < g.oh; r0 += rows) {
      const int64_t r1 = std::min(r0 + rows, g.oh), band = (r1 - r0) * g.ow;
      im2col(g, x + n * g.c_in * pin, r0, r1, spans, col);
      for (int64_t gr = 0; gr < g.groups; ++gr)
        gemm<T>(false, false, cgo, band, depth, T(1), w + gr * cgo * depth, depth, col + gr * depth * band, band, beta,
                out + (n * g.c_out + gr * cgo) * pout + r0 * g.ow, pout);
    }
}

// dx and dw may be null (not needed). Samples and bands run in a fixed order, so
// the sums into dw are deterministic.
template <typename T>
void gemm_backward(const Geometry& g, const T* x, const T* w, const T* gout, T* dx, T* dw) {
  const int64_t pin = g.plane_in(), pout = g.plane_out(), cgi = g.cg_in(), cgo = g.cg_out(), depth = g.depth();
  if (g.pointwise()) {
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t gr = 0; gr < g.groups; ++gr) {
        const T* go = gout + (n * g.c_out + gr * cgo) * pout;  // (cg_out, H*W)
        const int64_t xoff = (n * g.c_in + gr * cgi) * pin;   // (cg_in, H*W)
        if (dw) gemm<T>(false, true, cgo, cgi, pout, T(1), go, pout, x + xoff, pin, T(1), dw + gr * cgo * cgi, cgi);
        if (dx) gemm<T>(true, false, cgi, pin, cgo, T(1), w + gr * cgo * cgi, cgi, go, pout, T(1), dx + xoff, pin);
      }
    return;
  }
  const int64_t rows = band_rows(g);
  const std::vector<Span> spans = column_spans(g);
  Tensor buffer = Tensor::empty({g.c_in * g.taps(), rows * g.ow}, dtype_of<T>());  // (C_in*kh*kw, rows*OW)
  T* col = buffer.data<T>();
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t r0 = 0; r0 < g.oh; r0 += rows) {
      const int64_t r1 = std::min(r0 + rows, g.oh), band = (r1 - r0) * g.ow;
      const T* go = gout + n * g.c_out * pout + r0 * g.ow;  // band of (C_out, OH*OW), row stride OH*OW
      if (dw) {
        im2col(g, x + n * g.c_in * pin, r0, r1, spans, col);
        for (int64_t gr = 0; gr < g.groups; ++gr)
          gemm<T>(false, true, cgo, depth, band, T(1), go + gr * cgo * pout, pout, col + gr * depth * band, band, T(1),
                  dw + gr * cgo * depth, depth);
      }
      if (dx) {
        // The column buffer now receives the gradient of the columns.
        for (int64_t gr = 0; gr < g.groups; ++gr)
          gemm<T>(true, false, depth, band, cgo, T(1), w + gr * cgo * depth, depth, go + gr * cgo * pout, pout, T(0),
                  col + gr * depth * band, band);
        col2im_add(g, col, r0, r1, spans, dx + n * g.c_in * pin);
      }
    }
}

// ---- depthwise path -------------------------------------------------------------

// One (sample, channel) plane per task; each output row accumulates its kh*kw
// shifted input rows, a contiguous multiply-add the compiler vectorises.
template <typename T>
void depthwise_forward(const Geometry& g, const T* x, const T* w, const T* b, T* out) {
  const int64_t taps = g.taps(), pin = g.plane_in(), pout = g.plane_out();
  const std::vector<Span> spans = column_spans(g);
  parallel_for(0, g.n * g.c_in, grain_for(pout * taps), [&](int64_t plane) {
    const int64_t c = plane % g.c_in;
    const T* xp = x + plane * pin;
    const T* wc = w + c * taps;
    const T bias = b ? b[c] : T(0);
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

// One channel per task, samples in order: dw[c] is summed by one thread in a
// fixed order. Row partial sums go into a double accumulator per tap.
template <typename T>
void depthwise_backward(const Geometry& g, const T* x, const T* w, const T* gout, T* dx, T* dw) {
  const int64_t taps = g.taps(), pin = g.plane_in(), pout = g.plane_out();
  const std::vector<Span> spans = column_spans(g);
  parallel_for(0, g.c_in, grain_for(g.n * pout * taps), [&](int64_t c) {
    const T* wc = w ? w + c * taps : nullptr;
    std::vector<double> acc(dw ? taps : 0, 0.0);  // (kh*kw)
    for (int64_t n = 0; n < g.n; ++n) {
      const int64_t plane = n * g.c_in + c;
      for (int64_t oh = 0; oh < g.oh; ++oh) {
        const T* grow = gout + plane * pout + oh * g.ow;
        for (int64_t i = 0; i < g.kh; ++i) {
          const int64_t ih = oh * g.stride - g.pad + i;
          if (ih < 0 || ih >= g.h) continue;
          const int64_t row = plane * pin + ih * g.w;
          for (int64_t j = 0; j < g.kw; ++j) {
            const Span sp = spans[j];
            const int64_t shift = j - g.pad;  // input column = ow*s + shift
            if (dx) {
              const T wv = wc[i * g.kw + j];
              T* drow = dx + row;
              if (g.stride == 1) {
                T* d = drow + sp.lo + shift;
                const T* s = grow + sp.lo;
                for (int64_t k = 0, e = sp.hi - sp.lo; k < e; ++k) d[k] += wv * s[k];
              } else {
                for (int64_t ow = sp.lo; ow < sp.hi; ++ow) drow[ow * g.stride + shift] += wv * grow[ow];
              }
            }
            if (dw) {
              const T* xrow = x + row;
              T sum = 0;
              if (g.stride == 1) {
                const T* xs = xrow + sp.lo + shift;
                const T* s = grow + sp.lo;
#pragma omp simd reduction(+ : sum)
                for (int64_t k = 0; k < sp.hi - sp.lo; ++k) sum += s[k] * xs[k];
              } else {
                for (int64_t ow = sp.lo; ow < sp.hi; ++ow) sum += grow[ow] * xrow[ow * g.stride + shift];
              }
              acc[i * g.kw + j] += sum;
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
  Tensor out = Tensor::empty({g.n, g.c_out, g.oh, g.ow}, x.dtype(), x.device());
  LIEDNET_DISPATCH(x.dtype(), T,
                   conv_forward<T>(g, x.data<T>(), w.data<T>(), b.defined() ? b.data<T>() : nullptr, out.data<T>()));
  if (autograd::needs_grad({&x, &w, &b})) {
    // dx needs only the weight, dw only x; db needs neither.
    Tensor saved_x = w.requires_grad() ? x.detach() : Tensor();
    Tensor saved_w = x.requires_grad() ? w.detach() : Tensor();
    autograd::record(out, op, {x, w, b}, [g, saved_x, saved_w](const Tensor& gout, std::vector<Tensor>& gi) {
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
  check_compatible(op, x, w);
  check_cpu(op, x);
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

Tensor linear_channels(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const char* op = "linear_channels";
  LIEDNET_CHECK(x.defined() && weight.defined(), op, ": undefined input (", describe(x, weight, bias), ")");
  LIEDNET_CHECK(x.ndim() == 4, op, ": x must be (N, in, H, W) (", describe(x, weight, bias), ")");
  LIEDNET_CHECK(weight.ndim() == 2 && weight.size(1) == x.size(1), op, ": weight must be (out, in) with in = ",
                x.size(1), " (", describe(x, weight, bias), ")");
  check_compatible(op, x, weight);
  check_cpu(op, x);
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

Tensor conv2d_reference(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& opt) {
  const Geometry g = conv2d_geometry("conv2d_reference", x, weight, bias, opt);
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

}  // namespace detail

}  // namespace liednet::ops
