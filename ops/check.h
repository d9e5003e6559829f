// Shape, dtype and device checks shared by the ops. Each message names the op
// and every shape involved.
#pragma once

#include <algorithm>

#include "tensor/tensor.h"

namespace liednet::ops {

// Same shape, dtype and device.
inline void check_same(const char* op, const Tensor& a, const Tensor& b) {
  LIEDNET_CHECK(a.defined() && b.defined(), op, ": undefined input");
  LIEDNET_CHECK(a.shape() == b.shape() && a.dtype() == b.dtype() && a.device() == b.device(), op,
                ": inputs differ: ", a.str(), " vs ", b.str());
}

// Same dtype and device (shapes checked by the op).
inline void check_compatible(const char* op, const Tensor& a, const Tensor& b) {
  LIEDNET_CHECK(a.defined() && b.defined(), op, ": undefined input");
  LIEDNET_CHECK(a.dtype() == b.dtype() && a.device() == b.device(), op, ": inputs differ in dtype or device: ",
                a.str(), " vs ", b.str());
}

inline void check_ndim(const char* op, const Tensor& x, int ndim, const char* what) {
  LIEDNET_CHECK(x.defined(), op, ": ", what, " is undefined");
  LIEDNET_CHECK(x.ndim() == ndim, op, ": ", what, " must have ", ndim, " dimensions, got ", x.str());
}

// Ops without a CUDA kernel say so instead of reading device memory.
inline void check_cpu(const char* op, const Tensor& x) {
  LIEDNET_CHECK(x.device() == Device::CPU, op, ": no kernel for ", x.str());
}

// True for a CUDA tensor (which must be f32): the op takes its CUDA path.
inline bool on_cuda(const char* op, const Tensor& x) {
  if (x.device() != Device::CUDA) return false;
  LIEDNET_CHECK(x.dtype() == DType::F32, op, ": CUDA tensors are f32, got ", x.str());
  return true;
}

// Device buffers for the CUDA paths: f32 tensors on the GPU (CUDA tensors
// are f32), and n doubles of scratch as a tensor of 2n floats.
inline Tensor cuda_f32(const Shape& shape) { return Tensor::empty(shape, DType::F32, Device::CUDA); }
inline Tensor cuda_f64_scratch(int64_t n) { return cuda_f32({2 * std::max<int64_t>(n, 1)}); }
inline double* f64_data(Tensor& t) { return reinterpret_cast<double*>(t.data<float>()); }

// A kernel argument for an optional tensor: its f32 data, or null when undefined.
inline float* f32_or_null(Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }
inline const float* f32_or_null(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

// A kernel from a CUDA table (ops/cuda/<op>.h), or an error naming the op
// when this build has none.
template <typename F>
F cuda_kernel(F f, const char* op) {
  LIEDNET_CHECK(f != nullptr, op, ": no CUDA kernel in this build");
  return f;
}

}  // namespace liednet::ops
