// Module: named parameters and children, as in PyTorch, so that dotted names
// (`encoder_level1.0.op.in_proj.weight`) are the state-dict keys.
//
// A module keeps its parameters as Tensor members and registers pointers to
// them; modules live behind shared_ptr and never move, so the pointers stay
// valid. Order follows PyTorch's state_dict: a module's own parameters in
// registration order, then each child's, depth first.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace liednet::nn {

class Module {
 public:
  explicit Module(std::string type) : type_(std::move(type)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& type() const { return type_; }

  std::vector<std::pair<std::string, Tensor>> named_parameters(const std::string& prefix = "") const;
  std::vector<Tensor> parameters() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }
  // This module and every descendant, with dotted names ("" for this one).
  std::vector<std::pair<std::string, const Module*>> named_modules(const std::string& prefix = "") const;
  int64_t parameter_count() const;

  void train(bool on = true);
  void eval() { train(false); }
  bool training() const { return training_; }

  void zero_grad();
  // Replaces every parameter by a copy in `dtype` (a fresh leaf; frozen ones stay frozen).
  void to(DType dtype);
  // Moves every parameter to `device` (CUDA parameters are f32).
  void to(Device device);
  DType dtype() const;
  Device device() const;

 protected:
  // Registers `*slot` (a member of the derived class) as parameter `name`; it becomes a leaf that requires grad.
  void register_parameter(const std::string& name, Tensor* slot);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.push_back({name, m});
    return m;
  }

 private:
  std::string type_;
  std::vector<std::pair<std::string, Tensor*>> params_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// A numbered list of modules of one type (PyTorch's nn.Sequential of blocks): children "0", "1", ...
template <typename M>
class ModuleList : public Module {
 public:
  ModuleList() : Module("ModuleList") {}
  void push_back(std::shared_ptr<M> m) {
    items_.push_back(register_module(std::to_string(items_.size()), std::move(m)));
  }
  size_t size() const { return items_.size(); }
  M& operator[](size_t i) const { return *items_[i]; }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<std::shared_ptr<M>> items_;
};

}  // namespace liednet::nn

namespace liednet::nn {

// A module that only groups named children (PyTorch's nn.Sequential whose
// parameter-free members leave gaps in the numbering, e.g. "weight.0", "weight.2").
class Container : public Module {
 public:
  Container() : Module("Sequential") {}
  template <typename M>
  std::shared_ptr<M> add(const std::string& name, std::shared_ptr<M> m) {
    return register_module(name, std::move(m));
  }
};

}  // namespace liednet::nn
