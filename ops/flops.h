// Counting forward FLOPs for model summaries (`liednet info`) and the op
// profiler (autograd/profiler.h, which charges them to the running op). The dense ops
// report what they compute while a FlopCounter is alive on the thread:
// conv2d and linear_channels (multiply-add = 2 FLOPs, plus the bias adds) and
// the fused 2D scan (its projection GEMM and recurrence). Elementwise work
// (norms, activations, residual adds) is not counted, as in the usual
// convention of counting multiply-adds.
#pragma once

#include <cstdint>

namespace liednet::ops {

class FlopCounter {
 public:
  FlopCounter();
  ~FlopCounter();
  FlopCounter(const FlopCounter&) = delete;
  FlopCounter& operator=(const FlopCounter&) = delete;
  int64_t total() const { return total_; }

  // Called by the ops; does nothing unless a counter is alive on this thread.
  static void add(int64_t flops);

 private:
  int64_t total_ = 0;
  FlopCounter* previous_;
};

}  // namespace liednet::ops
