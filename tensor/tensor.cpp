#include "tensor/tensor.h"

#include <cstring>

#include "autograd/autograd.h"
#include "ops/elementwise.h"
#include "tensor/cuda.h"
#include "tensor/parallel.h"

namespace liednet {

namespace {
void check_cpu(const Tensor& t, const char* what) {
  LIEDNET_CHECK(t.device() == Device::CPU, what, ": tensor ", t.str(), " is not on the CPU");
}

int64_t flat_index(const Shape& s, std::initializer_list<int64_t> index, const char* what) {
  LIEDNET_CHECK(static_cast<int>(index.size()) == s.ndim(), what, ": ", index.size(),
                " indices for shape ", s);
  int64_t flat = 0;
  int d = 0;
  for (int64_t i : index) {
    LIEDNET_CHECK(i >= 0 && i < s[d], what, ": index ", i, " out of range for dim ", d, " of shape ", s);
    flat = flat * s[d] + i;
    ++d;
  }
  return flat;
}

template <typename T>
void fill_values(Tensor& t, double v) {
  T* p = t.data<T>();
  T x = static_cast<T>(v);
  for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = x;
}
}  // namespace

Tensor TensorImpl::make(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype, Device device) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->shape = shape;
  impl->dtype = dtype;
  impl->device = device;
  return Tensor(std::move(impl));
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  return TensorImpl::make(Storage::allocate(shape.numel() * dtype_size(dtype), device), shape, dtype,
                          device);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(0.0);
  return t;
}

Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::randn(const Shape& shape, Generator& gen, DType dtype) {
  Tensor t = empty(shape, dtype);
  LIEDNET_DISPATCH(dtype, T, {
    T* p = t.data<T>();
    for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = static_cast<T>(gen.normal());
  });
  return t;
}

Tensor Tensor::uniform(const Shape& shape, double lo, double hi, Generator& gen, DType dtype) {
  Tensor t = empty(shape, dtype);
  LIEDNET_DISPATCH(dtype, T, {
    T* p = t.data<T>();
    for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = static_cast<T>(gen.uniform(lo, hi));
  });
  return t;
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<double>& values, DType dtype) {
  LIEDNET_CHECK(static_cast<int64_t>(values.size()) == shape.numel(), "Tensor::from_vector: ",
                values.size(), " values for shape ", shape);
  Tensor t = empty(shape, dtype);
  LIEDNET_DISPATCH(dtype, T, {
    T* p = t.data<T>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = static_cast<T>(values[i]);
  });
  return t;
}

Tensor Tensor::scalar(double value, DType dtype) { return full(Shape{}, value, dtype); }

const Shape& Tensor::shape() const {
  LIEDNET_CHECK(impl_, "Tensor: use of an undefined tensor");
  return impl_->shape;
}

int64_t Tensor::size(int dim) const {
  int nd = ndim();
  int d = dim < 0 ? dim + nd : dim;
  LIEDNET_CHECK(d >= 0 && d < nd, "Tensor::size: dim ", dim, " out of range for shape ", shape());
  return shape()[d];
}

DType Tensor::dtype() const {
  LIEDNET_CHECK(impl_, "Tensor: use of an undefined tensor");
  return impl_->dtype;
}

Device Tensor::device() const {
  LIEDNET_CHECK(impl_, "Tensor: use of an undefined tensor");
  return impl_->device;
}

std::string Tensor::str() const {
  if (!impl_) return "undefined";
  return std::string(dtype_name(impl_->dtype)) + " " + impl_->shape.str() + " " + device_name(impl_->device);
}

std::ostream& operator<<(std::ostream& o, const Tensor& t) { return o << t.str(); }

template <typename T>
T* Tensor::data() {
  LIEDNET_CHECK(dtype() == dtype_of<T>(), "Tensor::data<", dtype_name(dtype_of<T>()), ">: tensor is ", str());
  return static_cast<T*>(impl_->storage->data());
}

template <typename T>
const T* Tensor::data() const {
  LIEDNET_CHECK(dtype() == dtype_of<T>(), "Tensor::data<", dtype_name(dtype_of<T>()), ">: tensor is ", str());
  return static_cast<const T*>(impl_->storage->data());
}

template float* Tensor::data<float>();
template double* Tensor::data<double>();
template const float* Tensor::data<float>() const;
template const double* Tensor::data<double>() const;

void* Tensor::raw_data() const {
  LIEDNET_CHECK(impl_, "Tensor: use of an undefined tensor");
  return impl_->storage->data();
}

double Tensor::item() const {
  LIEDNET_CHECK(numel() == 1, "Tensor::item: tensor ", str(), " does not hold exactly one element");
  if (device() == Device::CUDA) return to(Device::CPU).item();
  double v = 0;
  LIEDNET_DISPATCH(dtype(), T, v = data<T>()[0]);
  return v;
}

double Tensor::at(std::initializer_list<int64_t> index) const {
  if (device() == Device::CUDA) return to(Device::CPU).at(index);
  int64_t i = flat_index(shape(), index, "Tensor::at");
  double v = 0;
  LIEDNET_DISPATCH(dtype(), T, v = data<T>()[i]);
  return v;
}

void Tensor::set(std::initializer_list<int64_t> index, double value) {
  check_cpu(*this, "Tensor::set");
  int64_t i = flat_index(shape(), index, "Tensor::set");
  LIEDNET_DISPATCH(dtype(), T, data<T>()[i] = static_cast<T>(value));
}

std::vector<double> Tensor::to_vector() const {
  if (device() == Device::CUDA) return to(Device::CPU).to_vector();
  std::vector<double> v(numel());
  LIEDNET_DISPATCH(dtype(), T, {
    const T* p = data<T>();
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(p[i]);
  });
  return v;
}

Tensor Tensor::to(DType dt) const {
  check_cpu(*this, "Tensor::to");
  Tensor out = empty(shape(), dt, device());
  int64_t n = numel();
  LIEDNET_DISPATCH(dtype(), S, {
    const S* src = data<S>();
    LIEDNET_DISPATCH(dt, D, {
      D* dst = out.data<D>();
      parallel_for(0, n, 1 << 15, [&](int64_t i) { dst[i] = static_cast<D>(src[i]); });
    });
  });
  return out;
}

Tensor Tensor::to(Device d) const {
  if (d == device()) return clone();
  LIEDNET_CHECK(d == Device::CPU || dtype() == DType::F32, "Tensor::to: CUDA tensors are f32, got ", str());
  Tensor out = empty(shape(), dtype(), d);
  const size_t bytes = numel() * dtype_size(dtype());
  if (bytes == 0) return out;
  if (d == Device::CUDA) cuda_copy_to_device(out.raw_data(), raw_data(), bytes);
  else cuda_copy_to_host(out.raw_data(), raw_data(), bytes);
  return out;
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  out.copy_(*this);
  return out;
}

Tensor Tensor::detach() const {
  LIEDNET_CHECK(impl_, "Tensor::detach: undefined tensor");
  return TensorImpl::make(impl_->storage, impl_->shape, impl_->dtype, impl_->device);
}

Tensor Tensor::reshape(const Shape& new_shape) const {
  LIEDNET_CHECK(new_shape.numel() == numel(), "reshape: cannot view ", str(), " as ", new_shape);
  Tensor out = TensorImpl::make(impl_->storage, new_shape, impl_->dtype, impl_->device);
  if (autograd::needs_grad({this})) {
    Shape in_shape = shape();
    autograd::record(out, "reshape", {*this}, [in_shape](const Tensor& g, std::vector<Tensor>& gi) {
      Tensor gin = gi[0];
      ops::add_into(gin, g.reshape(in_shape));
    });
  }
  return out;
}

void Tensor::copy_(const Tensor& src) {
  LIEDNET_CHECK(src.shape() == shape() && src.dtype() == dtype(), "Tensor::copy_: source ", src.str(),
                " does not match destination ", str());
  const size_t bytes = numel() * dtype_size(dtype());
  if (raw_data() == src.raw_data() || bytes == 0) return;
  if (device() == Device::CPU && src.device() == Device::CPU) std::memcpy(raw_data(), src.raw_data(), bytes);
  else if (device() == Device::CUDA && src.device() == Device::CUDA) cuda_copy_on_device(raw_data(), src.raw_data(), bytes);
  else if (device() == Device::CUDA) cuda_copy_to_device(raw_data(), src.raw_data(), bytes);
  else cuda_copy_to_host(raw_data(), src.raw_data(), bytes);
}

void Tensor::fill_(double value) {
  if (device() == Device::CUDA) {
    if (value == 0.0) {
      cuda_zero(raw_data(), numel() * dtype_size(dtype()));
    } else {  // small fills (tests, constants): through the host
      Tensor host = full(shape(), value, dtype(), Device::CPU);
      copy_(host);
    }
    return;
  }
  LIEDNET_DISPATCH(dtype(), T, fill_values<T>(*this, value));
}

bool Tensor::requires_grad() const { return impl_ && impl_->requires_grad; }

Tensor& Tensor::set_requires_grad(bool on) {
  LIEDNET_CHECK(impl_, "Tensor::set_requires_grad: undefined tensor");
  LIEDNET_CHECK(is_leaf(), "Tensor::set_requires_grad: ", str(),
                " is the result of an op; only leaves can be marked (use detach())");
  impl_->requires_grad = on;
  if (!on) impl_->grad_accumulator.reset();
  return *this;
}

bool Tensor::is_leaf() const { return impl_ && !impl_->grad_fn; }

Tensor Tensor::grad() const {
  LIEDNET_CHECK(impl_, "Tensor::grad: undefined tensor");
  return impl_->grad;
}

void Tensor::zero_grad() {
  if (impl_) impl_->grad = Tensor();
}

void Tensor::set_grad(const Tensor& g) {
  LIEDNET_CHECK(impl_, "Tensor::set_grad: undefined tensor");
  LIEDNET_CHECK(!g.defined() || (g.shape() == shape() && g.dtype() == dtype()), "Tensor::set_grad: gradient ",
                g.str(), " does not match ", str());
  impl_->grad = g;
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  autograd::backward(*this, grad, retain_graph);
}

bool Tensor::shares_storage_with(const Tensor& o) const {
  return impl_ && o.impl_ && impl_->storage == o.impl_->storage;
}

}  // namespace liednet
