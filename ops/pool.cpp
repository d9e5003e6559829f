#include "ops/pool.h"

#include <cmath>
#include <memory>
#include <vector>

#include "autograd/autograd.h"
#include "autograd/profiler.h"
#include "ops/check.h"
#include "ops/cuda/pool.h"
#include "tensor/parallel.h"
#include "tensor/storage.h"

namespace liednet::ops {

namespace {
struct PoolLayout {
  int64_t planes, h, w, ho, wo;
};

// Window (i, j) of plane `plane`: out = its maximum, winner = its position
// dy * 2 + dx, 0..3 (null when no backward needs it).
template <typename T>
void max_pool2x2_forward(T* out, uint8_t* winner, const T* x, const PoolLayout& l) {
  parallel_for(0, l.planes, 1, [&](int64_t plane) {
    const T* xp = x + plane * l.h * l.w;
    for (int64_t i = 0; i < l.ho; ++i)
      for (int64_t j = 0; j < l.wo; ++j) {
        const T* top = xp + 2 * i * l.w + 2 * j;
        const T cand[4] = {top[0], top[1], top[l.w], top[l.w + 1]};
        int best = 0;
        // Strict > keeps the first of equal values; once a NaN is held nothing replaces it.
        for (int k = 1; k < 4; ++k)
          if (cand[k] > cand[best] || (std::isnan(cand[k]) && !std::isnan(cand[best]))) best = k;
        const int64_t o = (plane * l.ho + i) * l.wo + j;
        out[o] = cand[best];
        if (winner) winner[o] = static_cast<uint8_t>(best);
      }
  });
}

template <typename T>
void max_pool2x2_backward(T* gx, const T* g, const uint8_t* winner, const PoolLayout& l) {
  // Windows do not overlap, so planes (and windows) write disjoint elements.
  parallel_for(0, l.planes, 1, [&](int64_t plane) {
    T* gp = gx + plane * l.h * l.w;
    for (int64_t i = 0; i < l.ho; ++i)
      for (int64_t j = 0; j < l.wo; ++j) {
        const int64_t o = (plane * l.ho + i) * l.wo + j;
        const int k = winner[o];
        gp[(2 * i + k / 2) * l.w + 2 * j + k % 2] += g[o];
      }
  });
}
// The winners live on the GPU as raw bytes (CUDA tensors are f32 only).
Tensor max_pool2x2_cuda(const Tensor& x, const PoolLayout& l) {
  Tensor out = Tensor::empty({x.size(0), x.size(1), l.ho, l.wo}, x.dtype(), x.device());
  std::shared_ptr<Storage> winner;  // (N, C, H/2, W/2) bytes
  if (autograd::needs_grad({&x})) winner = Storage::allocate(static_cast<size_t>(out.numel()), Device::CUDA);
  uint8_t* w = winner ? static_cast<uint8_t*>(winner->data()) : nullptr;
  cuda_kernel(cuda::pool_kernels().max_pool2x2_forward, "max_pool2x2")(out.data<float>(), w, x.data<float>(),
                                                                         l.planes, l.h, l.w);
  if (winner)
    autograd::record(out, "max_pool2x2", {x}, [winner, l](const Tensor& g, std::vector<Tensor>& gi) {
      cuda_kernel(cuda::pool_kernels().max_pool2x2_backward, "max_pool2x2")(
          gi[0].data<float>(), g.data<float>(), static_cast<const uint8_t*>(winner->data()), l.planes, l.h, l.w);
    });
  return out;
}
}  // namespace

Tensor max_pool2x2(const Tensor& x) {
  LIEDNET_PROFILE_OP("max_pool2x2");
  check_ndim("max_pool2x2", x, 4, "x");
  const bool cuda = on_cuda("max_pool2x2", x);
  LIEDNET_CHECK(x.size(2) >= 2 && x.size(3) >= 2, "max_pool2x2: H and W must be at least 2, got ", x.str());
  const PoolLayout l{x.size(0) * x.size(1), x.size(2), x.size(3), x.size(2) / 2, x.size(3) / 2};
  if (cuda) return max_pool2x2_cuda(x, l);
  Tensor out = Tensor::empty({x.size(0), x.size(1), l.ho, l.wo}, x.dtype(), x.device());
  const bool grad = autograd::needs_grad({&x});
  // One byte per output instead of the input: all the backward needs.
  std::shared_ptr<std::vector<uint8_t>> winner;
  if (grad) winner = std::make_shared<std::vector<uint8_t>>(out.numel());  // (N, C, H/2, W/2)
  LIEDNET_DISPATCH(x.dtype(), T,
                   max_pool2x2_forward<T>(out.data<T>(), winner ? winner->data() : nullptr, x.data<T>(), l));
  if (grad)
    autograd::record(out, "max_pool2x2", {x}, [winner, l](const Tensor& g, std::vector<Tensor>& gi) {
      LIEDNET_DISPATCH(g.dtype(), T, max_pool2x2_backward<T>(gi[0].data<T>(), g.data<T>(), winner->data(), l));
    });
  return out;
}

}  // namespace liednet::ops
