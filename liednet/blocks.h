// LIEDNet's building blocks (docs/architecture.md), channels-first, with
// upstream's parameter names, shapes and registration order.
#pragma once

#include <memory>

#include "nn/layers.h"
#include "nn/module.h"

namespace liednet::net {

// The global branch: SS2D (VMamba's 2D selective scan, forward type v2) at width C:
// in_proj C->2d (d = 2C), z = SiLU, x = SiLU(depthwise 3x3), the four-direction
// scan (ops::ss2d_scan), out_norm, times z, out_proj d->C.
class SS2D : public nn::Module {
 public:
  SS2D(int64_t d_model, Generator& gen, int64_t d_state = 16);
  Tensor forward(const Tensor& x) const;

  int64_t d_model, d_inner, d_state, dt_rank;
  int64_t scan_chunk = 256;
  // An ablation for analysis (liednet explain's per-direction ERFs): 0..3 keeps only that scan direction, the
  // other three directions' scan outputs being zero before the merge (their x_proj_weight slices and skip
  // weights Ds are multiplied by 0, so B_t = C_t = 0 and D = 0 there); -1, the default, keeps all four.
  int only_direction = -1;
  Tensor x_proj_weight;    // (4, R+2N, d)
  Tensor dt_projs_weight;  // (4, d, R)
  Tensor dt_projs_bias;    // (4, d)
  Tensor A_logs;           // (4d, N)
  Tensor Ds;               // (4d)
  std::shared_ptr<nn::LayerNorm> out_norm;
  std::shared_ptr<nn::Linear> in_proj;
  std::shared_ptr<nn::Conv2d> conv2d;
  std::shared_ptr<nn::Linear> out_proj;

 private:
  // Rows [begin, end) of a (rows, cols) weight, as an op (gradients flow back into w).
  static Tensor rows(const Tensor& w, int64_t begin, int64_t end);
};

// LFM, the local branch: squeeze-and-excitation. The code (which we follow) pools
// over H and W per channel: w = sigmoid(conv1x1(ReLU(conv1x1(mean_hw(x))))), out = x * w.
class LocalFeatureModule : public nn::Module {
 public:
  LocalFeatureModule(int64_t dim, Generator& gen);
  Tensor forward(const Tensor& x) const;
  std::shared_ptr<nn::Conv2d> squeeze, excite;  // keys weight.0 and weight.2
};

// DGDFFN: dual gated depthwise feed-forward network, hidden h = int(2.66 C), no biases.
// On the CPU the forward is one fused op (ops/dgdffn.h), which keeps far less
// for the backward; forward_composed builds it from the basic ops (the CUDA
// path, and the reference the fused op is tested against).
class DGDFeedForward : public nn::Module {
 public:
  DGDFeedForward(int64_t dim, Generator& gen, double expansion = 2.66);
  Tensor forward(const Tensor& x) const;
  Tensor forward_composed(const Tensor& x) const;
  int64_t hidden;
  std::shared_ptr<nn::Conv2d> project_in1, project_in2, dwconv1, dwconv2, dwconv3, fusion, project_out;
};

// The Local Mamba Block (upstream's VSSLocalBlock):
//   n = norm(x);  x = fusion(cat(SS2D(n), LFM(n))) + x;  x = ffn(norm2(x)) + x
class LocalMambaBlock : public nn::Module {
 public:
  LocalMambaBlock(int64_t dim, Generator& gen);
  Tensor forward(const Tensor& x) const;
  // An ablation for analysis (liednet explain --without-ss2d): SS2D's output is
  // replaced by zeros, leaving the block without its global branch.
  bool without_ss2d = false;
  std::shared_ptr<nn::LayerNorm> norm, norm2;
  std::shared_ptr<SS2D> op;
  std::shared_ptr<LocalFeatureModule> local;
  std::shared_ptr<nn::Conv2d> fusion;
  std::shared_ptr<DGDFeedForward> ffn;
};

}  // namespace liednet::net
