// Error checks shared by the .cu files (plain C++17, nvcc only). A failing
// CUDA runtime call or kernel launch throws std::runtime_error naming the call
// or kernel, CUDA's message, the file and the line. A bad launch (configuration,
// no image for this GPU) shows at once through cudaGetLastError; a fault inside
// a kernel surfaces at the next synchronising call, which tensor/cuda.cpp checks.
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace liednet::ops::cuda {

[[noreturn]] inline void fail_at(const char* what, const char* detail, const char* file, int line) {
  throw std::runtime_error(std::string(what) + " failed: " + detail + " (" + file + ":" + std::to_string(line) + ")");
}

inline void check_cuda(cudaError_t err, const char* what, const char* file, int line) {
  if (err != cudaSuccess) fail_at(what, cudaGetErrorString(err), file, line);
}

inline void check_launch(const char* kernel, const char* file, int line) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) fail_at((std::string("launch of CUDA kernel ") + kernel).c_str(), cudaGetErrorString(err), file, line);
}

}  // namespace liednet::ops::cuda

// A CUDA runtime call, e.g. LIEDNET_CUDA_CHECK(cudaMalloc(&p, n)).
#define LIEDNET_CUDA_CHECK(call) ::liednet::ops::cuda::check_cuda((call), #call, __FILE__, __LINE__)
// Right after a launch; kernel is a string naming it.
#define LIEDNET_CHECK_LAUNCH(kernel) ::liednet::ops::cuda::check_launch((kernel), __FILE__, __LINE__)
