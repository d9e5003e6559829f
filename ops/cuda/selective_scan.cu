// CUDA kernels of ops/selective_scan.cpp (see selective_scan.h).
//
// Thin wrappers (scan_launch.cuh): each kernel is a grid-stride loop over one
// phase's thread indices that calls that phase's function from
// selective_scan_device.h, where all the arithmetic lives (and where the
// host-emulation test runs it on the CPU). The phases run in order on the one
// stream; no atomics anywhere.
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "ops/cuda/check.cuh"
#include "ops/cuda/scan_launch.cuh"
#include "ops/cuda/selective_scan.h"
#include "ops/cuda/selective_scan_device.h"

namespace liednet::ops::cuda {

namespace {

namespace dev = selective_scan_device;

// The phases, templated on the state count (16 in registers; 0: any).
#define PHASE(Name, call) SCAN_PHASE(Name, SelectiveScanParams, call)
template <int NS> PHASE(FwdLocal, dev::fwd_local<NS>(p, i));
template <int NS> PHASE(FwdCarry, dev::fwd_carry<NS>(p, i));
template <int NS> PHASE(FwdOutput, dev::fwd_output<NS>(p, i));
template <int NS> PHASE(BwdLocal, dev::bwd_local<NS>(p, i));
template <int NS> PHASE(BwdCarry, dev::bwd_carry<NS>(p, i));
template <int NS> PHASE(BwdSegment, dev::bwd_segment<NS>(p, i));
PHASE(BwdBC, dev::bwd_bc(p, i));
PHASE(RedA, dev::red_A(p, i));
PHASE(RedChannel, dev::red_channel(p, i));
#undef PHASE

void check_params(const SelectiveScanParams& p) {
  if (p.N < 1 || p.N > kScanMaxState || p.groups < 1 || p.channels % p.groups != 0 ||
      p.nseg != (p.L + kScanSegment - 1) / kScanSegment)
    throw std::runtime_error("selective_scan CUDA: inconsistent sizes (channels " + std::to_string(p.channels) +
                             ", groups " + std::to_string(p.groups) + ", N " + std::to_string(p.N) + ", L " +
                             std::to_string(p.L) + ")");
}

template <int NS>
void forward_n(const SelectiveScanParams& p) {
  SCAN_LAUNCH(FwdLocal<NS>, p, p.segments());
  SCAN_LAUNCH(FwdCarry<NS>, p, p.sequences());
  SCAN_LAUNCH(FwdOutput<NS>, p, p.segments());
}

template <int NS>
void backward_n(const SelectiveScanParams& p) {
  SCAN_LAUNCH(BwdLocal<NS>, p, p.segments());
  SCAN_LAUNCH(BwdCarry<NS>, p, p.sequences());
  SCAN_LAUNCH(BwdSegment<NS>, p, p.segments());
  if (p.dB || p.dC) SCAN_LAUNCH(BwdBC, p, p.batch * p.groups * p.N * p.nseg);
}

void forward(const SelectiveScanParams& p) {
  check_params(p);
  if (p.N == 16) forward_n<16>(p);
  else forward_n<0>(p);
}

void backward(const SelectiveScanParams& p) {
  check_params(p);
  if (p.N == 16) backward_n<16>(p);
  else backward_n<0>(p);
}

void reduce(const SelectiveScanParams& p) {
  check_params(p);
  if (p.dA) SCAN_LAUNCH(RedA, p, p.channels * p.N);
  if (p.dD || p.dbias) SCAN_LAUNCH(RedChannel, p, p.channels);
}

}  // namespace

void register_selective_scan_kernels(SelectiveScanKernels& k) {
  k.forward = forward;
  k.backward = backward;
  k.reduce = reduce;
}

}  // namespace liednet::ops::cuda
