// The fixed-order mean over ranks on the GPU (see comm_kernels.h).
#include "train/comm_kernels.h"

#include "ops/cuda/check.cuh"
#include "ops/cuda/launch.cuh"

#include <cuda_runtime.h>

namespace liednet::train::cuda {

namespace {
constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = int64_t{1} << 16;

__global__ void mean_in_rank_order_kernel(float* out, const float* parts, int64_t n, int64_t stride, int k) {
  const float ranks = static_cast<float>(k);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float s = parts[i];
    for (int r = 1; r < k; ++r) s += parts[r * stride + i];  // rank order, as on the host
    out[i] = s / ranks;
  }
}
}  // namespace

void mean_in_rank_order_f32(float* out, const float* parts, int64_t n, int64_t stride, int k, void* stream) {
  if (n <= 0) return;
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  const unsigned grid = static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
  LIEDNET_LAUNCH(mean_in_rank_order_kernel, grid, kThreads, 0, static_cast<cudaStream_t>(stream))(out, parts, n, stride,
      k);
  LIEDNET_CHECK_LAUNCH("mean_in_rank_order");
}

}  // namespace liednet::train::cuda
