#include "ops/layernorm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/autograd.h"
#include "autograd/profiler.h"
#include "ops/check.h"
#include "ops/cuda/layernorm.h"
#include "ops/isa.h"
#include "tensor/parallel.h"
#include "tensor/storage.h"

namespace liednet::ops {

namespace {
// Pixels per work item. The C values of a pixel are P apart, so each kernel
// sweeps the channel planes of a tile of pixels, the pixels being the
// contiguous inner loop; C * kTile values (64 KiB for C = 64 in float) stay in
// cache between the sweeps over the same tile.
constexpr int64_t kTile = 256;
constexpr int kLanes = 8;

// x viewed as (N, C, P); the work is split into tiles of kTile pixels of one sample.
struct Layout {
  int64_t n, c, p;
  int64_t tiles() const { return (p + kTile - 1) / kTile; }  // per sample
  int64_t items() const { return n * tiles(); }
};

// Sums run in double even for float data: a float sum over hundreds of
// channels loses digits the variance needs.
template <typename T>
void layer_norm_forward(T* y, T* mean, T* rstd, const T* x, const T* w, const T* b, const Layout& l, double eps) {
  const int64_t tiles = l.tiles();
  isa::parallel_for_isa(0, l.items(), 1, [&](int64_t item) {
    const int64_t s = item / tiles, p0 = (item % tiles) * kTile, np = std::min(kTile, l.p - p0);
    const int64_t base = s * l.c * l.p + p0;  // (C, np) block with row stride P
    double mu[kTile] = {}, sq[kTile] = {};  // sums, then means; sums of squared deviations
    for (int64_t c = 0; c < l.c; ++c) {
      const T* xc = x + base + c * l.p;
      for (int64_t i = 0; i < np; ++i) mu[i] += xc[i];
    }
    // Two passes (mean, then squared deviations) so the variance does not
    // cancel when the mean is large against the spread.
    for (int64_t i = 0; i < np; ++i) mu[i] /= static_cast<double>(l.c);
    for (int64_t c = 0; c < l.c; ++c) {
      const T* xc = x + base + c * l.p;
      for (int64_t i = 0; i < np; ++i) {
        const double d = xc[i] - mu[i];
        sq[i] += d * d;
      }
    }
    T m[kTile], r[kTile];
    for (int64_t i = 0; i < np; ++i) {
      m[i] = static_cast<T>(mu[i]);
      r[i] = static_cast<T>(1.0 / std::sqrt(sq[i] / static_cast<double>(l.c) + eps));
      mean[s * l.p + p0 + i] = m[i];
      rstd[s * l.p + p0 + i] = r[i];
    }
    for (int64_t c = 0; c < l.c; ++c) {
      const T wc = w ? w[c] : T(1), bc = b ? b[c] : T(0);
      const T* xc = x + base + c * l.p;
      T* yc = y + base + c * l.p;
      for (int64_t i = 0; i < np; ++i) yc[i] = (xc[i] - m[i]) * r[i] * wc + bc;
    }
  });
}

// Sums over a run of pixels: kLanes independent partial sums, added in a fixed
// order at the end, let the loop vectorise where a single running sum cannot.
template <typename T>
double sum_lanes(const T* v, int64_t n) {
  double acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int k = 0; k < kLanes; ++k) acc[k] += static_cast<double>(v[i + k]);
  for (; i < n; ++i) acc[0] += static_cast<double>(v[i]);
  double s = 0;
  for (int k = 0; k < kLanes; ++k) s += acc[k];
  return s;
}

template <typename T>
double dot_lanes(const T* a, const T* b, int64_t n) {
  double acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int k = 0; k < kLanes; ++k) acc[k] += static_cast<double>(a[i + k] * b[i + k]);
  for (; i < n; ++i) acc[0] += static_cast<double>(a[i] * b[i]);
  double s = 0;
  for (int k = 0; k < kLanes; ++k) s += acc[k];
  return s;
}

// With xh = (x - mean) * rstd and gh = g * w (per channel):
//   dx = rstd * (gh - mean_c(gh) - xh * mean_c(gh * xh)),
//   dw[c] = sum over samples and pixels of g * xh,  db[c] = sum of g.
// Each work item writes its own partial dw, db (items, C), summed afterwards in
// item order, so the result does not depend on the thread count.
template <typename T>
void layer_norm_backward(T* gx, T* gw, T* gb, const T* g, const T* x, const T* w, const T* mean, const T* rstd,
                         const Layout& l) {
  const int64_t tiles = l.tiles(), items = l.items();
  const bool want_wb = gw || gb;
  std::vector<double> part_w(want_wb ? items * l.c : 0), part_b(want_wb ? items * l.c : 0);  // (items, C)
  isa::parallel_for_isa(0, items, 1, [&](int64_t item) {
    const int64_t s = item / tiles, p0 = (item % tiles) * kTile, np = std::min(kTile, l.p - p0);
    const int64_t base = s * l.c * l.p + p0;
    const T* m = mean + s * l.p + p0;
    const T* r = rstd + s * l.p + p0;
    double sum_gh[kTile] = {}, sum_ghxh[kTile] = {};
    for (int64_t c = 0; c < l.c; ++c) {
      const T wc = w ? w[c] : T(1);
      const T* xc = x + base + c * l.p;
      const T* gc = g + base + c * l.p;
      T xh[kTile];
      for (int64_t i = 0; i < np; ++i) {
        xh[i] = (xc[i] - m[i]) * r[i];
        const T gh = gc[i] * wc;
        sum_gh[i] += gh;
        sum_ghxh[i] += gh * xh[i];
      }
      if (want_wb) {
        part_w[item * l.c + c] = dot_lanes(gc, xh, np);
        part_b[item * l.c + c] = sum_lanes(gc, np);
      }
    }
    if (!gx) return;
    T a[kTile], bb[kTile];
    for (int64_t i = 0; i < np; ++i) {
      a[i] = static_cast<T>(sum_gh[i] / static_cast<double>(l.c));
      bb[i] = static_cast<T>(sum_ghxh[i] / static_cast<double>(l.c));
    }
    for (int64_t c = 0; c < l.c; ++c) {
      const T wc = w ? w[c] : T(1);
      const T* xc = x + base + c * l.p;
      const T* gc = g + base + c * l.p;
      T* gxc = gx + base + c * l.p;
      for (int64_t i = 0; i < np; ++i) {
        const T xh = (xc[i] - m[i]) * r[i];
        gxc[i] += r[i] * (gc[i] * wc - a[i] - xh * bb[i]);
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

// db[c] += sum of g over samples and pixels: the whole backward when only the bias wants a gradient.
template <typename T>
void bias_grad(T* gb, const T* g, const Layout& l) {
  isa::parallel_for_isa(0, l.c, 1, [&](int64_t c) {
    double db = 0;
    for (int64_t s = 0; s < l.n; ++s) db += sum_lanes(g + (s * l.c + c) * l.p, l.p);
    gb[c] += static_cast<T>(db);
  });
}

// The CUDA backward: dx from one kernel, dw and db from a two-pass reduction
// whose per-chunk partials live in a workspace freed when this returns (later
// kernels on the one stream may reuse it only after these have run).
void layer_norm_backward_cuda(std::vector<Tensor>& gi, const Tensor& g, const Tensor& x, const Tensor& w,
                              const Tensor& mean, const Tensor& rstd, const Layout& l) {
  const cuda::LayerNormKernels& k = cuda::layernorm_kernels();
  auto ptr = [](Tensor& t) { return t.defined() ? t.data<float>() : nullptr; };
  const float* xp = x.defined() ? x.data<float>() : nullptr;
  const float* mp = mean.defined() ? mean.data<float>() : nullptr;
  const float* rp = rstd.defined() ? rstd.data<float>() : nullptr;
  if (gi[0].defined())
    cuda_kernel(k.layer_norm_backward_x, "layer_norm_channels")(gi[0].data<float>(), g.data<float>(), xp,
                                                                w.defined() ? w.data<float>() : nullptr, mp, rp, l.n,
                                                                l.c, l.p);
  float* gw = ptr(gi[1]);
  float* gb = ptr(gi[2]);
  if (!gw && !gb) return;
  std::shared_ptr<Storage> workspace =
      Storage::allocate(static_cast<size_t>(cuda::layer_norm_workspace_bytes(l.n, l.c, l.p)), Device::CUDA);
  cuda_kernel(k.layer_norm_backward_params, "layer_norm_channels")(gw, gb, g.data<float>(), xp, mp, rp, l.n, l.c,
                                                                   l.p, workspace->data());
}

void check_affine(const Tensor& x, const Tensor& t, const char* what, const Tensor& weight, const Tensor& bias) {
  if (!t.defined()) return;
  LIEDNET_CHECK(t.dtype() == x.dtype() && t.device() == x.device() && t.ndim() == 1 && t.size(0) == x.size(1),
                "layer_norm_channels: ", what, " must be ", dtype_name(x.dtype()), " (", x.size(1), ") ",
                device_name(x.device()), " for x ", x.str(), ", got weight ",
                weight.defined() ? weight.str() : "none", ", bias ", bias.defined() ? bias.str() : "none");
}
}  // namespace

Tensor layer_norm_channels(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  LIEDNET_PROFILE_OP("layer_norm_channels");
  LIEDNET_CHECK(x.defined(), "layer_norm_channels: x is undefined");
  LIEDNET_CHECK(x.ndim() >= 2, "layer_norm_channels: x must be (N, C, ...), got ", x.str());
  const bool cuda = on_cuda("layer_norm_channels", x);
  check_affine(x, weight, "weight", weight, bias);
  check_affine(x, bias, "bias", weight, bias);
  LIEDNET_CHECK(eps >= 0 && std::isfinite(eps), "layer_norm_channels: eps must be finite and >= 0, got ", eps);
  Layout l{x.size(0), x.size(1), 1};
  for (int d = 2; d < x.ndim(); ++d) l.p *= x.size(d);
  LIEDNET_CHECK(l.c > 0, "layer_norm_channels: x has no channels: ", x.str());

  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor mean = Tensor::empty({l.n, l.p}, x.dtype(), x.device());  // (N, P)
  Tensor rstd = Tensor::empty({l.n, l.p}, x.dtype(), x.device());  // (N, P)
  if (cuda)
    cuda_kernel(cuda::layernorm_kernels().layer_norm_forward, "layer_norm_channels")(
        out.data<float>(), mean.data<float>(), rstd.data<float>(), x.data<float>(),
        weight.defined() ? weight.data<float>() : nullptr, bias.defined() ? bias.data<float>() : nullptr, l.n, l.c,
        l.p, eps);
  else
    LIEDNET_DISPATCH(x.dtype(), T,
                     layer_norm_forward<T>(out.data<T>(), mean.data<T>(), rstd.data<T>(), x.data<T>(),
                                           weight.defined() ? weight.data<T>() : nullptr,
                                           bias.defined() ? bias.data<T>() : nullptr, l, eps));

  if (autograd::needs_grad({&x, &weight, &bias})) {
    // The bias gradient needs only the upstream gradient; x and the
    // statistics are kept only when dx or dw will be asked for.
    const bool need_xh = x.requires_grad() || (weight.defined() && weight.requires_grad());
    Tensor saved_x = need_xh ? x.detach() : Tensor();
    Tensor saved_w = need_xh && weight.defined() ? weight.detach() : Tensor();
    if (!need_xh) mean = rstd = Tensor();
    autograd::record(out, "layer_norm_channels", {x, weight, bias},
                     [l, saved_x, saved_w, mean, rstd](const Tensor& g, std::vector<Tensor>& gi) {
                       if (on_cuda("layer_norm_channels backward", g)) {
                         layer_norm_backward_cuda(gi, g, saved_x, saved_w, mean, rstd, l);
                         return;
                       }
                       LIEDNET_DISPATCH(g.dtype(), T, {
                         auto ptr = [](Tensor& t) { return t.defined() ? t.data<T>() : nullptr; };
                         if (!saved_x.defined()) {
                           bias_grad<T>(gi[2].data<T>(), g.data<T>(), l);
                           return;
                         }
                         layer_norm_backward<T>(ptr(gi[0]), ptr(gi[1]), ptr(gi[2]), g.data<T>(), saved_x.data<T>(),
                                                saved_w.defined() ? saved_w.data<T>() : nullptr, mean.data<T>(),
                                                rstd.data<T>(), l);
                       });
                     });
  }
  return out;
}

}  // namespace liednet::ops
