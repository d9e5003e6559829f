// CUDA kernels of the conv op group (see conv_kernels.h).
#include "ops/cuda/conv_kernels.h"

namespace liednet::ops::cuda {

void register_conv_kernels(ConvKernels&) {}

}  // namespace liednet::ops::cuda
