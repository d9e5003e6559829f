// The CUDA kernel tables. Every build has them; in a CUDA build each group's
// register_*_kernels (in its .cu file) fills its table once, on first use.
// Without CUDA the tables stay empty, which is never observed: CUDA tensors
// cannot be created then.
#include <mutex>

#include "ops/cuda/conv_kernels.h"
#include "ops/cuda/elementwise_kernels.h"
#include "ops/cuda/layout_kernels.h"
#include "ops/cuda/scan_kernels.h"
#include "tensor/error.h"

namespace liednet::ops::cuda {

namespace {
struct Tables {
  ElementwiseKernels elementwise;
  ConvKernels conv;
  LayoutKernels layout;
  ScanKernels scan;
};

Tables& tables() {
  static Tables t;
  static std::once_flag once;
  std::call_once(once, [] {
#ifdef LIEDNET_HAVE_CUDA
    register_elementwise_kernels(t.elementwise);
    register_conv_kernels(t.conv);
    register_layout_kernels(t.layout);
    register_scan_kernels(t.scan);
#endif
  });
  return t;
}
}  // namespace

const ElementwiseKernels& elementwise_kernels() { return tables().elementwise; }
const ConvKernels& conv_kernels() { return tables().conv; }
const LayoutKernels& layout_kernels() { return tables().layout; }
const ScanKernels& scan_kernels() { return tables().scan; }

}  // namespace liednet::ops::cuda
