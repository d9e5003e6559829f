// CUDA kernels of the layout op group, as function pointers filled by
// register_layout_kernels (ops/cuda/layout_kernels.cu, CUDA builds only). The op
// files call them through cuda::layout_kernels() when their inputs are on the GPU.
#pragma once

#include <cstdint>

namespace liednet::ops::cuda {

struct LayoutKernels {
  // Filled by the CUDA backend issue.
};

void register_layout_kernels(LayoutKernels& k);
const LayoutKernels& layout_kernels();

}  // namespace liednet::ops::cuda
