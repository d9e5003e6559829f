// Tensor: a shared handle to a contiguous, row-major array of f32 or f64 on a
// device, plus its autograd state. Copies of a Tensor share data; reshape and
// detach are views of the same storage; every layout change is an explicit op.
#pragma once

#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/random.h"
#include "tensor/shape.h"
#include "tensor/storage.h"

namespace liednet {

namespace autograd {
struct Node;
}
struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;

  // Creation. Values are drawn from the generator in row-major order.
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor ones(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::F32,
                     Device device = Device::CPU);
  static Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::F32);
  static Tensor uniform(const Shape& shape, double lo, double hi, Generator& gen,
                        DType dtype = DType::F32);
  static Tensor from_vector(const Shape& shape, const std::vector<double>& values,
                            DType dtype = DType::F32);
  static Tensor scalar(double value, DType dtype = DType::F32);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int ndim() const { return shape().ndim(); }
  int64_t size(int dim) const;  // negative dims count from the end
  int64_t numel() const { return shape().numel(); }
  DType dtype() const;
  Device device() const;
  std::string str() const;  // "f32 (1, 3, 5, 7) cpu"

  // Typed access to CPU data; throws if T is not the tensor's dtype.
  template <typename T> T* data();
  template <typename T> const T* data() const;
  void* raw_data() const;

  // Element access for tests and small tensors (any dtype, as double; CUDA
  // tensors are copied to the host first).
  double item() const;
  double at(std::initializer_list<int64_t> index) const;
  void set(std::initializer_list<int64_t> index, double value);
  std::vector<double> to_vector() const;

  // Copies with no autograd history.
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;  // CPU <-> CUDA (f32 on CUDA)
  Tensor clone() const;
  // A view of the same data with no autograd history.
  Tensor detach() const;
  // A view with another shape of the same numel; autograd-aware.
  Tensor reshape(const Shape& shape) const;

  // In-place writes into the data (no autograd; use on leaves or under NoGradGuard).
  void copy_(const Tensor& src);
  void fill_(double value);
  void zero_() { fill_(0.0); }

  // Autograd.
  bool requires_grad() const;
  Tensor& set_requires_grad(bool on = true);
  bool is_leaf() const;
  Tensor grad() const;     // undefined until a backward reaches this leaf
  void zero_grad();        // drops the gradient
  void set_grad(const Tensor& g);
  // Backpropagates from this tensor. Without `grad`, the tensor must hold one
  // element and its gradient is 1. The graph is released unless retain_graph.
  void backward(const Tensor& grad = {}, bool retain_graph = false) const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool shares_storage_with(const Tensor& o) const;

 private:
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<TensorImpl> impl_;
  friend struct TensorImpl;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  DType dtype = DType::F32;
  Device device = Device::CPU;

  bool requires_grad = false;
  std::shared_ptr<autograd::Node> grad_fn;           // the op that produced this (non-leaf)
  std::shared_ptr<autograd::Node> grad_accumulator;  // leaf that requires grad: where its gradient lands
  Tensor grad;

  static Tensor make(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype, Device device);
};

std::ostream& operator<<(std::ostream& o, const Tensor& t);

}  // namespace liednet
