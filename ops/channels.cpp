#include "ops/channels.h"

#include <algorithm>
#include <sstream>

#include "autograd/autograd.h"
#include "autograd/profiler.h"
#include "ops/check.h"
#include "ops/cuda/channels.h"
#include "tensor/parallel.h"

namespace liednet::ops {

namespace {
int64_t inner_size(const Tensor& x) {
  int64_t inner = 1;
  for (int d = 2; d < x.ndim(); ++d) inner *= x.size(d);
  return inner;
}

// dst[n, dst_c0 + k, :] (+)= src[n, src_c0 + k, :] for k < count: the one
// kernel behind concat, slice and their backwards. Planes are independent.
template <typename T, bool kAdd>
void copy_planes(T* dst, int64_t dst_c, int64_t dst_c0, const T* src, int64_t src_c, int64_t src_c0, int64_t n,
                 int64_t count, int64_t inner) {
  parallel_for(0, n * count, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)), [&](int64_t plane) {
    const int64_t s = plane / count, k = plane % count;
    T* d = dst + (s * dst_c + dst_c0 + k) * inner;
    const T* p = src + (s * src_c + src_c0 + k) * inner;
    for (int64_t i = 0; i < inner; ++i) {
      if constexpr (kAdd)
        d[i] += p[i];
      else
        d[i] = p[i];
    }
  });
}

// copy_planes for any dtype and device.
template <bool kAdd>
void copy_planes_on(Tensor& dst, int64_t dst_c, int64_t dst_c0, const Tensor& src, int64_t src_c, int64_t src_c0,
                    int64_t n, int64_t count, int64_t inner, const char* op) {
  if (on_cuda(op, src))
    cuda_kernel(cuda::channels_kernels().copy_planes, op)(dst.data<float>(), dst_c, dst_c0, src.data<float>(), src_c,
                                                         src_c0, n, count, inner, kAdd);
  else
    LIEDNET_DISPATCH(src.dtype(), T,
                     (copy_planes<T, kAdd>(dst.data<T>(), dst_c, dst_c0, src.data<T>(), src_c, src_c0, n, count,
                                           inner)));
}

std::string shapes_of(const std::vector<Tensor>& xs) {
  std::ostringstream s;
  for (size_t i = 0; i < xs.size(); ++i) s << (i ? ", " : "") << (xs[i].defined() ? xs[i].str() : "undefined");
  return s.str();
}

void check_channels_input(const char* op, const Tensor& x) {
  LIEDNET_CHECK(x.defined(), op, ": x is undefined");
  on_cuda(op, x);  // a CUDA x must be f32
  LIEDNET_CHECK(x.ndim() >= 2, op, ": x must be (N, C, ...), got ", x.str());
}
}  // namespace

Tensor concat_channels(const std::vector<Tensor>& xs) {
  LIEDNET_PROFILE_OP("concat_channels");
  LIEDNET_CHECK(!xs.empty(), "concat_channels: no inputs");
  const Tensor& x0 = xs[0];
  for (const Tensor& x : xs) {
    LIEDNET_CHECK(x.defined(), "concat_channels: undefined input among ", shapes_of(xs));
    bool same = x.ndim() == x0.ndim() && x.ndim() >= 2 && x.dtype() == x0.dtype() && x.device() == x0.device();
    for (int d = 0; same && d < x.ndim(); ++d) same = d == 1 || x.size(d) == x0.size(d);
    LIEDNET_CHECK(same, "concat_channels: inputs must be (N, C_i, ...) with equal dims but C, dtype and device: ",
                  shapes_of(xs));
  }
  on_cuda("concat_channels", x0);  // CUDA inputs must be f32
  std::vector<int64_t> offsets;  // first output channel of each input
  int64_t total = 0;
  for (const Tensor& x : xs) {
    offsets.push_back(total);
    total += x.size(1);
  }
  Shape shape = x0.shape();
  shape[1] = total;
  Tensor out = Tensor::empty(shape, x0.dtype(), x0.device());
  const int64_t n = x0.size(0), inner = inner_size(x0);
  for (size_t i = 0; i < xs.size(); ++i)
    copy_planes_on<false>(out, total, offsets[i], xs[i], xs[i].size(1), 0, n, xs[i].size(1), inner,
                          "concat_channels");
  if (autograd::needs_grad(xs))
    autograd::record(out, "concat_channels", xs,
                     [offsets, total, n, inner](const Tensor& g, std::vector<Tensor>& gi) {
                       for (size_t i = 0; i < gi.size(); ++i)
                         if (gi[i].defined())
                           copy_planes_on<true>(gi[i], gi[i].size(1), 0, g, total, offsets[i], n, gi[i].size(1),
                                                inner, "concat_channels backward");
                     });
  return out;
}

Tensor slice_channels(const Tensor& x, int64_t begin, int64_t end) {
  LIEDNET_PROFILE_OP("slice_channels");
  check_channels_input("slice_channels", x);
  const int64_t c = x.size(1);
  LIEDNET_CHECK(0 <= begin && begin < end && end <= c, "slice_channels: channels [", begin, ", ", end,
                ") are not a non-empty range within x ", x.str());
  Shape shape = x.shape();
  shape[1] = end - begin;
  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
  const int64_t n = x.size(0), inner = inner_size(x), count = end - begin;
  copy_planes_on<false>(out, count, 0, x, c, begin, n, count, inner, "slice_channels");
  if (autograd::needs_grad({&x}))
    autograd::record(out, "slice_channels", {x}, [c, begin, n, count, inner](const Tensor& g, std::vector<Tensor>& gi) {
      copy_planes_on<true>(gi[0], c, begin, g, count, 0, n, count, inner, "slice_channels backward");
    });
  return out;
}

std::vector<Tensor> split_channels(const Tensor& x, const std::vector<int64_t>& sizes) {
  LIEDNET_PROFILE_OP("split_channels");
  check_channels_input("split_channels", x);
  int64_t total = 0;
  bool positive = !sizes.empty();
  for (int64_t s : sizes) {
    positive = positive && s > 0;
    total += s;
  }
  if (!positive || total != x.size(1)) {
    std::ostringstream s;
    for (size_t i = 0; i < sizes.size(); ++i) s << (i ? ", " : "") << sizes[i];
    fail("split_channels: sizes [", s.str(), "] must be positive and sum to the channels of x ", x.str());
  }
  std::vector<Tensor> pieces;
  int64_t begin = 0;
  for (int64_t s : sizes) {
    pieces.push_back(slice_channels(x, begin, begin + s));
    begin += s;
  }
  return pieces;
}

}  // namespace liednet::ops
