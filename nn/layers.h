// The layers LIEDNet is built from, with PyTorch's parameter names and shapes
// (so checkpoints load by key) on our channels-first layout.
#pragma once

#include "nn/module.h"
#include "ops/conv2d.h"

namespace liednet::nn {

// nn.Conv2d: weight (out, in/groups, k, k), optional bias (out).
class Conv2d : public Module {
 public:
  Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, int64_t groups, bool bias,
         Generator& gen);
  Tensor forward(const Tensor& x) const;
  Tensor weight, bias;
  ops::Conv2dOptions options;
};

// nn.Linear applied over the channel axis of (N, C, H, W): weight (out, in), optional bias (out).
class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, bool bias, Generator& gen);
  Tensor forward(const Tensor& x) const;
  Tensor weight, bias;
};

// nn.LayerNorm(C) applied at every pixel over the channel axis: weight (C) = 1, bias (C) = 0.
class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t channels, double eps = 1e-5);
  Tensor forward(const Tensor& x) const;
  Tensor weight, bias;
  double eps;
};

}  // namespace liednet::nn
