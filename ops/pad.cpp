#include "ops/pad.h"

#include <cstdint>
#include <memory>
#include <vector>

#include "autograd/autograd.h"
#include "autograd/profiler.h"
#include "ops/check.h"
#include "ops/cuda/inverse_map.h"
#include "ops/cuda/pad.h"
#include "tensor/cuda.h"
#include "tensor/parallel.h"
#include "tensor/storage.h"

namespace liednet::ops {

namespace {
// out[plane, y, x] = in[plane, rows[y], cols[x]]; the backward scatters back.
template <typename T>
void gather_2d(const T* in, T* out, int64_t planes, int64_t H, int64_t W, const std::vector<int64_t>& rows,
               const std::vector<int64_t>& cols) {
  const int64_t Ho = static_cast<int64_t>(rows.size()), Wo = static_cast<int64_t>(cols.size());
  parallel_for(0, planes, 1, [&](int64_t p) {
    const T* src = in + p * H * W;
    T* dst = out + p * Ho * Wo;
    for (int64_t y = 0; y < Ho; ++y)
      for (int64_t x = 0; x < Wo; ++x) dst[y * Wo + x] = src[rows[y] * W + cols[x]];
  });
}

template <typename T>
void scatter_add_2d(const T* gout, T* gin, int64_t planes, int64_t H, int64_t W, const std::vector<int64_t>& rows,
                    const std::vector<int64_t>& cols) {
  const int64_t Ho = static_cast<int64_t>(rows.size()), Wo = static_cast<int64_t>(cols.size());
  // Per plane, serial over output positions: a fixed summation order.
  parallel_for(0, planes, 1, [&](int64_t p) {
    const T* src = gout + p * Ho * Wo;
    T* dst = gin + p * H * W;
    for (int64_t y = 0; y < Ho; ++y)
      for (int64_t x = 0; x < Wo; ++x) dst[rows[y] * W + cols[x]] += src[y * Wo + x];
  });
}

// remap's index lists on the GPU, in one int32 block: rows and cols for the
// forward, and for the backward's gather their inverses (for each input row,
// the output rows that read it, ascending; columns likewise).
struct DeviceRemap {
  std::shared_ptr<Storage> block;
  const int32_t *rows, *cols, *row_start, *row_list, *col_start, *col_list;
};

DeviceRemap upload_remap(const char* op, const Tensor& x, const std::vector<int64_t>& rows,
                         const std::vector<int64_t>& cols) {
  const int64_t H = x.size(2), W = x.size(3), Ho = static_cast<int64_t>(rows.size()),
                Wo = static_cast<int64_t>(cols.size());
  const int64_t limit = INT32_MAX - 1;
  LIEDNET_CHECK(H < limit && W < limit && Ho < limit && Wo < limit, op, ": sides too large for the CUDA kernel: ",
                x.str(), " -> ", Ho, "x", Wo);
  std::vector<int32_t> host;  // rows (Ho), cols (Wo), row_start (H + 1), row_list (Ho), col_start (W + 1), col_list (Wo)
  host.reserve(2 * (Ho + Wo) + H + W + 2);
  for (int64_t r : rows) host.push_back(static_cast<int32_t>(r));
  for (int64_t c : cols) host.push_back(static_cast<int32_t>(c));
  cuda::append_inverse(host, rows.data(), Ho, H);
  cuda::append_inverse(host, cols.data(), Wo, W);
  DeviceRemap d;
  d.block = Storage::allocate(host.size() * sizeof(int32_t), Device::CUDA);
  cuda_copy_to_device(d.block->data(), host.data(), host.size() * sizeof(int32_t));
  const int32_t* p = static_cast<const int32_t*>(d.block->data());
  d.rows = p;
  d.cols = d.rows + Ho;
  d.row_start = d.cols + Wo;
  d.row_list = d.row_start + H + 1;
  d.col_start = d.row_list + Ho;
  d.col_list = d.col_start + W + 1;
  return d;
}

Tensor remap_cuda(const char* op, const Tensor& x, const std::vector<int64_t>& rows, const std::vector<int64_t>& cols) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t Ho = static_cast<int64_t>(rows.size()), Wo = static_cast<int64_t>(cols.size());
  Tensor out = Tensor::empty({N, C, Ho, Wo}, x.dtype(), x.device());
  auto table = std::make_shared<const DeviceRemap>(upload_remap(op, x, rows, cols));
  const cuda::PadKernels& k = cuda::pad_kernels();
  cuda_kernel(k.remap_forward, op)(out.data<float>(), x.data<float>(), N * C, H, W, table->rows, Ho, table->cols, Wo);
  if (autograd::needs_grad({&x}))
    autograd::record(out, op, {x}, [op, table, N, C, H, W, Ho, Wo](const Tensor& g, std::vector<Tensor>& gi) {
      cuda_kernel(cuda::pad_kernels().remap_backward, op)(gi[0].data<float>(), g.data<float>(), N * C, H, W,
                                                              table->row_start, table->row_list, Ho,
                                                              table->col_start, table->col_list, Wo);
    });
  return out;
}

Tensor remap(const char* op, const Tensor& x, std::vector<int64_t> rows, std::vector<int64_t> cols) {
  LIEDNET_PROFILE_OP(op);
  if (on_cuda(op, x)) return remap_cuda(op, x, rows, cols);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  Tensor out = Tensor::empty({N, C, static_cast<int64_t>(rows.size()), static_cast<int64_t>(cols.size())}, x.dtype(),
                             x.device());
  LIEDNET_DISPATCH(x.dtype(), T, gather_2d<T>(x.data<T>(), out.data<T>(), N * C, H, W, rows, cols));
  if (autograd::needs_grad({&x}))
    autograd::record(out, op, {x}, [rows, cols, N, C, H, W](const Tensor& g, std::vector<Tensor>& gi) {
      LIEDNET_DISPATCH(g.dtype(), T, scatter_add_2d<T>(g.data<T>(), gi[0].data<T>(), N * C, H, W, rows, cols));
    });
  return out;
}
}  // namespace

Tensor pad_reflect(const Tensor& x, int64_t top, int64_t bottom, int64_t left, int64_t right) {
  check_ndim("pad_reflect", x, 4, "x");
  LIEDNET_CHECK(top >= 0 && bottom >= 0 && left >= 0 && right >= 0, "pad_reflect: negative padding (", top, ", ",
                bottom, ", ", left, ", ", right, ") for ", x.str());
  LIEDNET_CHECK(x.size(2) > 0 && x.size(3) > 0, "pad_reflect: empty input ", x.str());
  std::vector<int64_t> rows, cols;
  for (int64_t y = -top; y < x.size(2) + bottom; ++y) rows.push_back(reflect_index(y, x.size(2)));
  for (int64_t c = -left; c < x.size(3) + right; ++c) cols.push_back(reflect_index(c, x.size(3)));
  return remap("pad_reflect", x, std::move(rows), std::move(cols));
}

Tensor crop(const Tensor& x, int64_t top, int64_t left, int64_t h, int64_t w) {
  check_ndim("crop", x, 4, "x");
  LIEDNET_CHECK(top >= 0 && left >= 0 && h >= 0 && w >= 0 && top + h <= x.size(2) && left + w <= x.size(3),
                "crop: window (top ", top, ", left ", left, ", ", h, "x", w, ") does not fit in ", x.str());
  std::vector<int64_t> rows(h), cols(w);
  for (int64_t i = 0; i < h; ++i) rows[i] = top + i;
  for (int64_t i = 0; i < w; ++i) cols[i] = left + i;
  return remap("crop", x, std::move(rows), std::move(cols));
}

}  // namespace liednet::ops
