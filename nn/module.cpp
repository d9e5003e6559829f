#include "nn/module.h"

#include "tensor/error.h"

namespace liednet::nn {

void Module::register_parameter(const std::string& name, Tensor* slot) {
  LIEDNET_CHECK(slot && slot->defined(), type_, ": parameter '", name, "' is undefined");
  for (const auto& p : params_) LIEDNET_CHECK(p.first != name, type_, ": parameter '", name, "' registered twice");
  if (!slot->requires_grad()) slot->set_requires_grad(true);
  params_.push_back({name, slot});
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters(const std::string& prefix) const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [name, slot] : params_) out.push_back({prefix + name, *slot});
  for (const auto& [name, child] : children_) {
    auto sub = child->named_parameters(prefix + name + ".");
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& kv : named_parameters()) out.push_back(kv.second);
  return out;
}

std::vector<std::pair<std::string, const Module*>> Module::named_modules(const std::string& prefix) const {
  std::vector<std::pair<std::string, const Module*>> out{{prefix, this}};
  for (const auto& [name, child] : children_) {
    auto sub = child->named_modules(prefix.empty() ? name : prefix + "." + name);
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (const auto& kv : named_parameters()) n += kv.second.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& kv : children_) kv.second->train(on);
}

void Module::zero_grad() {
  for (auto& kv : params_) kv.second->zero_grad();
  for (auto& kv : children_) kv.second->zero_grad();
}

void Module::to(DType dtype) {
  for (auto& kv : params_)
    if (kv.second->dtype() != dtype) {
      const bool trainable = kv.second->requires_grad();  // frozen parameters stay frozen
      *kv.second = kv.second->to(dtype).set_requires_grad(trainable);
    }
  for (auto& kv : children_) kv.second->to(dtype);
}

void Module::to(Device device) {
  for (auto& kv : params_)
    if (kv.second->device() != device) {
      const bool trainable = kv.second->requires_grad();
      *kv.second = kv.second->to(device).set_requires_grad(trainable);
    }
  for (auto& kv : children_) kv.second->to(device);
}

Device Module::device() const {
  auto p = named_parameters();
  LIEDNET_CHECK(!p.empty(), type_, ": no parameters, so no device");
  return p.front().second.device();
}

DType Module::dtype() const {
  auto p = named_parameters();
  LIEDNET_CHECK(!p.empty(), type_, ": no parameters, so no dtype");
  return p.front().second.dtype();
}

}  // namespace liednet::nn
