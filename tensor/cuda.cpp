#include "tensor/cuda.h"

#ifdef LIEDNET_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace liednet {

#ifdef LIEDNET_HAVE_CUDA
bool cuda_built() { return true; }

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return n;
}

std::string cuda_device_name(int device) {
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) return "unknown";
  return prop.name;
}
#else
bool cuda_built() { return false; }
int cuda_device_count() { return 0; }
std::string cuda_device_name(int) { return "none"; }
#endif

}  // namespace liednet
