// ops::selective_scan on the GPU: the kernels of ops/cuda/selective_scan.h
// over segments of cuda::kScanSegment steps (opt.chunk is the CPU's chunk and
// does not apply); docs/cuda.md ("The scans on CUDA") describes the phases.
//
// With |u| = Bt Dc L values, the forward keeps for the backward the segment
// start states (|u| N / 32) and the segment step sums (|u| / 32), besides the
// inputs; its scratch is the local end states (as large as the start states).
// The backward's scratch is dt at every step (|u|), the segment carries (twice
// the start states) and the per-segment parameter sums in double. No atomics:
// bit-identical from run to run.
#include "autograd/autograd.h"
#include "ops/check.h"
#include "ops/cuda/selective_scan.h"
#include "ops/selective_scan.h"

namespace liednet::ops::detail {

namespace {

struct Saved {
  Tensor u, delta, A, B, C, D, bias;  // D and bias may be undefined
  Tensor hstart;                      // (segments, N): the state before each segment
  Tensor sumdelta;                    // (segments): the sum of each segment's steps dt
};

cuda::SelectiveScanParams params(const Saved& s, bool softplus) {
  cuda::SelectiveScanParams p;
  p.batch = s.u.size(0), p.channels = s.u.size(1), p.L = s.u.size(2);
  p.groups = s.B.size(1), p.N = s.A.size(1);
  p.nseg = (p.L + cuda::kScanSegment - 1) / cuda::kScanSegment;
  p.softplus = softplus;
  p.u = s.u.data<float>();
  p.delta = s.delta.data<float>();
  p.A = s.A.data<float>();
  p.B = s.B.data<float>();
  p.C = s.C.data<float>();
  p.D = f32_or_null(s.D);
  p.bias = f32_or_null(s.bias);
  return p;
}

// Adds the gradients into the defined gi (u, delta, A, B, C, D, delta_bias).
void backward(const char* op, const Saved& s, bool softplus, const Tensor& gy, std::vector<Tensor>& gi) {
  const auto run_backward = cuda_kernel(cuda::selective_scan_kernels().backward, op);
  const auto reduce = cuda_kernel(cuda::selective_scan_kernels().reduce, op);
  cuda::SelectiveScanParams p = params(s, softplus);
  const int64_t segs = p.segments();
  Tensor outloc = cuda_f32({segs, p.N}), ghend = cuda_f32({segs, p.N}), dl = cuda_f32(s.u.shape());
  Tensor part_a = cuda_f64_scratch(segs * p.N), part_d = cuda_f64_scratch(segs), part_bias = cuda_f64_scratch(segs);
  p.hstart = const_cast<float*>(s.hstart.data<float>());      // read only in the backward
  p.sumdelta = const_cast<float*>(s.sumdelta.data<float>());  // read only in the backward
  p.gy = gy.data<float>();
  p.outloc = outloc.data<float>();
  p.ghend = ghend.data<float>();
  p.dl = dl.data<float>();
  p.part_a = f64_data(part_a);
  p.part_d = f64_data(part_d);
  p.part_bias = f64_data(part_bias);
  p.du = f32_or_null(gi[0]);
  p.ddelta = f32_or_null(gi[1]);
  p.dA = f32_or_null(gi[2]);
  p.dB = f32_or_null(gi[3]);
  p.dC = f32_or_null(gi[4]);
  p.dD = f32_or_null(gi[5]);
  p.dbias = f32_or_null(gi[6]);
  run_backward(p);
  reduce(p);
}

}  // namespace

Tensor selective_scan_cuda(const Tensor& u, const Tensor& delta, const Tensor& A, const Tensor& B, const Tensor& C,
                           const Tensor& D, const Tensor& delta_bias, const ScanOptions& opt) {
  const char* op = "selective_scan";
  const auto forward = cuda_kernel(cuda::selective_scan_kernels().forward, op);
  Saved s{u.detach(), delta.detach(), A.detach(), B.detach(), C.detach(),
          D.defined() ? D.detach() : Tensor(), delta_bias.defined() ? delta_bias.detach() : Tensor(), {}, {}};
  cuda::SelectiveScanParams p = params(s, opt.delta_softplus);
  s.hstart = cuda_f32({p.segments(), p.N});
  s.sumdelta = cuda_f32({p.segments()});
  Tensor hloc = cuda_f32({p.segments(), p.N});
  Tensor y = cuda_f32(u.shape());
  p.hloc = hloc.data<float>();
  p.sumdelta = s.sumdelta.data<float>();
  p.hstart = s.hstart.data<float>();
  p.y = y.data<float>();
  forward(p);
  if (autograd::needs_grad({&u, &delta, &A, &B, &C, &D, &delta_bias})) {
    const bool softplus = opt.delta_softplus;
    autograd::record(y, op, {u, delta, A, B, C, D, delta_bias},
                     [op, s, softplus](const Tensor& g, std::vector<Tensor>& gi) {
                       LIEDNET_CHECK(on_cuda(op, g), op, ": the gradient of a CUDA output must be on CUDA, got ",
                                     g.str());
                       backward(op, s, softplus, g, gi);
                     });
  }
  return y;
}

}  // namespace liednet::ops::detail
