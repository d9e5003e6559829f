// CUDA kernels of the scan op group, as function pointers filled by
// register_scan_kernels (ops/cuda/scan_kernels.cu, CUDA builds only). The op
// files call them through cuda::scan_kernels() when their inputs are on the GPU.
#pragma once

#include <cstdint>

namespace liednet::ops::cuda {

struct ScanKernels {
  // Filled by the CUDA backend issue.
};

void register_scan_kernels(ScanKernels& k);
const ScanKernels& scan_kernels();

}  // namespace liednet::ops::cuda
