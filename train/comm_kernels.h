// The CUDA kernel of the NCCL communicator's fixed-order mean (train/comm_kernels.cu,
// CUDA builds only; plain C++17 so nvcc can include it).
#pragma once

#include <cstdint>

namespace liednet::train::cuda {

// out[i] = (parts[i] + parts[stride + i] + ... + parts[(k - 1) stride + i]) / k,
// summed left to right in float: the same operations as the host's
// mean_in_rank_order (train/comm.h). Queued on `stream` (a cudaStream_t); a
// launch error throws std::runtime_error naming the kernel.
void mean_in_rank_order_f32(float* out, const float* parts, int64_t n, int64_t stride, int k, void* stream);

}  // namespace liednet::train::cuda
