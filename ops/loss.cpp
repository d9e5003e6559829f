#include "ops/loss.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "autograd/autograd.h"
#include "autograd/profiler.h"
#include "ops/check.h"
#include "ops/cuda/loss.h"
#include "ops/reduce.h"
#include "tensor/cuda.h"

namespace liednet::ops {

namespace {
constexpr int64_t kChunk = 1 << 14;

template <typename T>
int8_t sign_of(T v) {
  return static_cast<int8_t>((v > T(0)) - (v < T(0)));
}

// The same on the GPU: one pass computes the block sums and the signs, a
// second combines the blocks (see ops/cuda/sums.cuh).
Tensor cuda_l1_loss(const Tensor& pred, const Tensor& target) {
  const auto& k = cuda::loss_kernels();
  const int64_t n = pred.numel();
  Tensor out = Tensor::empty(Shape{}, DType::F32, Device::CUDA);
  const bool grad = autograd::needs_grad({&pred, &target});
  // (numel) int8 signs and (blocks) doubles of workspace, each held in an f32
  // tensor of enough elements (CUDA tensors are f32).
  Tensor sign = grad ? Tensor::empty({(n + 3) / 4}, DType::F32, Device::CUDA) : Tensor();
  Tensor partials = Tensor::empty({2 * cuda::sum_partial_count(n)}, DType::F32, Device::CUDA);
  cuda_kernel(k.l1_loss, "l1_loss")(out.data<float>(), grad ? static_cast<int8_t*>(sign.raw_data()) : nullptr,
                                    pred.data<float>(), target.data<float>(), n,
                                    static_cast<double*>(partials.raw_data()), cuda_stream());
  if (grad)
    autograd::record(out, "l1_loss", {pred, target}, [sign, n](const Tensor& g, std::vector<Tensor>& gi) {
      cuda_kernel(cuda::loss_kernels().l1_loss_backward, "l1_loss backward")(
          gi[0].defined() ? gi[0].data<float>() : nullptr, gi[1].defined() ? gi[1].data<float>() : nullptr,
          static_cast<const int8_t*>(sign.raw_data()), g.data<float>(), n, cuda_stream());
    });
  return out;
}
Tensor cuda_smooth_l1_loss(const Tensor& pred, const Tensor& target, double beta) {
  const auto& k = cuda::loss_kernels();
  const int64_t n = pred.numel();
  Tensor out = Tensor::empty(Shape{}, DType::F32, Device::CUDA);
  const bool grad = autograd::needs_grad({&pred, &target});
  Tensor deriv = grad ? Tensor::empty({n}, DType::F32, Device::CUDA) : Tensor();
  Tensor partials = Tensor::empty({2 * cuda::sum_partial_count(n)}, DType::F32, Device::CUDA);
  cuda_kernel(k.smooth_l1_loss, "smooth_l1_loss")(out.data<float>(), grad ? deriv.data<float>() : nullptr,
                                                  pred.data<float>(), target.data<float>(), n,
                                                  static_cast<float>(beta),
                                                  static_cast<double*>(partials.raw_data()), cuda_stream());
  if (grad)
    autograd::record(out, "smooth_l1_loss", {pred, target}, [deriv, n](const Tensor& g, std::vector<Tensor>& gi) {
      cuda_kernel(cuda::loss_kernels().smooth_l1_loss_backward, "smooth_l1_loss backward")(
          gi[0].defined() ? gi[0].data<float>() : nullptr, gi[1].defined() ? gi[1].data<float>() : nullptr,
          deriv.data<float>(), g.data<float>(), n, cuda_stream());
    });
  return out;
}
}  // namespace

Tensor l1_loss(const Tensor& pred, const Tensor& target) {
  LIEDNET_PROFILE_OP("l1_loss");
  check_same("l1_loss", pred, target);
  LIEDNET_CHECK(pred.numel() > 0, "l1_loss: empty inputs ", pred.str(), " and ", target.str());
  if (on_cuda("l1_loss", pred)) return cuda_l1_loss(pred, target);
  const int64_t n = pred.numel();
  Tensor out = Tensor::empty(Shape{}, pred.dtype(), pred.device());
  const bool grad = autograd::needs_grad({&pred, &target});
  // The sign of each difference is all the backward needs: one byte per
  // element, and pred and target stay free to be released or overwritten.
  std::shared_ptr<std::vector<int8_t>> sign;  // (numel)
  if (grad) sign = std::make_shared<std::vector<int8_t>>(n);
  LIEDNET_DISPATCH(pred.dtype(), T, {
    const T* p = pred.data<T>();
    const T* t = target.data<T>();
    // The difference is rounded in T, as torch does for f32, then summed in double.
    const double total = ordered_sum(n, [p, t](int64_t i) { return double(std::fabs(p[i] - t[i])); });
    out.data<T>()[0] = static_cast<T>(total / double(n));
    if (sign) {
      int8_t* s = sign->data();
      parallel_chunks(n, kChunk, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) s[i] = sign_of(p[i] - t[i]);
      });
    }
  });
  if (grad)
    autograd::record(out, "l1_loss", {pred, target}, [sign, n](const Tensor& g, std::vector<Tensor>& gi) {
      LIEDNET_DISPATCH(g.dtype(), T, {
        const T gv = static_cast<T>(double(g.data<T>()[0]) / double(n));
        const int8_t* s = sign->data();
        T* gp = gi[0].defined() ? gi[0].data<T>() : nullptr;
        T* gt = gi[1].defined() ? gi[1].data<T>() : nullptr;
        parallel_chunks(n, kChunk, [&](int64_t lo, int64_t hi) {
          for (int64_t i = lo; i < hi; ++i) {
            const T d = gv * T(s[i]);
            if (gp) gp[i] += d;
            if (gt) gt[i] -= d;
          }
        });
      });
    });
  return out;
}

}  // namespace liednet::ops

namespace liednet::ops {

Tensor smooth_l1_loss(const Tensor& pred, const Tensor& target, double beta) {
  LIEDNET_PROFILE_OP("smooth_l1_loss");
  check_same("smooth_l1_loss", pred, target);
  LIEDNET_CHECK(pred.numel() > 0, "smooth_l1_loss: empty inputs ", pred.str(), " and ", target.str());
  LIEDNET_CHECK(beta > 0 && std::isfinite(beta), "smooth_l1_loss: beta must be positive, got ", beta);
  if (on_cuda("smooth_l1_loss", pred)) return cuda_smooth_l1_loss(pred, target, beta);
  const int64_t n = pred.numel();
  Tensor out = Tensor::empty(Shape{}, pred.dtype(), pred.device());
  const bool grad = autograd::needs_grad({&pred, &target});
  // The backward needs each element's clamp(d / beta, -1, 1) only: kept in
  // the inputs' dtype, so pred and target stay free to be released.
  Tensor deriv = grad ? Tensor::empty({n}, pred.dtype()) : Tensor();
  LIEDNET_DISPATCH(pred.dtype(), T, {
    const T* p = pred.data<T>();
    const T* t = target.data<T>();
    const T b = static_cast<T>(beta);
    // The difference is rounded in T, as torch does for f32, then summed in double.
    const double total = ordered_sum(n, [p, t, b](int64_t i) {
      const T d = p[i] - t[i];
      const T a = std::fabs(d);
      return a < b ? 0.5 * double(d) * double(d) / double(b) : double(a) - 0.5 * double(b);
    });
    out.data<T>()[0] = static_cast<T>(total / double(n));
    if (grad) {
      T* dv = deriv.data<T>();
      parallel_chunks(n, kChunk, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) dv[i] = std::min(std::max((p[i] - t[i]) / b, T(-1)), T(1));
      });
    }
  });
  if (grad)
    autograd::record(out, "smooth_l1_loss", {pred, target}, [deriv, n](const Tensor& g, std::vector<Tensor>& gi) {
      LIEDNET_DISPATCH(g.dtype(), T, {
        const T gv = static_cast<T>(double(g.data<T>()[0]) / double(n));
        const T* dv = deriv.data<T>();
        T* gp = gi[0].defined() ? gi[0].data<T>() : nullptr;
        T* gt = gi[1].defined() ? gi[1].data<T>() : nullptr;
        parallel_chunks(n, kChunk, [&](int64_t lo, int64_t hi) {
          for (int64_t i = lo; i < hi; ++i) {
            const T d = gv * dv[i];
            if (gp) gp[i] += d;
            if (gt) gt[i] -= d;
          }
        });
      });
    });
  return out;
}

}  // namespace liednet::ops
