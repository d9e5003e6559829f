// CUDA kernels of the conv op group, as function pointers filled by
// register_conv_kernels (ops/cuda/conv_kernels.cu, CUDA builds only). The op
// files call them through cuda::conv_kernels() when their inputs are on the GPU.
#pragma once

#include <cstdint>

namespace liednet::ops::cuda {

struct ConvKernels {
  // Filled by the CUDA backend issue.
};

void register_conv_kernels(ConvKernels& k);
const ConvKernels& conv_kernels();

}  // namespace liednet::ops::cuda
