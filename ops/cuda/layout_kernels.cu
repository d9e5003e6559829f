// CUDA kernels of the layout op group (see layout_kernels.h).
#include "ops/cuda/layout_kernels.h"

namespace liednet::ops::cuda {

void register_layout_kernels(LayoutKernels&) {}

}  // namespace liednet::ops::cuda
