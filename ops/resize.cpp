#include "ops/resize.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "autograd/autograd.h"
#include "autograd/profiler.h"
#include "ops/check.h"
#include "ops/cuda/inverse_map.h"
#include "ops/cuda/resize.h"
#include "tensor/cuda.h"
#include "tensor/parallel.h"
#include "tensor/storage.h"

namespace liednet::ops {

namespace {
constexpr double kA = -0.75;

// The 4 taps of one output index along one axis.
struct Taps {
  int64_t index[4];
  double weight[4];
};

// Keys' cubic convolution kernel, on |x| <= 1 and on 1 < |x| < 2.
double cubic_near(double x) { return ((kA + 2) * x - (kA + 3)) * x * x + 1; }
double cubic_far(double x) { return ((kA * x - 5 * kA) * x + 8 * kA) * x - 4 * kA; }

// With size= and no scale factor, torch's scale is in / out (not the rounded
// factor a user may have meant), and the cubic source index is not clamped:
// the taps are, so the border pixels repeat.
std::vector<Taps> axis_taps(int64_t in, int64_t out) {
  std::vector<Taps> taps(out);
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  for (int64_t d = 0; d < out; ++d) {
    const double src = (static_cast<double>(d) + 0.5) * scale - 0.5;
    const double f = std::floor(src), t = src - f;
    const int64_t i0 = static_cast<int64_t>(f) - 1;
    Taps& tp = taps[d];
    tp.weight[0] = cubic_far(t + 1);
    tp.weight[1] = cubic_near(t);
    tp.weight[2] = cubic_near(1 - t);
    tp.weight[3] = cubic_far(2 - t);
    for (int k = 0; k < 4; ++k) tp.index[k] = std::min(std::max<int64_t>(i0 + k, 0), in - 1);
  }
  return taps;
}

struct Geometry {
  int64_t planes, h, w, oh, ow;  // planes = N * C
};

// out[plane, oy, ox] = sum_a wy[a] * sum_b wx[b] * x[plane, iy[a], ix[b]]:
// interpolated along x on each of the 4 source rows, then along y.
template <typename T>
void resize_forward(T* out, const T* x, const Geometry& g, const std::vector<Taps>& ty,
                    const std::vector<Taps>& tx) {
  parallel_for(0, g.planes * g.oh, 4, [&](int64_t row) {
    const int64_t plane = row / g.oh, oy = row % g.oh;
    const T* xp = x + plane * g.h * g.w;
    T* op = out + row * g.ow;
    const Taps& vy = ty[oy];
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      const Taps& vx = tx[ox];
      T acc = 0;
      for (int a = 0; a < 4; ++a) {
        const T* xr = xp + vy.index[a] * g.w;
        T along_x = 0;
        for (int b = 0; b < 4; ++b) along_x += static_cast<T>(vx.weight[b]) * xr[vx.index[b]];
        acc += static_cast<T>(vy.weight[a]) * along_x;
      }
      op[ox] = acc;
    }
  });
}

// The transpose: every output gradient is scattered to the 16 inputs it read.
// Clamped taps make several outputs share an input, so one plane is one work
// item and its scatter runs serially, in a fixed order.
template <typename T>
void resize_backward(T* gx, const T* gout, const Geometry& g, const std::vector<Taps>& ty,
                     const std::vector<Taps>& tx) {
  parallel_for(0, g.planes, 1, [&](int64_t plane) {
    T* gp = gx + plane * g.h * g.w;
    const T* go = gout + plane * g.oh * g.ow;
    for (int64_t oy = 0; oy < g.oh; ++oy) {
      const Taps& vy = ty[oy];
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        const Taps& vx = tx[ox];
        const T gv = go[oy * g.ow + ox];
        for (int a = 0; a < 4; ++a) {
          T* gr = gp + vy.index[a] * g.w;
          const T ga = static_cast<T>(vy.weight[a]) * gv;
          for (int b = 0; b < 4; ++b) gr[vx.index[b]] += static_cast<T>(vx.weight[b]) * ga;
        }
      }
    }
  });
}
// The taps on the GPU, in one block of 4-byte elements. Tap number 4*d + k is
// tap k of output position d. Per axis: each tap's input index (int32) and
// float weight, and for the backward's gather the inverse lists (for each
// input index, the tap numbers reading it, ascending).
struct DeviceTaps {
  std::shared_ptr<Storage> block;
  const int32_t *ty_index, *tx_index, *ry_start, *ry_list, *rx_start, *rx_list;
  const float *ty_weight, *tx_weight;
};

DeviceTaps upload_taps(const Tensor& x, const Geometry& g, const std::vector<Taps>& ty, const std::vector<Taps>& tx) {
  const int64_t limit = (INT32_MAX - 1) / 4;
  LIEDNET_CHECK(g.h < limit && g.w < limit && g.oh < limit && g.ow < limit,
                "resize_bicubic: sides too large for the CUDA kernel: ", x.str(), " -> ", g.oh, "x", g.ow);
  std::vector<int64_t> index_y, index_x;  // (4*oh), (4*ow)
  for (const Taps& t : ty) index_y.insert(index_y.end(), t.index, t.index + 4);
  for (const Taps& t : tx) index_x.insert(index_x.end(), t.index, t.index + 4);
  // ty_index (4*oh), tx_index (4*ow), ry_start (h + 1), ry_list (4*oh), rx_start (w + 1), rx_list (4*ow)
  std::vector<int32_t> ints(index_y.begin(), index_y.end());
  ints.insert(ints.end(), index_x.begin(), index_x.end());
  cuda::append_inverse(ints, index_y.data(), 4 * g.oh, g.h);
  cuda::append_inverse(ints, index_x.data(), 4 * g.ow, g.w);
  // ty_weight (4*oh), tx_weight (4*ow): rounded to float as the CPU's float kernel does.
  std::vector<float> floats;
  for (const Taps& t : ty)
    for (int k = 0; k < 4; ++k) floats.push_back(static_cast<float>(t.weight[k]));
  for (const Taps& t : tx)
    for (int k = 0; k < 4; ++k) floats.push_back(static_cast<float>(t.weight[k]));

  static_assert(sizeof(int32_t) == sizeof(float));
  std::vector<int32_t> host(ints.size() + floats.size());
  std::memcpy(host.data(), ints.data(), ints.size() * sizeof(int32_t));
  std::memcpy(host.data() + ints.size(), floats.data(), floats.size() * sizeof(float));
  DeviceTaps d;
  d.block = Storage::allocate(host.size() * sizeof(int32_t), Device::CUDA);
  cuda_copy_to_device(d.block->data(), host.data(), host.size() * sizeof(int32_t));
  const int32_t* p = static_cast<const int32_t*>(d.block->data());
  d.ty_index = p;
  d.tx_index = d.ty_index + 4 * g.oh;
  d.ry_start = d.tx_index + 4 * g.ow;
  d.ry_list = d.ry_start + g.h + 1;
  d.rx_start = d.ry_list + 4 * g.oh;
  d.rx_list = d.rx_start + g.w + 1;
  d.ty_weight = reinterpret_cast<const float*>(p + ints.size());
  d.tx_weight = d.ty_weight + 4 * g.oh;
  return d;
}

Tensor resize_bicubic_cuda(const Tensor& x, const Geometry& g, const std::vector<Taps>& ty,
                           const std::vector<Taps>& tx) {
  auto taps = std::make_shared<const DeviceTaps>(upload_taps(x, g, ty, tx));
  Tensor out = Tensor::empty({x.size(0), x.size(1), g.oh, g.ow}, x.dtype(), x.device());
  cuda_kernel(cuda::resize_kernels().resize_bicubic_forward, "resize_bicubic")(
      out.data<float>(), x.data<float>(), g.planes, g.h, g.w, g.oh, g.ow, taps->ty_index, taps->ty_weight,
      taps->tx_index, taps->tx_weight);
  if (autograd::needs_grad({&x}))
    autograd::record(out, "resize_bicubic", {x}, [g, taps](const Tensor& gout, std::vector<Tensor>& gi) {
      cuda_kernel(cuda::resize_kernels().resize_bicubic_backward, "resize_bicubic")(
          gi[0].data<float>(), gout.data<float>(), g.planes, g.h, g.w, g.oh, g.ow, taps->ry_start, taps->ry_list,
          taps->ty_weight, taps->rx_start, taps->rx_list, taps->tx_weight);
    });
  return out;
}
}  // namespace

Tensor resize_bicubic(const Tensor& x, int64_t out_h, int64_t out_w) {
  LIEDNET_PROFILE_OP("resize_bicubic");
  LIEDNET_CHECK(x.defined(), "resize_bicubic: x is undefined");
  const bool cuda = on_cuda("resize_bicubic", x);
  LIEDNET_CHECK(x.ndim() == 4, "resize_bicubic: x must be (N, C, H, W), got ", x.str());
  LIEDNET_CHECK(out_h >= 1 && out_w >= 1, "resize_bicubic: output size (", out_h, ", ", out_w,
                ") must be positive, for x ", x.str());
  LIEDNET_CHECK(x.size(2) >= 1 && x.size(3) >= 1, "resize_bicubic: x has no pixels: ", x.str());
  const Geometry g{x.size(0) * x.size(1), x.size(2), x.size(3), out_h, out_w};
  auto ty = std::make_shared<const std::vector<Taps>>(axis_taps(g.h, g.oh));
  auto tx = std::make_shared<const std::vector<Taps>>(axis_taps(g.w, g.ow));
  if (cuda) return resize_bicubic_cuda(x, g, *ty, *tx);
  Tensor out = Tensor::empty({x.size(0), x.size(1), out_h, out_w}, x.dtype(), x.device());
  LIEDNET_DISPATCH(x.dtype(), T, resize_forward<T>(out.data<T>(), x.data<T>(), g, *ty, *tx));
  if (autograd::needs_grad({&x}))
    autograd::record(out, "resize_bicubic", {x}, [g, ty, tx](const Tensor& gout, std::vector<Tensor>& gi) {
      LIEDNET_DISPATCH(gout.dtype(), T, resize_backward<T>(gi[0].data<T>(), gout.data<T>(), g, *ty, *tx));
    });
  return out;
}

}  // namespace liednet::ops
