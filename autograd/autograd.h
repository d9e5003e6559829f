// Reverse-mode autograd: the tape.
//
// An op that has an input requiring grad records a Node on its output. The node
// points to the nodes that produced its inputs (or, for leaves, to the leaf's
// gradient accumulator) and holds a backward function that ADDS the gradient of
// each input into a buffer the engine provides. Nodes hold only what backward
// needs: an activation that no backward saves is freed as soon as the forward
// is done with it.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "tensor/tensor.h"

namespace liednet::autograd {

// grad_in[i] is defined (and zero-initialised or holding earlier sums) exactly
// when input i needs a gradient; backward adds into it.
using BackwardFn = std::function<void(const Tensor& grad_out, std::vector<Tensor>& grad_in)>;

struct Node {
  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  // Releases the chain of producers iteratively: a graph can be far deeper
  // than the stack would allow recursive destructors to go.
  ~Node();

  const char* op = "";
  std::vector<std::shared_ptr<Node>> next;  // per input: its producer or accumulator; null if no grad
  std::vector<Shape> input_shapes;
  DType dtype = DType::F32;
  Device device = Device::CPU;
  BackwardFn backward;
  std::weak_ptr<TensorImpl> leaf;  // set on a leaf's accumulator node only
  bool released = false;
};

// Whether ops record nodes on this thread (false inside a NoGradGuard).
bool grad_enabled();

class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// True when grad mode is on and any of the inputs requires grad: the op must record.
bool needs_grad(std::initializer_list<const Tensor*> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Makes `out` the result of `op` applied to `inputs`. Call only when
// needs_grad(inputs). Backward runs with grad mode off.
void record(Tensor& out, const char* op, const std::vector<Tensor>& inputs, BackwardFn backward);

// Runs backward from `root` with upstream gradient `grad` (see Tensor::backward).
void backward(const Tensor& root, const Tensor& grad, bool retain_graph);

}  // namespace liednet::autograd
