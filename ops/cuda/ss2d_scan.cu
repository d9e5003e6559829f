// CUDA kernels of ops/ss2d_scan.cpp (see ss2d_scan.h).
//
// Thin wrappers (scan_launch.cuh): each kernel is a grid-stride loop over one
// phase's thread indices that calls that phase's function from
// ss2d_scan_device.h, where all the arithmetic lives (and where the
// host-emulation test runs it on the CPU). The phases run in order on the one
// stream; no atomics anywhere.
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "ops/cuda/check.cuh"
#include "ops/cuda/scan_launch.cuh"
#include "ops/cuda/ss2d_scan.h"
#include "ops/cuda/ss2d_scan_device.h"

namespace liednet::ops::cuda {

namespace {

namespace dev = ss2d_scan_device;

// The phases, templated on the state count (16: LIEDNet's, in registers; 0: any).
#define PHASE(Name, call) SCAN_PHASE(Name, SS2DScanParams, call)
template <int NS> PHASE(FwdLocal, dev::fwd_local<NS>(p, i));
template <int NS> PHASE(FwdCarry, dev::fwd_carry<NS>(p, i));
template <int NS> PHASE(FwdOutput, dev::fwd_output<NS>(p, i));
PHASE(FwdMerge, dev::fwd_merge(p, i));
template <int NS> PHASE(BwdLocal, dev::bwd_local<NS>(p, i));
template <int NS> PHASE(BwdCarry, dev::bwd_carry<NS>(p, i));
template <int NS> PHASE(BwdSegment, dev::bwd_segment<NS>(p, i));
PHASE(BwdBC, dev::bwd_bc(p, i));
PHASE(BwdDtRows, dev::bwd_dt_rows(p, i));
PHASE(RedAlogs, dev::red_alogs(p, i));
PHASE(RedChannel, dev::red_channel(p, i));
PHASE(RedWdt, dev::red_wdt(p, i));
PHASE(RedDx, dev::red_dx(p, i));
#undef PHASE

void check_params(const SS2DScanParams& p) {
  if (p.N < 1 || p.N > kScanMaxState || p.R < 1 || p.P != p.R + 2 * p.N || p.L != p.H * p.W ||
      p.nseg != (p.L + kScanSegment - 1) / kScanSegment)
    throw std::runtime_error("ss2d_scan CUDA: inconsistent sizes (N " + std::to_string(p.N) + ", R " +
                             std::to_string(p.R) + ", L " + std::to_string(p.L) + ")");
}

template <int NS>
void forward_n(const SS2DScanParams& p) {
  SCAN_LAUNCH(FwdLocal<NS>, p, p.segments());
  SCAN_LAUNCH(FwdCarry<NS>, p, p.sequences());
  SCAN_LAUNCH(FwdOutput<NS>, p, p.segments());
  SCAN_LAUNCH(FwdMerge, p, p.batch * p.d * p.L);
}

template <int NS>
void backward_n(const SS2DScanParams& p) {
  SCAN_LAUNCH(BwdLocal<NS>, p, p.segments());
  SCAN_LAUNCH(BwdCarry<NS>, p, p.sequences());
  SCAN_LAUNCH(BwdSegment<NS>, p, p.segments());
  SCAN_LAUNCH(BwdBC, p, p.batch * 4 * p.N * p.nseg);
  SCAN_LAUNCH(BwdDtRows, p, p.batch * 4 * p.L);
}

void ss2d_forward(const SS2DScanParams& p) {
  check_params(p);
  if (p.N == 16) forward_n<16>(p);
  else forward_n<0>(p);
}

void ss2d_backward(const SS2DScanParams& p) {
  check_params(p);
  if (p.N == 16) backward_n<16>(p);
  else backward_n<0>(p);
}

void ss2d_reduce(const SS2DScanParams& p) {
  check_params(p);
  if (p.dx) SCAN_LAUNCH(RedDx, p, p.batch * p.d * p.L);
  if (p.dalogs) SCAN_LAUNCH(RedAlogs, p, 4 * p.d * p.N);
  if (p.dds || p.dbias) SCAN_LAUNCH(RedChannel, p, 4 * p.d);
  if (p.dwdt) SCAN_LAUNCH(RedWdt, p, 4 * p.d * p.R);
}

}  // namespace

void register_ss2d_scan_kernels(SS2DScanKernels& k) {
  k.ss2d_forward = ss2d_forward;
  k.ss2d_backward = ss2d_backward;
  k.ss2d_reduce = ss2d_reduce;
}

}  // namespace liednet::ops::cuda
