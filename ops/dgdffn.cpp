#include "ops/dgdffn.h"

#include <vector>

#include "autograd/autograd.h"
#include "autograd/profiler.h"
#include "ops/activation.h"
#include "ops/check.h"
#include "ops/depthwise.h"
#include "ops/flops.h"
#include "ops/gemm.h"
#include "ops/isa.h"
#include "ops/vec_math.h"
#include "tensor/parallel.h"

namespace liednet::ops {

namespace {

constexpr const char* kOp = "dgdffn";
constexpr int64_t kChunk = 1 << 14;  // elements per task of the pointwise loops

struct Dims {
  int64_t n, c, h, w;  // x
  int64_t hidden;      // h of the spec
  int64_t k1, k2, k3;  // depthwise kernel sizes
  int64_t p() const { return h * w; }
};

// The pointwise loops, f(i, m) over [lo, hi): float 8 values at a time as
// vec::f32x8 (m values left, so the last vector of a range may be partial:
// every element goes through the same vector code wherever a range ends),
// double one at a time.
inline vec::f32x8 ld(const float* p, int64_t m) { return vec::load_first(p, m); }
inline double ld(const double* p, int64_t) { return *p; }
inline void st(float* p, vec::f32x8 v, int64_t m) { vec::store_first(p, v, m); }
inline void st(double* p, double v, int64_t) { *p = v; }
template <typename T, typename F>
void lanes(int64_t lo, int64_t hi, F&& f) {
  constexpr int64_t step = std::is_same_v<T, float> ? 8 : 1;
  for (int64_t i = lo; i < hi; i += step) f(i, hi - i);
}

// ---- 1x1 convolutions as GEMMs on each sample's (channels, H*W) plane -------------

// out (N, co, P) = w (co, ci) x in (N, ci, P)
template <typename T>
void pointwise_forward(const T* w, const T* in, T* out, int64_t n, int64_t co, int64_t ci, int64_t p) {
  for (int64_t s = 0; s < n; ++s) gemm<T>(false, false, co, p, ci, T(1), w, ci, in + s * ci * p, p, T(0), out + s * co * p, p);
}

// dw (co, ci) += sum over samples of gout (co, P) x in (ci, P)^T, samples in order
template <typename T>
void pointwise_dw(const T* gout, const T* in, T* dw, int64_t n, int64_t co, int64_t ci, int64_t p) {
  for (int64_t s = 0; s < n; ++s)
    gemm<T>(false, true, co, ci, p, T(1), gout + s * co * p, p, in + s * ci * p, p, T(1), dw, ci);
}

// din (N, ci, P) = beta * din + w (co, ci)^T x gout (N, co, P)
template <typename T>
void pointwise_dx(const T* w, const T* gout, T* din, T beta, int64_t n, int64_t co, int64_t ci, int64_t p) {
  for (int64_t s = 0; s < n; ++s)
    gemm<T>(true, false, ci, p, co, T(1), w, ci, gout + s * co * p, p, beta, din + s * ci * p, p);
}

// ---- the depthwise branches -----------------------------------------------------

// cat (N, 2h, P) = ReLU(dwconv1(pin1[:, :h])), ReLU(dwconv2(pin1[:, h:])).
template <typename T>
void branches_forward(const Dims& d, const T* pin1, const T* w1, const T* w2, T* cat) {
  const int64_t hp = d.hidden * d.p();
  depthwise::forward(depthwise::same_size(d.n, d.hidden, d.h, d.w, d.k1, 2 * d.hidden), pin1, w1, (const T*)nullptr,
                     cat, true);
  depthwise::forward(depthwise::same_size(d.n, d.hidden, d.h, d.w, d.k2, 2 * d.hidden), pin1 + hp, w2,
                     (const T*)nullptr, cat + hp, true);
}

// ---- forward and backward -------------------------------------------------------

// The tensors the backward reads (detached): x, f and the weights. project_in1(x) (2h channels) and
// project_in2(x) (h) are recomputed from x in the backward (the same GEMMs, so the same values): keeping
// them held 3h of the C + 4h channels per pixel the op kept for every block until its backward.
struct Saved {
  Tensor x, f;
  DgdffnWeights w;
};

template <typename T>
const T* ptr(const Tensor& t) {
  return t.data<T>();
}

// One sample at a time: the hidden-width temporaries are one sample's (f is kept
// for the batch only when the backward needs it).
template <typename T>
Tensor forward(const Dims& d, const Tensor& x, const DgdffnWeights& w, Saved* saved) {
  const int64_t N = d.n, C = d.c, h = d.hidden, P = d.p(), hp = h * P;
  const DType dt = x.dtype();
  Tensor f = Tensor::empty({saved ? N : 1, h, d.h, d.w}, dt);  // (N, h, H, W), or one sample's
  Tensor out = Tensor::empty({N, C, d.h, d.w}, dt);
  Dims one = d;
  one.n = 1;
  for (int64_t n = 0; n < N; ++n) {
    const T* xn = ptr<T>(x) + n * C * P;
    T* fn = f.data<T>() + (saved ? n * hp : 0);
    {
      Tensor pin1 = Tensor::empty({1, 2 * h, d.h, d.w}, dt);  // (1, 2h, H, W)
      pointwise_forward(ptr<T>(w.project_in1), xn, pin1.data<T>(), 1, 2 * h, C, P);
      Tensor cat = Tensor::empty({1, 2 * h, d.h, d.w}, dt);  // (1, 2h, H, W)
      branches_forward(one, ptr<T>(pin1), ptr<T>(w.dwconv1), ptr<T>(w.dwconv2), cat.data<T>());
      pin1 = Tensor();
      pointwise_forward(ptr<T>(w.fusion), ptr<T>(cat), fn, 1, h, 2 * h, P);
    }
    Tensor pin2 = Tensor::empty({1, h, d.h, d.w}, dt);  // (1, h, H, W)
    pointwise_forward(ptr<T>(w.project_in2), xn, pin2.data<T>(), 1, h, C, P);
    Tensor m = Tensor::empty({1, h, d.h, d.w}, dt);  // g, then the gate GELU(g) * f in place
    T* mp = m.data<T>();
    depthwise::forward(depthwise::same_size(1, h, d.h, d.w, d.k3, h), ptr<T>(pin2), ptr<T>(w.dwconv3),
                       (const T*)nullptr, mp);
    pin2 = Tensor();
    isa::parallel_chunks_isa(hp, kChunk, [&](int64_t lo, int64_t hi) {
      lanes<T>(lo, hi, [&](int64_t i, int64_t m) { st(mp + i, detail::gelu_value(ld(mp + i, m)) * ld(fn + i, m), m); });
    });
    pointwise_forward(ptr<T>(w.project_out), ptr<T>(m), out.data<T>() + n * C * P, 1, C, h, P);
  }
  if (saved) *saved = {x.detach(), f, w};
  return out;
}

// gi: x, project_in1, project_in2, dwconv1, dwconv2, dwconv3, fusion, project_out;
// each defined exactly when it needs a gradient, and added into.
// One sample at a time, so that what it recomputes and the hidden-width
// gradients are held for one sample, not the batch (about 7h channels of one
// sample at most). The sums come out as over the whole batch: every weight
// gradient is added sample by sample in order (the GEMMs did that already) and
// the depthwise ones keep their double sums across samples (backward_sums).
template <typename T>
void backward(const Dims& d, const Saved& s, const Tensor& gout, std::vector<Tensor>& gi) {
  const int64_t N = d.n, C = d.c, h = d.hidden, P = d.p(), hp = h * P;
  const DType dt = gout.dtype();
  auto out_ptr = [&](int i) { return gi[i].defined() ? gi[i].data<T>() : nullptr; };
  T* const dx_all = out_ptr(0);
  T *dw_in1 = out_ptr(1), *dw_in2 = out_ptr(2), *dw_dw1 = out_ptr(3), *dw_dw2 = out_ptr(4), *dw_dw3 = out_ptr(5);
  T *dw_fus = out_ptr(6), *dw_out = out_ptr(7);
  const bool need_dpin1 = dx_all || dw_in1 || dw_dw1 || dw_dw2;  // through the ReLU branches
  const bool need_dpin2 = dx_all || dw_in2 || dw_dw3;             // through the gate branch
  const bool need_df = need_dpin1 || dw_fus;
  // The depthwise weight gradients' double sums over the batch, (h, k*k) each.
  std::vector<double> acc1(dw_dw1 ? h * d.k1 * d.k1 : 0, 0.0), acc2(dw_dw2 ? h * d.k2 * d.k2 : 0, 0.0),
      acc3(dw_dw3 ? h * d.k3 * d.k3 : 0, 0.0);
  const depthwise::Shape shape3 = depthwise::same_size(1, h, d.h, d.w, d.k3, h);
  const depthwise::Shape shape1 = depthwise::same_size(1, h, d.h, d.w, d.k1, 2 * h);
  const depthwise::Shape shape2 = depthwise::same_size(1, h, d.h, d.w, d.k2, 2 * h);
  Dims one = d;
  one.n = 1;

  for (int64_t n = 0; n < N; ++n) {
    const T* go = gout.data<T>() + n * C * P;
    const T* x = ptr<T>(s.x) + n * C * P;
    const T* f = ptr<T>(s.f) + n * hp;
    T* dx = dx_all ? dx_all + n * C * P : nullptr;

    // The gate: recompute pin2 = project_in2(x), g = dwconv3(pin2) and m = GELU(g) * f.
    Tensor pin2 = Tensor::empty({1, h, d.h, d.w}, dt);  // (1, h, H, W)
    pointwise_forward(ptr<T>(s.w.project_in2), x, pin2.data<T>(), 1, h, C, P);
    Tensor g = Tensor::empty({1, h, d.h, d.w}, dt);  // g, then its gradient in place
    Tensor m = Tensor::empty({1, h, d.h, d.w}, dt);  // m, then its gradient in place
    T* gp = g.data<T>();
    T* mp = m.data<T>();
    depthwise::forward(shape3, ptr<T>(pin2), ptr<T>(s.w.dwconv3), (const T*)nullptr, gp);
    if (dw_out) {
      isa::parallel_chunks_isa(hp, kChunk, [&](int64_t lo, int64_t hi) {
        lanes<T>(lo, hi, [&](int64_t i, int64_t m) { st(mp + i, detail::gelu_value(ld(gp + i, m)) * ld(f + i, m), m); });
      });
      pointwise_dw(go, mp, dw_out, 1, C, h, P);
    }
    if (!need_df && !need_dpin2) continue;
    pointwise_dx(ptr<T>(s.w.project_out), go, mp, T(0), 1, C, h, P);  // dm (h, P)
    // df = dm * GELU(g); dg = (dm * f) * GELU'(g), as the composed mul and gelu compute them.
    Tensor df = need_df ? Tensor::empty({1, h, d.h, d.w}, dt) : Tensor();  // (1, h, H, W)
    T* dfp = need_df ? df.data<T>() : nullptr;
    isa::parallel_chunks_isa(hp, kChunk, [&](int64_t lo, int64_t hi) {
      lanes<T>(lo, hi, [&](int64_t i, int64_t m) {
        const auto gv = ld(gp + i, m), dm = ld(mp + i, m);
        if (dfp) st(dfp + i, dm * detail::gelu_value(gv), m);
        st(gp + i, (dm * ld(f + i, m)) * detail::gelu_derivative(gv), m);
      });
    });
    m = Tensor();
    if (need_dpin2) {
      Tensor dpin2 = Tensor::zeros({1, h, d.h, d.w}, dt);  // (1, h, H, W)
      depthwise::backward_sums(shape3, ptr<T>(pin2), ptr<T>(s.w.dwconv3), gp, dpin2.data<T>(),
                               dw_dw3 ? acc3.data() : nullptr);
      pin2 = Tensor();
      if (dw_in2) pointwise_dw(ptr<T>(dpin2), x, dw_in2, 1, h, C, P);
      if (dx) pointwise_dx(ptr<T>(s.w.project_in2), ptr<T>(dpin2), dx, T(1), 1, h, C, P);
    }
    pin2 = Tensor();
    g = Tensor();
    if (!need_df) continue;

    // The ReLU branches: recompute pin1 = project_in1(x) and cat, then back through fusion, the mask and the
    // depthwise convolutions.
    Tensor pin1 = Tensor::empty({1, 2 * h, d.h, d.w}, dt);  // (1, 2h, H, W)
    pointwise_forward(ptr<T>(s.w.project_in1), x, pin1.data<T>(), 1, 2 * h, C, P);
    Tensor cat = Tensor::empty({1, 2 * h, d.h, d.w}, dt);  // (1, 2h, H, W)
    T* cp = cat.data<T>();
    branches_forward(one, ptr<T>(pin1), ptr<T>(s.w.dwconv1), ptr<T>(s.w.dwconv2), cp);
    if (dw_fus) pointwise_dw(dfp, cp, dw_fus, 1, h, 2 * h, P);
    if (!need_dpin1) continue;
    Tensor dcat = Tensor::empty({1, 2 * h, d.h, d.w}, dt);  // (1, 2h, H, W)
    T* dcp = dcat.data<T>();
    pointwise_dx(ptr<T>(s.w.fusion), dfp, dcp, T(0), 1, h, 2 * h, P);
    df = Tensor();
    // ReLU's gradient: 1 where its output is positive, as ops::relu.
    isa::parallel_chunks_isa(2 * hp, kChunk, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) dcp[i] = cp[i] > T(0) ? dcp[i] : T(0);
    });
    cat = Tensor();
    Tensor dpin1 = Tensor::zeros({1, 2 * h, d.h, d.w}, dt);  // (1, 2h, H, W)
    T* dp1 = dpin1.data<T>();
    const T* p1 = ptr<T>(pin1);
    depthwise::backward_sums(shape1, p1, ptr<T>(s.w.dwconv1), dcp, dp1, dw_dw1 ? acc1.data() : nullptr);
    depthwise::backward_sums(shape2, p1 + hp, ptr<T>(s.w.dwconv2), dcp + hp, dp1 + hp,
                             dw_dw2 ? acc2.data() : nullptr);
    dcat = Tensor();
    pin1 = Tensor();
    if (dw_in1) pointwise_dw(dp1, x, dw_in1, 1, 2 * h, C, P);
    if (dx) pointwise_dx(ptr<T>(s.w.project_in1), dp1, dx, T(1), 1, 2 * h, C, P);
  }
  if (dw_dw1) depthwise::add_sums(dw_dw1, acc1.data(), static_cast<int64_t>(acc1.size()));
  if (dw_dw2) depthwise::add_sums(dw_dw2, acc2.data(), static_cast<int64_t>(acc2.size()));
  if (dw_dw3) depthwise::add_sums(dw_dw3, acc3.data(), static_cast<int64_t>(acc3.size()));
}

// Checks every shape against x and the hidden width h = fusion.size(0); the message names the weight.
Dims check(const Tensor& x, const DgdffnWeights& w) {
  LIEDNET_CHECK(x.defined() && x.ndim() == 4, kOp, ": x must be (N, C, H, W), got ",
                x.defined() ? x.str() : "undefined");
  check_cpu(kOp, x);
  const std::pair<const char*, const Tensor*> all[] = {
      {"project_in1", &w.project_in1}, {"project_in2", &w.project_in2}, {"dwconv1", &w.dwconv1},
      {"dwconv2", &w.dwconv2},         {"dwconv3", &w.dwconv3},         {"fusion", &w.fusion},
      {"project_out", &w.project_out}};
  for (auto [name, t] : all) {
    LIEDNET_CHECK(t->defined() && t->ndim() == 4, kOp, ": ", name, " must be a 4-D weight, got ",
                  t->defined() ? t->str() : "undefined");
    check_compatible(kOp, x, *t);
  }
  Dims d{x.size(0), x.size(1), x.size(2), x.size(3), w.fusion.size(0), w.dwconv1.size(2), w.dwconv2.size(2),
         w.dwconv3.size(2)};
  const int64_t C = d.c, h = d.hidden;
  auto expect = [&](const char* name, const Tensor& t, const Shape& want) {
    LIEDNET_CHECK(t.shape() == want, kOp, ": ", name, " must be ", want, " for x ", x.str(), " and hidden width ", h,
                  ", got ", t.str());
  };
  expect("fusion", w.fusion, {h, 2 * h, 1, 1});
  expect("project_in1", w.project_in1, {2 * h, C, 1, 1});
  expect("project_in2", w.project_in2, {h, C, 1, 1});
  expect("project_out", w.project_out, {C, h, 1, 1});
  for (auto [name, t, k] : {std::tuple{"dwconv1", &w.dwconv1, d.k1}, {"dwconv2", &w.dwconv2, d.k2},
                            {"dwconv3", &w.dwconv3, d.k3}}) {
    LIEDNET_CHECK(k % 2 == 1, kOp, ": ", name, " must have an odd square kernel, got ", t->str());
    expect(name, *t, {h, 1, k, k});
  }
  return d;
}

}  // namespace

Tensor dgdffn(const Tensor& x, const DgdffnWeights& w) {
  LIEDNET_PROFILE_OP(kOp);
  const Dims d = check(x, w);
  const int64_t pixels = d.n * d.p(), C = d.c, h = d.hidden;
  // As the composed convolutions count them (ops/flops.h): 1x1 and depthwise multiply-adds.
  FlopCounter::add(2 * pixels * (2 * h * C + h * C + h * 2 * h + C * h + h * (d.k1 * d.k1 + d.k2 * d.k2 + d.k3 * d.k3)));
  const std::vector<Tensor> inputs{x, w.project_in1, w.project_in2, w.dwconv1, w.dwconv2, w.dwconv3, w.fusion,
                                   w.project_out};
  const bool record = autograd::needs_grad(inputs);
  auto saved = std::make_shared<Saved>();
  Tensor out;
  LIEDNET_DISPATCH(x.dtype(), T, out = forward<T>(d, x, w, record ? saved.get() : nullptr));
  if (record) {
    for (Tensor* t : {&saved->w.project_in1, &saved->w.project_in2, &saved->w.dwconv1, &saved->w.dwconv2,
                      &saved->w.dwconv3, &saved->w.fusion, &saved->w.project_out})
      *t = t->detach();
    autograd::record(out, kOp, inputs, [d, saved](const Tensor& g, std::vector<Tensor>& gi) {
      LIEDNET_DISPATCH(g.dtype(), T, backward<T>(d, *saved, g, gi));
    });
  }
  return out;
}

}  // namespace liednet::ops
