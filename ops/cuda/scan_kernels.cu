// CUDA kernels of the scan op group (see scan_kernels.h).
//
// Thin wrappers: each kernel is a grid-stride loop over one phase's thread
// indices that calls that phase's function from scan_device.h, where all the
// arithmetic lives (and where the host-emulation test runs it on the CPU). The
// phases run in order on the one stream; no atomics anywhere.
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "ops/cuda/check.cuh"
#include "ops/cuda/scan_device.h"
#include "ops/cuda/scan_kernels.h"

namespace liednet {
// The one stream of the process (tensor/cuda.h, which this C++17 file cannot include).
void* cuda_stream();
}  // namespace liednet

namespace liednet::ops::cuda {

namespace {

namespace dev = scan_device;

constexpr int kThreads = 128;
constexpr int64_t kMaxBlocks = int64_t{1} << 16;


cudaStream_t stream() { return static_cast<cudaStream_t>(liednet::cuda_stream()); }

unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

// One kernel per phase: Phase::run(p, i) for every i in [0, count).
template <typename Phase>
__global__ void phase_kernel(ScanParams p, int64_t count) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride) Phase::run(p, i);
}

// Launches Phase over count indices; errors name the phase, file and line.
template <typename Phase>
void launch(const ScanParams& p, int64_t count, const char* name, const char* file, int line) {
  if (count <= 0) return;
  phase_kernel<Phase><<<grid_for(count), kThreads, 0, stream()>>>(p, count);
  check_launch(name, file, line);
}
#define SCAN_LAUNCH(Phase, p, count) launch<Phase>(p, count, #Phase, __FILE__, __LINE__)

// The phases, templated on the state count (16: LIEDNet's, in registers; 0: any).
#define SCAN_PHASE(Name, call) \
  struct Name {                \
    __device__ static void run(const ScanParams& p, int64_t i) { call; } \
  }
template <int NS> SCAN_PHASE(FwdLocal, dev::fwd_local<NS>(p, i));
template <int NS> SCAN_PHASE(FwdCarry, dev::fwd_carry<NS>(p, i));
template <int NS> SCAN_PHASE(FwdOutput, dev::fwd_output<NS>(p, i));
SCAN_PHASE(FwdMerge, dev::fwd_merge(p, i));
template <int NS> SCAN_PHASE(BwdLocal, dev::bwd_local<NS>(p, i));
template <int NS> SCAN_PHASE(BwdCarry, dev::bwd_carry<NS>(p, i));
template <int NS> SCAN_PHASE(BwdSegment, dev::bwd_segment<NS>(p, i));
SCAN_PHASE(BwdBC, dev::bwd_bc(p, i));
SCAN_PHASE(BwdDtRows, dev::bwd_dt_rows(p, i));
SCAN_PHASE(RedAlogs, dev::red_alogs(p, i));
SCAN_PHASE(RedChannel, dev::red_channel(p, i));
SCAN_PHASE(RedWdt, dev::red_wdt(p, i));
SCAN_PHASE(RedDx, dev::red_dx(p, i));
#undef SCAN_PHASE

void check_params(const ScanParams& p) {
  if (p.N < 1 || p.N > kScanMaxState || p.R < 1 || p.P != p.R + 2 * p.N || p.L != p.H * p.W ||
      p.nseg != (p.L + kScanSegment - 1) / kScanSegment)
    throw std::runtime_error("ss2d_scan CUDA: inconsistent sizes (N " + std::to_string(p.N) + ", R " +
                             std::to_string(p.R) + ", L " + std::to_string(p.L) + ")");
}

template <int NS>
void forward_n(const ScanParams& p) {
  SCAN_LAUNCH(FwdLocal<NS>, p, p.segments());
  SCAN_LAUNCH(FwdCarry<NS>, p, p.sequences());
  SCAN_LAUNCH(FwdOutput<NS>, p, p.segments());
  SCAN_LAUNCH(FwdMerge, p, p.batch * p.d * p.L);
}

template <int NS>
void backward_n(const ScanParams& p) {
  SCAN_LAUNCH(BwdLocal<NS>, p, p.segments());
  SCAN_LAUNCH(BwdCarry<NS>, p, p.sequences());
  SCAN_LAUNCH(BwdSegment<NS>, p, p.segments());
  SCAN_LAUNCH(BwdBC, p, p.batch * 4 * p.N * p.nseg);
  SCAN_LAUNCH(BwdDtRows, p, p.batch * 4 * p.L);
}

void ss2d_forward(const ScanParams& p) {
  check_params(p);
  if (p.N == 16) forward_n<16>(p);
  else forward_n<0>(p);
}

void ss2d_backward(const ScanParams& p) {
  check_params(p);
  if (p.N == 16) backward_n<16>(p);
  else backward_n<0>(p);
}

void ss2d_reduce(const ScanParams& p) {
  check_params(p);
  if (p.dx) SCAN_LAUNCH(RedDx, p, p.batch * p.d * p.L);
  if (p.dalogs) SCAN_LAUNCH(RedAlogs, p, 4 * p.d * p.N);
  if (p.dds || p.dbias) SCAN_LAUNCH(RedChannel, p, 4 * p.d);
  if (p.dwdt) SCAN_LAUNCH(RedWdt, p, 4 * p.d * p.R);
}

}  // namespace

void register_scan_kernels(ScanKernels& k) {
  k.ss2d_forward = ss2d_forward;
  k.ss2d_backward = ss2d_backward;
  k.ss2d_reduce = ss2d_reduce;
}

}  // namespace liednet::ops::cuda
