// How the two CUDA scans (ss2d_scan.cu, selective_scan.cu) launch their
// phases (nvcc, or the emulated device): one thin kernel per phase, a grid-stride loop over the
// phase's thread indices that calls the phase's __host__ __device__ function
// (ss2d_scan_device.h, selective_scan_device.h). The phases run in order on
// the one stream.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "ops/cuda/check.cuh"
#include "ops/cuda/launch.cuh"

namespace liednet::ops::cuda {

namespace {

// Each thread holds a segment's states in registers and local memory: smaller
// blocks than the elementwise kernels'.
constexpr int kPhaseThreads = 128;
constexpr int64_t kPhaseMaxBlocks = int64_t{1} << 16;

unsigned phase_grid(int64_t n) {
  const int64_t blocks = (n + kPhaseThreads - 1) / kPhaseThreads;
  return static_cast<unsigned>(blocks < kPhaseMaxBlocks ? blocks : kPhaseMaxBlocks);
}

// One kernel per phase: Phase::run(p, i) for every i in [0, count).
template <typename Phase, typename Params>
__global__ void phase_kernel(Params p, int64_t count) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride) Phase::run(p, i);
}

// Launches Phase over count indices; errors name the phase, file and line.
template <typename Phase, typename Params>
void launch_phase(const Params& p, int64_t count, const char* name, const char* file, int line) {
  if (count <= 0) return;
  void (*const kernel)(Params, int64_t) = phase_kernel<Phase, Params>;
  LIEDNET_LAUNCH_NAMED(name, kernel, phase_grid(count), kPhaseThreads, 0, stream())(p, count);
  check_launch(name, file, line);
}

}  // namespace

}  // namespace liednet::ops::cuda

#define SCAN_LAUNCH(Phase, p, count) launch_phase<Phase>(p, count, #Phase, __FILE__, __LINE__)

// A phase: a struct whose run(p, i) is `call` (p of type Params, i the thread index).
#define SCAN_PHASE(Name, Params, call) \
  struct Name {                        \
    __device__ static void run(const Params& p, int64_t i) { call; } \
  }
