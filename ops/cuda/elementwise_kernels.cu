// CUDA kernels of the elementwise op group (see elementwise_kernels.h).
#include "ops/cuda/elementwise_kernels.h"

namespace liednet::ops::cuda {

void register_elementwise_kernels(ElementwiseKernels&) {}

}  // namespace liednet::ops::cuda
