// Joining and cutting tensors along the channel axis (dim 1). Every piece is
// its own op, so each has its own gradient path.
#pragma once

#include <vector>

#include "tensor/tensor.h"

namespace liednet::ops {

// xs (N, C_i, ...) -> (N, sum C_i, ...); all other dims, dtype and device equal.
Tensor concat_channels(const std::vector<Tensor>& xs);
// Pieces of x (N, C, ...) of sizes[i] channels each, in order; the sizes sum to C.
// Each piece is a slice_channels: a piece that is not used downstream gives x no gradient.
std::vector<Tensor> split_channels(const Tensor& x, const std::vector<int64_t>& sizes);
// Channels [begin, end) of x (N, C, ...), as a copy.
Tensor slice_channels(const Tensor& x, int64_t begin, int64_t end);

}  // namespace liednet::ops
