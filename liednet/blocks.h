// LIEDNet's building blocks (docs/architecture.md), channels-first, with
// upstream's parameter names, shapes and registration order.
#pragma once

#include <memory>
#include <vector>

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

// The network's ReLUs at a kink. ReLU has no derivative at 0: an input within
// rounding of 0 may land on either side in two correct f32 implementations that
// sum in different orders, and the gradients then differ by that one pixel's
// whole contribution (about 1e-3 relative for a depthwise weight of LIEDNet at
// 72x56: docs/cuda.md, "ReLU kinks"). A ReluTrace lets a test compare such runs
// fairly: in Record mode every ReLU of the network (the DGDFFN's two branches, the
// LFM's squeeze) stores its input, in call order, in f64 on the CPU; in Follow mode
// each ReLU takes the recorded run's side wherever the recorded input's sign differs
// from its own and its own input is within `tie` of 0 (|z| <= tie * max|z| of that
// ReLU's input), so an f64 reference computes the exact gradient of the branch
// that the recorded run took. A sign that differs further from 0 is not followed
// but counted in `contradicted`: it means the recorded run computed a different
// value, not a rounding of the same one. While a trace is set, the DGDFFN runs its
// composed form on every device (the fused CPU op has no hook). Set it with
// ReluTraceScope; only the thread that set it is affected.
struct ReluTrace {
  enum class Mode { Record, Follow };
  Mode mode = Mode::Record;
  std::vector<Tensor> inputs;        // Record: each ReLU input, f64 on the CPU
  const ReluTrace* recorded = nullptr;  // Follow: the run whose sides to take
  double tie = 1e-6;
  size_t calls = 0;         // ReLUs seen
  size_t followed = 0;      // Follow: inputs that took the recorded side against their own sign
  size_t contradicted = 0;  // Follow: sign differences beyond the tie, not followed
};
class ReluTraceScope {
 public:
  explicit ReluTraceScope(ReluTrace& trace);
  ~ReluTraceScope();
  ReluTraceScope(const ReluTraceScope&) = delete;
  ReluTraceScope& operator=(const ReluTraceScope&) = delete;

 private:
  ReluTrace* previous_;
};
// ops::relu, or the trace's recording or following when one is set on this thread.
Tensor traced_relu(const Tensor& z);

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
