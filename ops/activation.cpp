#include "ops/activation.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>

#include "autograd/autograd.h"
#include "autograd/profiler.h"
#include "ops/check.h"
#include "ops/cuda/activation.h"
#include "tensor/cuda.h"
#include "ops/isa.h"
#include "tensor/parallel.h"

namespace liednet::ops {

namespace {
constexpr int64_t kChunk = 1 << 14;

// exp is only ever taken of a non-positive number, so neither sign of a large
// |x| can overflow (exp(89) is already inf in float).
template <typename T>
T stable_sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

// torch switches to the identity above this, where log1p(exp(x)) - x < 3e-9.
constexpr double kSoftplusThreshold = 20.0;

template <typename T>
T softplus_value(T x) {
  return x > T(kSoftplusThreshold) ? x : std::log1p(std::exp(x));
}

// out[i] = f(x[i]) over n elements.
template <typename T, typename F>
void map1(T* out, const T* x, int64_t n, F f) {
  isa::parallel_chunks_isa(n, kChunk, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) out[i] = f(x[i]);
  });
}

// gx[i] += g[i] * df(s[i]), where s is whatever the op saved (its input or its output).
template <typename T, typename F>
void accumulate_grad(T* gx, const T* g, const T* s, int64_t n, F df) {
  isa::parallel_chunks_isa(n, kChunk, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) gx[i] += g[i] * df(s[i]);
  });
}

// Input/Output: the op keeps that tensor for its backward. Positive: the
// derivative depends only on whether the output is > 0 (ReLU), so on the CPU
// the op keeps one bit per element instead of the output (32x less; the same
// 1 or 0 multiplies the gradient). On the GPU it keeps the output.
enum class Saved { Input, Output, Positive };

// Bit i % 64 of word i / 64 is y[i] > 0, over n elements.
template <typename T>
void positive_bits(uint64_t* bits, const T* y, int64_t n) {
  const int64_t words = (n + 63) / 64;
  isa::parallel_chunks_isa(words, kChunk / 64, [&](int64_t lo, int64_t hi) {
    for (int64_t w = lo; w < hi; ++w) {
      const int64_t base = w * 64, m = std::min<int64_t>(64, n - base);
      uint64_t b = 0;
      for (int64_t j = 0; j < m; ++j) b |= static_cast<uint64_t>(y[base + j] > T(0)) << j;
      bits[w] = b;
    }
  });
}

// gx[i] += g[i] * (bit i ? 1 : 0), as accumulate_grad with ReLU's derivative of the output.
template <typename T>
void accumulate_grad_positive(T* gx, const T* g, const uint64_t* bits, int64_t n) {
  const int64_t words = (n + 63) / 64;
  isa::parallel_chunks_isa(words, kChunk / 64, [&](int64_t lo, int64_t hi) {
    for (int64_t w = lo; w < hi; ++w) {
      const int64_t base = w * 64, m = std::min<int64_t>(64, n - base);
      const uint64_t b = bits[w];
      for (int64_t j = 0; j < m; ++j) gx[base + j] += g[base + j] * (((b >> j) & 1) ? T(1) : T(0));
    }
  });
}

// A pointwise op y = f(x) whose derivative is df(x) (Saved::Input) or, for ops
// whose derivative is cheaper from the output, df(y) (Saved::Output).
// Fwd and Df are generic lambdas called with float or double; on the GPU the
// same functions are kernel `act` (which saves the same tensor).
template <typename Fwd, typename Df>
Tensor pointwise(const char* op, const Tensor& x, Saved saved, cuda::Activation act, Fwd f, Df df) {
  LIEDNET_PROFILE_OP(op);
  LIEDNET_CHECK(x.defined(), op, ": undefined input");
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (on_cuda(op, x))
    cuda_kernel(cuda::activation_kernels().activation_forward, op)(act, out.data<float>(), x.data<float>(), x.numel(),
                                                                   cuda_stream());
  else
    LIEDNET_DISPATCH(x.dtype(), T, map1<T>(out.data<T>(), x.data<T>(), x.numel(), [&](T v) { return f(v); }));
  if (autograd::needs_grad({&x})) {
    if (saved == Saved::Positive && x.device() == Device::CPU) {
      const int64_t n = x.numel();
      std::shared_ptr<Storage> bits = Storage::allocate(static_cast<size_t>((n + 63) / 64) * sizeof(uint64_t), Device::CPU);
      auto* b = static_cast<uint64_t*>(bits->data());
      LIEDNET_DISPATCH(x.dtype(), T, positive_bits<T>(b, out.data<T>(), n));
      autograd::record(out, op, {x}, [bits, n](const Tensor& g, std::vector<Tensor>& gi) {
        LIEDNET_DISPATCH(g.dtype(), T,
                         accumulate_grad_positive<T>(gi[0].data<T>(), g.data<T>(),
                                                     static_cast<const uint64_t*>(bits->data()), n));
      });
      return out;
    }
    Tensor s = saved == Saved::Input ? x.detach() : out.detach();
    autograd::record(out, op, {x}, [s, df, op, act](const Tensor& g, std::vector<Tensor>& gi) {
      if (on_cuda(op, g)) {
        cuda_kernel(cuda::activation_kernels().activation_backward, op)(act, gi[0].data<float>(), g.data<float>(),
                                                                        s.data<float>(), g.numel(), cuda_stream());
        return;
      }
      LIEDNET_DISPATCH(g.dtype(), T,
                       accumulate_grad<T>(gi[0].data<T>(), g.data<T>(), s.data<T>(), g.numel(),
                                          [&](T v) { return df(v); }));
    });
  }
  return out;
}
}  // namespace

Tensor relu(const Tensor& x) {
  // !(v <= 0) rather than v > 0 so that NaN passes through, as in torch.
  return pointwise(
      "relu", x, Saved::Positive, cuda::Activation::Relu, [](auto v) { return !(v <= 0) ? v : decltype(v)(0); },
      [](auto y) { return y > 0 ? decltype(y)(1) : decltype(y)(0); });
}

Tensor sigmoid(const Tensor& x) {
  return pointwise(
      "sigmoid", x, Saved::Output, cuda::Activation::Sigmoid, [](auto v) { return stable_sigmoid(v); },
      [](auto y) { return y * (decltype(y)(1) - y); });
}

Tensor silu(const Tensor& x) {
  return pointwise(
      "silu", x, Saved::Input, cuda::Activation::Silu, [](auto v) { return v * stable_sigmoid(v); },
      [](auto v) {
        const auto s = stable_sigmoid(v);
        return s * (decltype(v)(1) + v * (decltype(v)(1) - s));
      });
}

Tensor gelu(const Tensor& x) {
  return pointwise(
      "gelu", x, Saved::Input, cuda::Activation::Gelu, [](auto v) { return detail::gelu_value(v); },
      [](auto v) { return detail::gelu_derivative(v); });
}

Tensor softplus(const Tensor& x) {
  return pointwise(
      "softplus", x, Saved::Input, cuda::Activation::Softplus, [](auto v) { return softplus_value(v); },
      [](auto v) { return v > decltype(v)(kSoftplusThreshold) ? decltype(v)(1) : stable_sigmoid(v); });
}

Tensor exp(const Tensor& x) {
  return pointwise(
      "exp", x, Saved::Output, cuda::Activation::Exp, [](auto v) { return std::exp(v); }, [](auto y) { return y; });
}

}  // namespace liednet::ops
