#include "ops/shuffle.h"

#include <type_traits>

#include "autograd/autograd.h"
#include "autograd/profiler.h"
#include "ops/check.h"
#include "ops/cuda/shuffle.h"
#include "tensor/parallel.h"

namespace liednet::ops {

namespace {
// The two layouts of the same values: big (N, C, H*r, W*r), small (N, C*r*r, H, W).
struct Geometry {
  int64_t n, c, h, w, r;
};

// Moves values between the layouts, one row of big per iteration: kToBig
// copies small into big, otherwise big into small; kAdd adds instead of
// writing (backward). Each destination element is touched by one row only,
// so the rows are independent.
template <typename T, bool kToBig, bool kAdd>
void shuffle_move(std::conditional_t<kToBig, T*, const T*> big, std::conditional_t<kToBig, const T*, T*> small,
                  const Geometry& s) {
  const int64_t r = s.r, wide = s.w * r, rows = s.n * s.c * s.h * r;
  const int64_t channel_stride = s.h * s.w;
  parallel_for(0, rows, 16, [&](int64_t row) {
    const int64_t y = row % (s.h * r), plane = row / (s.h * r);  // plane = n * C + c
    const int64_t h = y / r, i = y % r;
    const int64_t b = row * wide;                                       // big (n, c, y, 0)
    const int64_t sm = ((plane * r * r + i * r) * s.h + h) * s.w;       // small (n, c*r*r + i*r, h, 0)
    for (int64_t w = 0; w < s.w; ++w)
      for (int64_t j = 0; j < r; ++j) {
        const int64_t bi = b + w * r + j, si = sm + j * channel_stride + w;
        if constexpr (kToBig) {
          if constexpr (kAdd) big[bi] += small[si];
          else big[bi] = small[si];
        } else {
          if constexpr (kAdd) small[si] += big[bi];
          else small[si] = big[bi];
        }
      }
  });
}

void check_factor(const char* op, const Tensor& x, int64_t r) {
  LIEDNET_CHECK(x.defined(), op, ": x is undefined");
  LIEDNET_CHECK(x.ndim() == 4, op, ": x must be (N, C, H, W), got ", x.str());
  LIEDNET_CHECK(r >= 1, op, ": factor must be >= 1, got ", r, " for x ", x.str());
}
}  // namespace

Tensor pixel_shuffle(const Tensor& x, int64_t r) {
  LIEDNET_PROFILE_OP("pixel_shuffle");
  check_factor("pixel_shuffle", x, r);
  LIEDNET_CHECK(x.size(1) % (r * r) == 0, "pixel_shuffle: channels of x ", x.str(),
                " are not a multiple of r*r = ", r * r);
  const bool cuda = on_cuda("pixel_shuffle", x);
  const Geometry s{x.size(0), x.size(1) / (r * r), x.size(2), x.size(3), r};
  Tensor out = Tensor::empty({s.n, s.c, s.h * r, s.w * r}, x.dtype(), x.device());
  if (cuda)
    cuda_kernel(cuda::shuffle_kernels().shuffle_to_big, "pixel_shuffle")(out.data<float>(), x.data<float>(), s.n, s.c,
                                                                         s.h, s.w, s.r, false);
  else
    LIEDNET_DISPATCH(x.dtype(), T,
                     (shuffle_move<T, true, false>(out.data<T>(), x.data<T>(), s)));
  if (autograd::needs_grad({&x}))
    autograd::record(out, "pixel_shuffle", {x}, [s](const Tensor& g, std::vector<Tensor>& gi) {
      if (on_cuda("pixel_shuffle backward", g))
        cuda_kernel(cuda::shuffle_kernels().shuffle_to_small, "pixel_shuffle")(gi[0].data<float>(), g.data<float>(),
                                                                               s.n, s.c, s.h, s.w, s.r, true);
      else
        LIEDNET_DISPATCH(g.dtype(), T,
                         (shuffle_move<T, false, true>(g.data<T>(), gi[0].data<T>(), s)));
    });
  return out;
}

Tensor pixel_unshuffle(const Tensor& x, int64_t r) {
  LIEDNET_PROFILE_OP("pixel_unshuffle");
  check_factor("pixel_unshuffle", x, r);
  LIEDNET_CHECK(x.size(2) % r == 0 && x.size(3) % r == 0, "pixel_unshuffle: height and width of x ", x.str(),
                " are not multiples of r = ", r);
  const bool cuda = on_cuda("pixel_unshuffle", x);
  const Geometry s{x.size(0), x.size(1), x.size(2) / r, x.size(3) / r, r};
  Tensor out = Tensor::empty({s.n, s.c * r * r, s.h, s.w}, x.dtype(), x.device());
  if (cuda)
    cuda_kernel(cuda::shuffle_kernels().shuffle_to_small, "pixel_unshuffle")(out.data<float>(), x.data<float>(), s.n,
                                                                             s.c, s.h, s.w, s.r, false);
  else
    LIEDNET_DISPATCH(x.dtype(), T,
                     (shuffle_move<T, false, false>(x.data<T>(), out.data<T>(), s)));
  if (autograd::needs_grad({&x}))
    autograd::record(out, "pixel_unshuffle", {x}, [s](const Tensor& g, std::vector<Tensor>& gi) {
      if (on_cuda("pixel_unshuffle backward", g))
        cuda_kernel(cuda::shuffle_kernels().shuffle_to_big, "pixel_unshuffle")(gi[0].data<float>(), g.data<float>(),
                                                                               s.n, s.c, s.h, s.w, s.r, true);
      else
        LIEDNET_DISPATCH(g.dtype(), T,
                         (shuffle_move<T, true, true>(gi[0].data<T>(), g.data<T>(), s)));
    });
  return out;
}

}  // namespace liednet::ops
