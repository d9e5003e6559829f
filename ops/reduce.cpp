#include "ops/reduce.h"

#include "autograd/autograd.h"
#include "autograd/profiler.h"
#include "ops/check.h"
#include "ops/cuda/reduce.h"
#include "tensor/cuda.h"

namespace liednet::ops {

namespace {
constexpr int64_t kChunk = 1 << 14;

static_assert(cuda::kSumBlockElements == kOrderedSumBlock, "CUDA and CPU sums should split at the same blocks");

// Device workspace for the CUDA sums: one double per block of the first pass,
// held in an f32 tensor (CUDA tensors are f32) of twice as many elements.
Tensor cuda_sum_partials(int64_t n) {
  return Tensor::empty({2 * cuda::sum_partial_count(n)}, DType::F32, Device::CUDA);
}

// Sum of all elements of x times `factor`, as a shape () tensor of x's dtype.
Tensor scaled_total(const char* op, const Tensor& x, double factor) {
  LIEDNET_PROFILE_OP(op);
  Tensor out = Tensor::empty(Shape{}, x.dtype(), x.device());
  if (on_cuda(op, x)) {
    Tensor partials = cuda_sum_partials(x.numel());
    cuda_kernel(cuda::reduce_kernels().sum, op)(out.data<float>(), x.data<float>(), x.numel(), factor,
                                                     static_cast<double*>(partials.raw_data()), cuda_stream());
  } else {
    LIEDNET_DISPATCH(x.dtype(), T, {
      const T* p = x.data<T>();
      out.data<T>()[0] = static_cast<T>(ordered_sum(x.numel(), [p](int64_t i) { return double(p[i]); }) * factor);
    });
  }
  if (autograd::needs_grad({&x}))
    autograd::record(out, op, {x}, [op, factor](const Tensor& g, std::vector<Tensor>& gi) {
      if (on_cuda(op, g)) {
        cuda_kernel(cuda::reduce_kernels().add_scaled_scalar, op)(gi[0].data<float>(), g.data<float>(), factor,
                                                                       gi[0].numel(), cuda_stream());
        return;
      }
      LIEDNET_DISPATCH(g.dtype(), T, {
        const T gv = static_cast<T>(double(g.data<T>()[0]) * factor);
        T* gx = gi[0].data<T>();
        parallel_chunks(gi[0].numel(), kChunk, [&](int64_t lo, int64_t hi) {
          for (int64_t i = lo; i < hi; ++i) gx[i] += gv;
        });
      });
    });
  return out;
}
}  // namespace

Tensor sum(const Tensor& x) {
  LIEDNET_CHECK(x.defined(), "sum: undefined input");
  return scaled_total("sum", x, 1.0);
}

Tensor mean(const Tensor& x) {
  LIEDNET_CHECK(x.defined(), "mean: undefined input");
  LIEDNET_CHECK(x.numel() > 0, "mean: empty input ", x.str());
  return scaled_total("mean", x, 1.0 / double(x.numel()));
}

Tensor mean_hw(const Tensor& x) {
  LIEDNET_PROFILE_OP("mean_hw");
  check_ndim("mean_hw", x, 4, "x");
  const int64_t planes = x.size(0) * x.size(1), hw = x.size(2) * x.size(3);
  LIEDNET_CHECK(hw > 0, "mean_hw: empty planes in ", x.str());
  Tensor out = Tensor::empty({x.size(0), x.size(1)}, x.dtype(), x.device());  // (N, C)
  if (on_cuda("mean_hw", x)) {
    cuda_kernel(cuda::reduce_kernels().mean_hw, "mean_hw")(out.data<float>(), x.data<float>(), planes, hw,
                                                                cuda_stream());
  } else {
    // Planes run in parallel; a lone large plane parallelises inside ordered_sum
    // instead (nested calls run serially), and either way the order is the same.
    LIEDNET_DISPATCH(x.dtype(), T, {
      const T* p = x.data<T>();
      T* o = out.data<T>();
      parallel_for(0, planes, 1, [&](int64_t plane) {
        const T* xp = p + plane * hw;
        o[plane] = static_cast<T>(ordered_sum(hw, [xp](int64_t i) { return double(xp[i]); }) / double(hw));
      });
    });
  }
  if (autograd::needs_grad({&x}))
    autograd::record(out, "mean_hw", {x}, [planes, hw](const Tensor& g, std::vector<Tensor>& gi) {
      if (on_cuda("mean_hw backward", g)) {
        cuda_kernel(cuda::reduce_kernels().mean_hw_backward, "mean_hw backward")(
            gi[0].data<float>(), g.data<float>(), planes, hw, cuda_stream());
        return;
      }
      LIEDNET_DISPATCH(g.dtype(), T, {
        const T* gp = g.data<T>();  // (N, C)
        T* gx = gi[0].data<T>();    // (N, C, H, W)
        parallel_for(0, planes, 1, [&](int64_t plane) {
          const T gv = static_cast<T>(double(gp[plane]) / double(hw));
          for (int64_t i = plane * hw, e = i + hw; i < e; ++i) gx[i] += gv;
        });
      });
    });
  return out;
}

}  // namespace liednet::ops
