// Reductions. Sums accumulate in double (also for f32 tensors) in an order
// fixed by the element count alone, so results are bit-identical for any
// thread count. On CUDA the blocks are the same, but each is summed by a
// fixed tree of threads and the block sums by a fixed tree too: bit-identical
// run to run, equal to the CPU's up to the rounding of the double sum.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "tensor/parallel.h"
#include "tensor/tensor.h"

namespace liednet::ops {

Tensor sum(const Tensor& x);      // all elements -> shape () scalar
Tensor mean(const Tensor& x);     // all elements -> shape () scalar; x must not be empty
Tensor mean_hw(const Tensor& x);  // (N, C, H, W) -> (N, C): global average pool over H and W

// Elements per block of ordered_sum. A constant, not a function of the thread
// count: the block boundaries decide the rounding.
constexpr int64_t kOrderedSumBlock = 1 << 13;

// The sum of term(i) for i in [0, n), in double: each block of
// kOrderedSumBlock consecutive terms is summed left to right (blocks run in
// parallel), then the block sums are added in block order. For reductions in
// other ops (losses, norms) that must be deterministic.
template <typename F>
double ordered_sum(int64_t n, F&& term) {
  auto block_sum = [&](int64_t b) {
    double s = 0;
    for (int64_t i = b * kOrderedSumBlock, e = std::min(n, i + kOrderedSumBlock); i < e; ++i) s += term(i);
    return s;
  };
  const int64_t blocks = (n + kOrderedSumBlock - 1) / kOrderedSumBlock;
  if (blocks <= 1) return n > 0 ? block_sum(0) : 0.0;
  std::vector<double> partial(blocks);  // (blocks)
  parallel_for(0, blocks, 1, [&](int64_t b) { partial[b] = block_sum(b); });
  double s = 0;
  for (double p : partial) s += p;
  return s;
}

}  // namespace liednet::ops
