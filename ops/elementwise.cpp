#include "ops/elementwise.h"

#include <algorithm>

#include "autograd/autograd.h"
#include "autograd/profiler.h"
#include "ops/check.h"
#include "ops/cuda/elementwise.h"
#include "tensor/cuda.h"
#include "ops/isa.h"
#include "tensor/parallel.h"

namespace liednet::ops {

namespace {
constexpr int64_t kChunk = 1 << 14;

const cuda::ElementwiseKernels& kernels() { return cuda::elementwise_kernels(); }

// out[i] = f(a[i], b[i], c[i]) over n elements; out may alias an input.
template <typename T, typename F>
void map3(T* out, const T* a, const T* b, const T* c, int64_t n, F f) {
  isa::parallel_chunks_isa(n, kChunk, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) out[i] = f(a[i], b[i], c[i]);
  });
}

template <typename T, typename F>
void map2(T* out, const T* a, const T* b, int64_t n, F f) {
  isa::parallel_chunks_isa(n, kChunk, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) out[i] = f(a[i], b[i]);
  });
}

// (N, C, inner) view of x against a per-channel tensor of shape (C) or (N, C).
struct ChannelLayout {
  int64_t n, c, inner;
  bool per_sample;  // b is (N, C)
  int64_t index(int64_t sample, int64_t channel) const { return per_sample ? sample * c + channel : channel; }
};

ChannelLayout channel_layout(const char* op, const Tensor& x, const Tensor& b) {
  check_compatible(op, x, b);
  LIEDNET_CHECK(x.ndim() >= 2, op, ": x must be (N, C, ...), got ", x.str());
  ChannelLayout l{x.size(0), x.size(1), 1, false};
  for (int d = 2; d < x.ndim(); ++d) l.inner *= x.size(d);
  if (b.ndim() == 1 && b.size(0) == l.c) return l;
  if (b.ndim() == 2 && b.size(0) == l.n && b.size(1) == l.c) {
    l.per_sample = true;
    return l;
  }
  fail(op, ": per-channel tensor must be (", l.c, ") or (", l.n, ", ", l.c, "), got ", b.str(), " for x ",
       x.str());
}

// out[s, c, :] = f(x[s, c, :], b[s?, c]) for every plane.
template <typename T, typename F>
void map_channel(T* out, const T* x, const T* b, const ChannelLayout& l, F f) {
  isa::parallel_for_isa(0, l.n * l.c, 1, [&](int64_t plane) {
    const T bv = b[l.index(plane / l.c, plane % l.c)];
    const T* xp = x + plane * l.inner;
    T* op = out + plane * l.inner;
    for (int64_t i = 0; i < l.inner; ++i) op[i] = f(xp[i], bv);
  });
}

// gb[s?, c] += sum over the plane of w(x[plane], g[plane]); serial over the
// samples that share a channel entry so the sum order is fixed.
template <typename T, typename F>
void reduce_channel(T* gb, const T* x, const T* g, const ChannelLayout& l, F w) {
  isa::parallel_for_isa(0, l.c, 1, [&](int64_t c) {
    for (int64_t s = 0; s < l.n; ++s) {
      const int64_t plane = s * l.c + c;
      const T* xp = x ? x + plane * l.inner : nullptr;
      const T* gp = g + plane * l.inner;
      T acc = 0;
      for (int64_t i = 0; i < l.inner; ++i) acc += w(xp ? xp[i] : T(0), gp[i]);
      gb[l.index(s, c)] += acc;
    }
  });
}

Tensor binary(const char* op, const Tensor& a, const Tensor& b) {
  check_same(op, a, b);
  return Tensor::empty(a.shape(), a.dtype(), a.device());
}
}  // namespace

void add_into(Tensor& dst, const Tensor& src, double alpha) {
  check_same("add_into", dst, src);
  if (on_cuda("add_into", dst)) {
    cuda_kernel(kernels().add_into, "add_into")(dst.data<float>(), src.data<float>(), static_cast<float>(alpha),
                                                dst.numel(), cuda_stream());
    return;
  }
  LIEDNET_DISPATCH(dst.dtype(), T, {
    T* d = dst.data<T>();
    const T* s = src.data<T>();
    const T a = static_cast<T>(alpha);
    map2<T>(d, d, s, dst.numel(), [a](T x, T y) { return x + a * y; });
  });
}

Tensor add(const Tensor& a, const Tensor& b) {
  LIEDNET_PROFILE_OP("add");
  Tensor out = binary("add", a, b);
  if (on_cuda("add", a))
    cuda_kernel(kernels().add, "add")(out.data<float>(), a.data<float>(), b.data<float>(), a.numel(), cuda_stream());
  else
    LIEDNET_DISPATCH(a.dtype(), T,
                     map2<T>(out.data<T>(), a.data<T>(), b.data<T>(), a.numel(), [](T x, T y) { return x + y; }));
  if (autograd::needs_grad({&a, &b}))
    autograd::record(out, "add", {a, b}, [](const Tensor& g, std::vector<Tensor>& gi) {
      if (gi[0].defined()) add_into(gi[0], g);
      if (gi[1].defined()) add_into(gi[1], g);
    });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  LIEDNET_PROFILE_OP("sub");
  Tensor out = binary("sub", a, b);
  if (on_cuda("sub", a))
    cuda_kernel(kernels().sub, "sub")(out.data<float>(), a.data<float>(), b.data<float>(), a.numel(), cuda_stream());
  else
    LIEDNET_DISPATCH(a.dtype(), T,
                     map2<T>(out.data<T>(), a.data<T>(), b.data<T>(), a.numel(), [](T x, T y) { return x - y; }));
  if (autograd::needs_grad({&a, &b}))
    autograd::record(out, "sub", {a, b}, [](const Tensor& g, std::vector<Tensor>& gi) {
      if (gi[0].defined()) add_into(gi[0], g);
      if (gi[1].defined()) add_into(gi[1], g, -1.0);
    });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  LIEDNET_PROFILE_OP("mul");
  Tensor out = binary("mul", a, b);
  if (on_cuda("mul", a))
    cuda_kernel(kernels().mul, "mul")(out.data<float>(), a.data<float>(), b.data<float>(), a.numel(), cuda_stream());
  else
    LIEDNET_DISPATCH(a.dtype(), T,
                     map2<T>(out.data<T>(), a.data<T>(), b.data<T>(), a.numel(), [](T x, T y) { return x * y; }));
  if (autograd::needs_grad({&a, &b})) {
    // Each input's gradient needs the other input, and only then is it saved.
    Tensor saved_a = b.requires_grad() ? a.detach() : Tensor();
    Tensor saved_b = a.requires_grad() ? b.detach() : Tensor();
    autograd::record(out, "mul", {a, b}, [saved_a, saved_b](const Tensor& g, std::vector<Tensor>& gi) {
      const int64_t n = g.numel();
      if (on_cuda("mul backward", g)) {
        auto add_product = cuda_kernel(kernels().add_product, "mul backward");
        if (gi[0].defined()) add_product(gi[0].data<float>(), g.data<float>(), saved_b.data<float>(), n, cuda_stream());
        if (gi[1].defined()) add_product(gi[1].data<float>(), g.data<float>(), saved_a.data<float>(), n, cuda_stream());
        return;
      }
      LIEDNET_DISPATCH(g.dtype(), T, {
        auto fma = [](T acc, T gv, T other) { return acc + gv * other; };
        if (gi[0].defined()) map3<T>(gi[0].data<T>(), gi[0].data<T>(), g.data<T>(), saved_b.data<T>(), n, fma);
        if (gi[1].defined()) map3<T>(gi[1].data<T>(), gi[1].data<T>(), g.data<T>(), saved_a.data<T>(), n, fma);
      });
    });
  }
  return out;
}

Tensor scale(const Tensor& x, double s) {
  LIEDNET_PROFILE_OP("scale");
  LIEDNET_CHECK(x.defined(), "scale: undefined input");
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (on_cuda("scale", x))
    cuda_kernel(kernels().scale, "scale")(out.data<float>(), x.data<float>(), static_cast<float>(s), x.numel(),
                                          cuda_stream());
  else
    LIEDNET_DISPATCH(x.dtype(), T, {
      const T sv = static_cast<T>(s);
      map2<T>(out.data<T>(), x.data<T>(), x.data<T>(), x.numel(), [sv](T v, T) { return v * sv; });
    });
  if (autograd::needs_grad({&x}))
    autograd::record(out, "scale", {x}, [s](const Tensor& g, std::vector<Tensor>& gi) { add_into(gi[0], g, s); });
  return out;
}

Tensor add_scalar(const Tensor& x, double s) {
  LIEDNET_PROFILE_OP("add_scalar");
  LIEDNET_CHECK(x.defined(), "add_scalar: undefined input");
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (on_cuda("add_scalar", x))
    cuda_kernel(kernels().add_scalar, "add_scalar")(out.data<float>(), x.data<float>(), static_cast<float>(s),
                                                    x.numel(), cuda_stream());
  else
    LIEDNET_DISPATCH(x.dtype(), T, {
      const T sv = static_cast<T>(s);
      map2<T>(out.data<T>(), x.data<T>(), x.data<T>(), x.numel(), [sv](T v, T) { return v + sv; });
    });
  if (autograd::needs_grad({&x}))
    autograd::record(out, "add_scalar", {x}, [](const Tensor& g, std::vector<Tensor>& gi) { add_into(gi[0], g); });
  return out;
}

namespace {
// gb += the channel reduction of g (x undefined) or of x * g, on the GPU.
void cuda_channel_grad(const char* op, Tensor& gb, const Tensor& x, const Tensor& g, const ChannelLayout& l) {
  Tensor plane_sums = Tensor::empty({l.n * l.c}, DType::F32, Device::CUDA);  // (N * C) workspace
  cuda_kernel(kernels().channel_grad, op)(gb.data<float>(), x.defined() ? x.data<float>() : nullptr, g.data<float>(),
                                          l.n, l.c, l.inner, l.per_sample, plane_sums.data<float>(), cuda_stream());
}
}  // namespace

Tensor add_channel(const Tensor& x, const Tensor& b) {
  LIEDNET_PROFILE_OP("add_channel");
  const ChannelLayout l = channel_layout("add_channel", x, b);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (on_cuda("add_channel", x))
    cuda_kernel(kernels().add_channel, "add_channel")(out.data<float>(), x.data<float>(), b.data<float>(), l.n, l.c,
                                                      l.inner, l.per_sample, cuda_stream());
  else
    LIEDNET_DISPATCH(x.dtype(), T,
                     map_channel<T>(out.data<T>(), x.data<T>(), b.data<T>(), l, [](T v, T bv) { return v + bv; }));
  if (autograd::needs_grad({&x, &b}))
    autograd::record(out, "add_channel", {x, b}, [l](const Tensor& g, std::vector<Tensor>& gi) {
      if (gi[0].defined()) add_into(gi[0], g);
      if (!gi[1].defined()) return;
      if (on_cuda("add_channel backward", g))
        cuda_channel_grad("add_channel backward", gi[1], Tensor(), g, l);
      else
        LIEDNET_DISPATCH(g.dtype(), T,
                         reduce_channel<T>(gi[1].data<T>(), nullptr, g.data<T>(), l, [](T, T gv) { return gv; }));
    });
  return out;
}

Tensor mul_channel(const Tensor& x, const Tensor& b) {
  LIEDNET_PROFILE_OP("mul_channel");
  const ChannelLayout l = channel_layout("mul_channel", x, b);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (on_cuda("mul_channel", x))
    cuda_kernel(kernels().mul_channel, "mul_channel")(out.data<float>(), x.data<float>(), b.data<float>(), l.n, l.c,
                                                      l.inner, l.per_sample, cuda_stream());
  else
    LIEDNET_DISPATCH(x.dtype(), T,
                     map_channel<T>(out.data<T>(), x.data<T>(), b.data<T>(), l, [](T v, T bv) { return v * bv; }));
  if (autograd::needs_grad({&x, &b})) {
    Tensor saved_x = b.requires_grad() ? x.detach() : Tensor();
    Tensor saved_b = b.detach();
    autograd::record(out, "mul_channel", {x, b}, [l, saved_x, saved_b](const Tensor& g, std::vector<Tensor>& gi) {
      if (on_cuda("mul_channel backward", g)) {
        if (gi[0].defined())
          cuda_kernel(kernels().add_mul_channel, "mul_channel backward")(gi[0].data<float>(), g.data<float>(),
                                                                         saved_b.data<float>(), l.n, l.c, l.inner,
                                                                         l.per_sample, cuda_stream());
        if (gi[1].defined()) cuda_channel_grad("mul_channel backward", gi[1], saved_x, g, l);
        return;
      }
      LIEDNET_DISPATCH(g.dtype(), T, {
        if (gi[0].defined()) {
          T* gx = gi[0].data<T>();
          const T* gp = g.data<T>();
          const T* bp = saved_b.data<T>();
          isa::parallel_for_isa(0, l.n * l.c, 1, [&](int64_t plane) {
            const T bv = bp[l.index(plane / l.c, plane % l.c)];
            for (int64_t i = plane * l.inner, e = i + l.inner; i < e; ++i) gx[i] += gp[i] * bv;
          });
        }
        if (gi[1].defined())
          reduce_channel<T>(gi[1].data<T>(), saved_x.data<T>(), g.data<T>(), l, [](T xv, T gv) { return xv * gv; });
      });
    });
  }
  return out;
}

}  // namespace liednet::ops
