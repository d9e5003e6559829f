// CUDA kernels of the elementwise op group, as function pointers filled by
// register_elementwise_kernels (ops/cuda/elementwise_kernels.cu, CUDA builds only). The op
// files call them through cuda::elementwise_kernels() when their inputs are on the GPU.
#pragma once

#include <cstdint>

namespace liednet::ops::cuda {

struct ElementwiseKernels {
  // Filled by the CUDA backend issue.
};

void register_elementwise_kernels(ElementwiseKernels& k);
const ElementwiseKernels& elementwise_kernels();

}  // namespace liednet::ops::cuda
