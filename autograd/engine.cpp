#include <unordered_map>
#include <unordered_set>

#include "autograd/autograd.h"
#include "autograd/profiler.h"
#include "ops/elementwise.h"

namespace liednet::autograd {

namespace {
thread_local bool t_grad_enabled = true;

std::shared_ptr<Node> edge_of(const Tensor& t) {
  TensorImpl* impl = t.impl();
  if (!impl->requires_grad) return nullptr;
  if (impl->grad_fn) return impl->grad_fn;
  if (!impl->grad_accumulator) {
    auto acc = std::make_shared<Node>();
    acc->op = "accumulate_grad";
    acc->leaf = t.impl_ptr();
    acc->input_shapes = {impl->shape};
    acc->dtype = impl->dtype;
    acc->device = impl->device;
    impl->grad_accumulator = acc;
  }
  return impl->grad_accumulator;
}

// Reverse topological order of the graph above root (iterative DFS: LIEDNet's
// graphs are thousands of nodes deep).
std::vector<Node*> topological_order(Node* root) {
  std::vector<Node*> order;
  std::unordered_set<Node*> seen{root};
  std::vector<std::pair<Node*, size_t>> stack{{root, 0}};
  while (!stack.empty()) {
    auto& [node, i] = stack.back();
    if (i < node->next.size()) {
      Node* child = node->next[i++].get();
      if (child && seen.insert(child).second) stack.push_back({child, 0});
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }
  return {order.rbegin(), order.rend()};  // root first, leaves last
}
}  // namespace

Node::~Node() {
  std::vector<std::shared_ptr<Node>> pending = std::move(next);
  while (!pending.empty()) {
    std::shared_ptr<Node> n = std::move(pending.back());
    pending.pop_back();
    // Last owner: take its producers before it dies, so its destructor has none to recurse into.
    if (n && n.use_count() == 1)
      for (auto& child : n->next) pending.push_back(std::move(child));
  }
}

bool grad_enabled() { return t_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(t_grad_enabled) { t_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { t_grad_enabled = previous_; }

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!t_grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!t_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void record(Tensor& out, const char* op, const std::vector<Tensor>& inputs, BackwardFn backward) {
  auto node = std::make_shared<Node>();
  node->op = op;
  node->dtype = out.dtype();
  node->device = out.device();
  for (const Tensor& t : inputs) {
    node->next.push_back(t.defined() ? edge_of(t) : nullptr);
    node->input_shapes.push_back(t.defined() ? t.shape() : Shape{});
  }
  node->backward = std::move(backward);
  out.impl()->requires_grad = true;
  out.impl()->grad_fn = std::move(node);
}

void backward(const Tensor& root, const Tensor& grad, bool retain_graph) {
  LIEDNET_CHECK(root.defined(), "backward: undefined tensor");
  LIEDNET_CHECK(root.requires_grad(), "backward: tensor ", root.str(),
                " does not require grad (no op on its path has an input that requires grad)");
  Tensor seed;
  if (grad.defined()) {
    LIEDNET_CHECK(grad.shape() == root.shape() && grad.dtype() == root.dtype() &&
                      grad.device() == root.device(),
                  "backward: gradient ", grad.str(), " does not match tensor ", root.str());
    seed = grad.clone();
  } else {
    LIEDNET_CHECK(root.numel() == 1, "backward: tensor ", root.str(),
                  " is not a scalar; pass the upstream gradient");
    seed = Tensor::ones(root.shape(), root.dtype(), root.device());
  }

  // The engine's own work (ordering, gradient buffers) is this scope's self time.
  LIEDNET_PROFILE_SCOPE("autograd_engine", Backward);
  NoGradGuard no_grad;
  std::shared_ptr<Node> root_node = edge_of(root);
  std::unordered_map<Node*, Tensor> grads{{root_node.get(), seed}};

  for (Node* node : topological_order(root_node.get())) {
    auto it = grads.find(node);
    if (it == grads.end()) continue;  // no gradient flowed here
    Tensor grad_out = std::move(it->second);
    grads.erase(it);

    if (auto leaf = node->leaf.lock()) {
      LIEDNET_PROFILE_SCOPE("accumulate_grad", Backward);
      if (leaf->grad.defined())
        ops::add_into(leaf->grad, grad_out);
      else
        leaf->grad = grad_out;
      continue;
    }
    LIEDNET_CHECK(!node->released, "backward: the graph through op '", node->op,
                  "' was already released by an earlier backward; pass retain_graph=true to the first");

    std::vector<Tensor> grad_in(node->next.size());
    for (size_t i = 0; i < node->next.size(); ++i) {
      Node* child = node->next[i].get();
      if (!child) continue;
      Tensor& g = grads[child];
      if (!g.defined()) g = Tensor::zeros(node->input_shapes[i], node->dtype, node->device);
      grad_in[i] = g;
    }
    {
      LIEDNET_PROFILE_SCOPE(node->op, Backward);
      node->backward(grad_out, grad_in);
    }
    if (!retain_graph) {
      node->backward = nullptr;  // frees what the forward saved
      node->released = true;
    }
  }
}

}  // namespace liednet::autograd
