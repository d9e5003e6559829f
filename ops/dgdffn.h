// LIEDNet's dual gated depthwise feed-forward network (DGDFFN) as one op, on
// the CPU (docs/architecture.md, hidden width h):
//   a, b = split(project_in1(x));  a = ReLU(dwconv1(a));  b = ReLU(dwconv2(b))
//   f = fusion(cat(a, b));  g = dwconv3(project_in2(x))
//   out = project_out(GELU(g) * f)
// The 1x1 convolutions have no bias; the depthwise ones have odd square
// kernels, stride 1 and padding k/2.
//
// Why one op: composed from conv2d, split, ReLU, concat, GELU and mul, the
// block keeps 11 hidden-width tensors for its backward (plus copies made by
// split and concat). This op keeps x and f (h): C + h channels. Its backward
// recomputes project_in1(x) and project_in2(x) (the two GEMMs with C inputs,
// the op's cheapest), the depthwise branches, GELU and the gate (per pixel)
// instead of keeping them. Its results match the composition (same kernels, same
// order of operations in each pixel) up to the order of the dx sum.
#pragma once

#include "tensor/tensor.h"

namespace liednet::ops {

struct DgdffnWeights {
  Tensor project_in1;  // (2h, C, 1, 1)
  Tensor project_in2;  // (h, C, 1, 1)
  Tensor dwconv1;      // (h, 1, k1, k1)
  Tensor dwconv2;      // (h, 1, k2, k2)
  Tensor dwconv3;      // (h, 1, k3, k3)
  Tensor fusion;       // (h, 2h, 1, 1)
  Tensor project_out;  // (C, h, 1, 1)
};

// x (N, C, H, W) -> (N, C, H, W). CPU only: on CUDA the module composes the ops.
Tensor dgdffn(const Tensor& x, const DgdffnWeights& w);

}  // namespace liednet::ops
