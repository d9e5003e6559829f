// Launch helpers shared by the .cu files: the library's one stream, grid
// sizes for grid-stride loops, a thread's flat index, and the two macros
// every kernel goes through so that the same source runs under nvcc and on
// the emulated device of -DLIEDNET_CUDA=EMULATE (ops/cuda/emu/device.h):
//
//   LIEDNET_LAUNCH(kernel, grid, block, shared_bytes, stream)(args...)
//     kernel<<<grid, block, shared_bytes, stream>>>(args...) under nvcc; the
//     emulated launch (argument checks, fibers) otherwise. `kernel` must not
//     contain a comma: bind a template with several arguments to a name first.
//   LIEDNET_SHARED(type, name, count)
//     `__shared__ type name[count]` under nvcc; an instrumented array
//     (racecheck, bounds, NaN-filled per block) otherwise.
//   LIEDNET_SHARED_PTR(type)
//     what a __device__ helper takes for a shared array: type* under nvcc.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#ifdef __CUDACC__
#define LIEDNET_LAUNCH(kernel, grid, block, smem, stream) kernel<<<(grid), (block), (smem), (stream)>>>
#define LIEDNET_LAUNCH_NAMED(name, kernel, grid, block, smem, stream) kernel<<<(grid), (block), (smem), (stream)>>>
#define LIEDNET_SHARED(type, name, count) __shared__ type name[count]
#define LIEDNET_SHARED_DYNAMIC(type, name) extern __shared__ type name[]
#define LIEDNET_SHARED_PTR(type) type*
#else
#define LIEDNET_LAUNCH(kernel, grid, block, smem, stream) \
  ::liednet::emu::launch(#kernel, kernel, (grid), (block), (smem), (stream))
// The same, with the name the emulator's reports give the kernel.
#define LIEDNET_LAUNCH_NAMED(name, kernel, grid, block, smem, stream) \
  ::liednet::emu::launch((name), kernel, (grid), (block), (smem), (stream))
#define LIEDNET_SHARED(type, name, count) static ::liednet::emu::SharedArray<type, (count)> name
#define LIEDNET_SHARED_DYNAMIC(type, name) auto name = ::liednet::emu::dynamic_shared_as<type>()
#define LIEDNET_SHARED_PTR(type) ::liednet::emu::SharedPtr<type>
#endif

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
