// Launch helpers shared by the .cu files (nvcc only): the library's one
// stream, grid sizes for grid-stride loops, and a thread's flat index.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace liednet {
// The one stream of the process (tensor/cuda.h, which the C++17 .cu files cannot include).
void* cuda_stream();
}  // namespace liednet

namespace liednet::ops::cuda {

// Threads per block of the grid-stride kernels; a power of two (the block
// reductions halve it).
constexpr int kThreads = 256;
// More blocks would only add launch work: the grid-stride loops cover the rest.
constexpr int64_t kMaxBlocks = int64_t{1} << 20;

inline cudaStream_t stream() { return static_cast<cudaStream_t>(::liednet::cuda_stream()); }
// A stream handed through a kernel table as void* (the tables are plain C++).
inline cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }

// Blocks of kThreads for one thread per element of n (n > 0), capped at kMaxBlocks.
inline unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

__device__ inline int64_t first_index() { return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ inline int64_t grid_stride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

}  // namespace liednet::ops::cuda
