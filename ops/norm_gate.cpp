#include "ops/norm_gate.h"

#include <cmath>
#include <vector>

#include "autograd/autograd.h"
#include "autograd/profiler.h"
#include "ops/check.h"
#include "ops/vec_math.h"
#include "ops/isa.h"
#include "tensor/parallel.h"

namespace liednet::ops {

namespace {
// Pixels per work item. The C values of a pixel are P apart, so each pass
// sweeps the channel planes of a tile of pixels with the pixels as the
// contiguous inner loop; the backward keeps the tile's C x kTile gradient of the
// normalised y (32 KiB for C = 128 in float) between its two sweeps.
constexpr int64_t kTile = 64;

// y viewed as (N, C, P); the work is split into tiles of kTile pixels of one sample.
struct Layout {
  int64_t n, c, p;
  int64_t tiles() const { return (p + kTile - 1) / kTile; }  // per sample
  int64_t items() const { return n * tiles(); }
};

// Mean and rstd of each pixel of a tile (sums in double: a float sum over
// hundreds of channels loses digits the variance needs; two passes so the
// variance does not cancel when the mean is large against the spread).
template <typename T>
void tile_stats(const T* y, int64_t c_count, int64_t stride, int64_t np, double eps, T* m, T* r) {
  double mu[kTile] = {}, sq[kTile] = {};
  for (int64_t c = 0; c < c_count; ++c)
    for (int64_t i = 0; i < np; ++i) mu[i] += y[c * stride + i];
  for (int64_t i = 0; i < np; ++i) mu[i] /= static_cast<double>(c_count);
  for (int64_t c = 0; c < c_count; ++c)
    for (int64_t i = 0; i < np; ++i) {
      const double d = y[c * stride + i] - mu[i];
      sq[i] += d * d;
    }
  for (int64_t i = 0; i < np; ++i) {
    m[i] = static_cast<T>(mu[i]);
    r[i] = static_cast<T>(1.0 / std::sqrt(sq[i] / static_cast<double>(c_count) + eps));
  }
}

template <typename T>
void gate_forward(T* out, T* mean, T* rstd, const T* y, const T* w, const T* b, const T* z, const Layout& l,
                  double eps) {
  const int64_t tiles = l.tiles();
  isa::parallel_for_isa(0, l.items(), 1, [&](int64_t item) {
    const int64_t s = item / tiles, p0 = (item % tiles) * kTile, np = std::min(kTile, l.p - p0);
    const int64_t base = s * l.c * l.p + p0;  // (C, np) block with row stride P
    T* m = mean + s * l.p + p0;
    T* r = rstd + s * l.p + p0;
    tile_stats(y + base, l.c, l.p, np, eps, m, r);
    T sg[kTile];
    for (int64_t c = 0; c < l.c; ++c) {
      const int64_t o = base + c * l.p;
      vec::sigmoid_n(z + o, sg, np);
      for (int64_t i = 0; i < np; ++i) out[o + i] = ((y[o + i] - m[i]) * r[i] * w[c] + b[c]) * (z[o + i] * sg[i]);
    }
  });
}

// With yh = (y - mean) rstd, s = sigmoid(z), gl = g z s (the gradient of the
// normalised-and-scaled y) and gh = gl w:
//   dz = g (yh w + b) s (1 + z (1 - s)),
//   dy = rstd (gh - mean_c(gh) - yh mean_c(gh yh)),
//   dw[c] = sum over samples and pixels of gl yh,  db[c] = sum of gl.
// Each work item writes its own partial dw, db (items, C), summed afterwards in
// item order, so the result does not depend on the thread count.
template <typename T>
void gate_backward(T* gy, T* gw, T* gb, T* gz, const T* g, const T* y, const T* w, const T* b, const T* z,
                   const T* mean, const T* rstd, const Layout& l) {
  const int64_t tiles = l.tiles(), items = l.items();
  const bool want_wb = gw || gb;
  std::vector<double> part_w(want_wb ? items * l.c : 0), part_b(want_wb ? items * l.c : 0);  // (items, C)
  isa::parallel_for_isa(0, items, 1, [&](int64_t item) {
    const int64_t s = item / tiles, p0 = (item % tiles) * kTile, np = std::min(kTile, l.p - p0);
    const int64_t base = s * l.c * l.p + p0;
    const T* m = mean + s * l.p + p0;
    const T* r = rstd + s * l.p + p0;
    std::vector<T> gl(l.c * kTile);  // (C, kTile)
    double sum_gh[kTile] = {}, sum_ghyh[kTile] = {};
    T sg[kTile], yh[kTile];
    for (int64_t c = 0; c < l.c; ++c) {
      const int64_t o = base + c * l.p;
      T* glc = gl.data() + c * kTile;
      vec::sigmoid_n(z + o, sg, np);
      for (int64_t i = 0; i < np; ++i) {
        yh[i] = (y[o + i] - m[i]) * r[i];
        const T zs = z[o + i] * sg[i];
        glc[i] = g[o + i] * zs;
        if (gz) gz[o + i] += g[o + i] * (yh[i] * w[c] + b[c]) * (sg[i] * (T(1) + z[o + i] * (T(1) - sg[i])));
        const T gh = glc[i] * w[c];
        sum_gh[i] += gh;
        sum_ghyh[i] += gh * yh[i];
      }
      if (want_wb) {
        part_w[item * l.c + c] = vec::sum_in_double(glc, yh, np);
        part_b[item * l.c + c] = vec::sum_in_double(glc, nullptr, np);
      }
    }
    if (!gy) return;
    T a[kTile], bb[kTile];
    for (int64_t i = 0; i < np; ++i) {
      a[i] = static_cast<T>(sum_gh[i] / static_cast<double>(l.c));
      bb[i] = static_cast<T>(sum_ghyh[i] / static_cast<double>(l.c));
    }
    for (int64_t c = 0; c < l.c; ++c) {
      const int64_t o = base + c * l.p;
      const T* glc = gl.data() + c * kTile;
      for (int64_t i = 0; i < np; ++i) {
        const T yhi = (y[o + i] - m[i]) * r[i];
        gy[o + i] += r[i] * (glc[i] * w[c] - a[i] - yhi * bb[i]);
      }
    }
  });
  if (!want_wb) return;
  isa::parallel_for_isa(0, l.c, 64, [&](int64_t c) {
    double dw = 0, db = 0;
    for (int64_t item = 0; item < items; ++item) {
      dw += part_w[item * l.c + c];
      db += part_b[item * l.c + c];
    }
    if (gw) gw[c] += static_cast<T>(dw);
    if (gb) gb[c] += static_cast<T>(db);
  });
}

template <typename T>
T* data_or_null(Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
}  // namespace

Tensor norm_silu_gate(const Tensor& y, const Tensor& weight, const Tensor& bias, const Tensor& z, double eps) {
  LIEDNET_PROFILE_OP("norm_silu_gate");
  const char* op = "norm_silu_gate";
  LIEDNET_CHECK(y.defined() && weight.defined() && bias.defined() && z.defined(), op, ": undefined input");
  LIEDNET_CHECK(y.ndim() >= 2 && y.size(1) > 0, op, ": y must be (N, C, ...), got ", y.str());
  check_cpu(op, y);
  check_same(op, y, z);
  for (const Tensor* t : {&weight, &bias}) {
    check_compatible(op, y, *t);
    LIEDNET_CHECK(t->ndim() == 1 && t->size(0) == y.size(1), op, ": weight and bias must be (", y.size(1),
                  ") for y ", y.str(), ", got weight ", weight.str(), ", bias ", bias.str());
  }
  LIEDNET_CHECK(eps >= 0 && std::isfinite(eps), op, ": eps must be finite and >= 0, got ", eps);
  // The pixels per channel as a product, not numel / (N C): a batch of 0 is an empty output.
  Layout l{y.size(0), y.size(1), 1};
  for (int d = 2; d < y.ndim(); ++d) l.p *= y.size(d);

  Tensor out = Tensor::empty(y.shape(), y.dtype());
  Tensor mean = Tensor::empty({l.n, l.p}, y.dtype());  // (N, P)
  Tensor rstd = Tensor::empty({l.n, l.p}, y.dtype());  // (N, P)
  LIEDNET_DISPATCH(y.dtype(), T,
                   gate_forward<T>(out.data<T>(), mean.data<T>(), rstd.data<T>(), y.data<T>(), weight.data<T>(),
                                   bias.data<T>(), z.data<T>(), l, eps));
  if (autograd::needs_grad({&y, &weight, &bias, &z}))
    autograd::record(out, op, {y, weight, bias, z},
                     [l, ys = y.detach(), w = weight.detach(), b = bias.detach(), zs = z.detach(), mean,
                      rstd](const Tensor& g, std::vector<Tensor>& gi) {
                       LIEDNET_DISPATCH(g.dtype(), T,
                                        gate_backward<T>(data_or_null<T>(gi[0]), data_or_null<T>(gi[1]),
                                                         data_or_null<T>(gi[2]), data_or_null<T>(gi[3]), g.data<T>(),
                                                         ys.data<T>(), w.data<T>(), b.data<T>(), zs.data<T>(),
                                                         mean.data<T>(), rstd.data<T>(), l));
                     });
  return out;
}

}  // namespace liednet::ops
