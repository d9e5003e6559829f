// Shape, dtype and device checks shared by the ops. Each message names the op
// and every shape involved.
#pragma once

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

// Ops without a CUDA kernel yet say so instead of reading device memory.
inline void check_cpu(const char* op, const Tensor& x) {
  LIEDNET_CHECK(x.device() == Device::CPU, op, ": no kernel for ", x.str());
}

}  // namespace liednet::ops
