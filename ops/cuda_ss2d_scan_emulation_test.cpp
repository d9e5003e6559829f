// The CUDA ss2d_scan's algorithm, verified without a GPU: every phase function
// of ops/cuda/ss2d_scan_device.h (the code the CUDA kernels call per thread) is run
// on the host over all its thread indices, in the order the kernels run, and
// the output and every gradient are compared with the CPU op in f32 and in f64.
// The projection GEMMs, which cuBLAS does on the GPU, are plain loops here.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "op_harness.h"
#include "scan_cases.h"
#include "ops/cuda/ss2d_scan_device.h"
#include "ops/ss2d_scan.h"

using namespace liednet;

namespace {

namespace dev = ops::cuda::ss2d_scan_device;

using ScanShape = testing::SS2DShape;
using testing::make_ss2d_inputs;  // the six inputs in f64, in the network's ranges

// y and the six gradients.
using Results = std::vector<std::vector<double>>;

// The CPU op in dtype dt, with upstream gradient gy.
Results cpu_op(const std::vector<Tensor>& xs64, const Tensor& gy64, DType dt) {
  std::vector<Tensor> in;
  for (const Tensor& x : xs64) in.push_back(x.to(dt).set_requires_grad());
  Tensor y = ops::ss2d_scan(in[0], in[1], in[2], in[3], in[4], in[5]);
  y.backward(gy64.to(dt));
  Results r{y.to_vector()};
  for (const Tensor& x : in) r.push_back(x.grad().to_vector());
  return r;
}

using testing::to_f32;

// Deliberate faults, to show the comparison would catch them.
enum class Fault { none, no_forward_carry, no_backward_carry };

// What the CUDA path of ops::ss2d_scan does (ops/ss2d_scan.cpp, forward_cuda
// and backward_cuda), on host arrays.
template <int NS>
Results emulate(const ScanShape& sh, const std::vector<Tensor>& xs64, const Tensor& gy64, Fault fault) {
  std::vector<float> x = to_f32(xs64[0]), wx = to_f32(xs64[1]), wdt = to_f32(xs64[2]), bias = to_f32(xs64[3]),
                     alogs = to_f32(xs64[4]), ds = to_f32(xs64[5]), gy = to_f32(gy64);
  ops::cuda::SS2DScanParams p;
  p.batch = sh.batch, p.d = sh.d, p.H = sh.H, p.W = sh.W, p.L = sh.H * sh.W;
  p.R = sh.R, p.N = sh.N, p.P = sh.R + 2 * sh.N;
  p.nseg = (p.L + dev::kS - 1) / dev::kS;
  const int64_t L = p.L, KS = 4 * p.P, segs = p.segments(), d = p.d;

  // The projection GEMM: proj[b] (L, 4P) = x[b]^T wx^T, f32 sums.
  std::vector<float> proj(p.batch * L * KS);
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t pix = 0; pix < L; ++pix)
      for (int64_t col = 0; col < KS; ++col) {
        float v = 0;
        for (int64_t c = 0; c < d; ++c) v += x[(b * d + c) * L + pix] * wx[col * d + c];
        proj[(b * L + pix) * KS + col] = v;
      }
  p.x = x.data(), p.proj = proj.data(), p.wdt = wdt.data(), p.bias = bias.data(), p.alogs = alogs.data();
  p.ds = ds.data();

  // Forward: F1 .. F4.
  std::vector<float> hloc(segs * p.N), sumdelta(segs), hstart(segs * p.N, 0.0f), ys(p.plane()), y(p.batch * d * L);
  p.hloc = hloc.data(), p.sumdelta = sumdelta.data(), p.hstart = hstart.data(), p.ys = ys.data(), p.y = y.data();
  for (int64_t i = 0; i < segs; ++i) dev::fwd_local<NS>(p, i);
  if (fault != Fault::no_forward_carry)
    for (int64_t i = 0; i < p.sequences(); ++i) dev::fwd_carry<NS>(p, i);
  for (int64_t i = 0; i < segs; ++i) dev::fwd_output<NS>(p, i);
  for (int64_t i = 0; i < p.batch * d * L; ++i) dev::fwd_merge(p, i);

  // Backward: B1 .. B5.
  std::vector<float> outloc(segs * p.N), ghend(segs * p.N, 0.0f), dl(p.plane()), du(p.plane()), gz(p.plane());
  std::vector<double> part_a(segs * p.N), part_d(segs), part_bias(segs), part_w(segs * p.R);
  std::vector<float> dproj(p.batch * L * KS, std::nanf(""));  // every entry must be written
  p.gy = gy.data(), p.outloc = outloc.data(), p.ghend = ghend.data(), p.dl = dl.data(), p.du = du.data();
  p.gz = gz.data(), p.part_a = part_a.data(), p.part_d = part_d.data(), p.part_bias = part_bias.data();
  p.part_w = part_w.data(), p.dproj = dproj.data();
  for (int64_t i = 0; i < segs; ++i) dev::bwd_local<NS>(p, i);
  if (fault != Fault::no_backward_carry)
    for (int64_t i = 0; i < p.sequences(); ++i) dev::bwd_carry<NS>(p, i);
  for (int64_t i = 0; i < segs; ++i) dev::bwd_segment<NS>(p, i);
  for (int64_t i = 0; i < p.batch * 4 * p.N * p.nseg; ++i) dev::bwd_bc(p, i);
  for (int64_t i = 0; i < p.batch * 4 * L; ++i) dev::bwd_dt_rows(p, i);

  // B6: the gradients start at zero (as autograd hands them over) and are added into.
  std::vector<float> dx(x.size(), 0.0f), dwx(wx.size(), 0.0f), dwdt(wdt.size(), 0.0f), dbias(bias.size(), 0.0f),
      dalogs(alogs.size(), 0.0f), dds(ds.size(), 0.0f);
  p.dx = dx.data(), p.dwdt = dwdt.data(), p.dbias = dbias.data(), p.dalogs = dalogs.data(), p.dds = dds.data();
  for (int64_t i = 0; i < p.batch * d * L; ++i) dev::red_dx(p, i);
  for (int64_t i = 0; i < 4 * d * p.N; ++i) dev::red_alogs(p, i);
  for (int64_t i = 0; i < 4 * d; ++i) dev::red_channel(p, i);
  for (int64_t i = 0; i < 4 * d * p.R; ++i) dev::red_wdt(p, i);
  // The two GEMMs: dx[b] += wx^T dproj[b]^T; dwx += dproj[b]^T x[b]^T over samples in order.
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t c = 0; c < d; ++c)
      for (int64_t pix = 0; pix < L; ++pix) {
        float v = 0;
        for (int64_t col = 0; col < KS; ++col) v += wx[col * d + c] * dproj[(b * L + pix) * KS + col];
        dx[(b * d + c) * L + pix] += v;
      }
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t col = 0; col < KS; ++col)
      for (int64_t c = 0; c < d; ++c) {
        float v = 0;
        for (int64_t pix = 0; pix < L; ++pix) v += dproj[(b * L + pix) * KS + col] * x[(b * d + c) * L + pix];
        dwx[col * d + c] += v;
      }

  Results r;
  for (const auto* v : {&y, &dx, &dwx, &dwdt, &dbias, &dalogs, &dds}) r.emplace_back(v->begin(), v->end());
  return r;
}

Results emulate_any(const ScanShape& sh, const std::vector<Tensor>& xs64, const Tensor& gy64,
                    Fault fault = Fault::none) {
  return sh.N == 16 ? emulate<16>(sh, xs64, gy64, fault) : emulate<0>(sh, xs64, gy64, fault);
}

using testing::worst_scaled_error;

}  // namespace

TEST_SUITE("ops") {
  TEST_CASE("CUDA ss2d_scan phases, emulated on the host, match the CPU op") {
    struct Case {
      const char* name;
      ScanShape shape;
      double bias_shift;
    };
    const Case cases[] = {
        {"1x3x5x7 R=1 N=3 (L=35: a partial second segment)", {1, 3, 5, 7, 1, 3}, -1.0},
        {"1x2x3x4 R=2 N=5 (L=12 < segment)", {1, 2, 3, 4, 2, 5}, -1.0},
        {"1x8x12x11 R=2 N=16 (5 segments, the N=16 path)", {1, 8, 12, 11, 2, 16}, -1.0},
        {"1x8x12x11 R=2 N=4", {1, 8, 12, 11, 2, 4}, -1.0},
        {"2x4x6x9 R=1 N=16 (batch 2)", {2, 4, 6, 9, 1, 16}, -1.0},
        {"1x3x4x10 R=1 N=3, softplus above its threshold", {1, 3, 4, 10, 1, 3}, 23.0},
        {"1x48x48x48 R=3 N=16 (72 segments, first-level channels)", {1, 48, 48, 48, 3, 16}, -1.0},
    };
    for (const Case& c : cases) {
      INFO(c.name);
      const auto xs = make_ss2d_inputs(c.shape, 5, c.bias_shift);
      Generator g(9);
      const Tensor gy = Tensor::randn(xs[0].shape(), g, DType::F64);
      const Results emu = emulate_any(c.shape, xs, gy);
      int which32 = -1, which64 = -1;
      const double e32 = worst_scaled_error(emu, cpu_op(xs, gy, DType::F32), &which32);
      const double e64 = worst_scaled_error(emu, cpu_op(xs, gy, DType::F64), &which64);
      MESSAGE(std::string(c.name), ": vs CPU f32 ", e32, " (worst: result ", which32, "), vs CPU f64 ", e64,
              " (worst: result ", which64, ")");
      // Measured about 5e-7 (expf/log1pf here vs the CPU kernel's polynomials,
      // and other summation orders); 1e-5 leaves room for other libms.
      CHECK(e32 <= 1e-5);
      CHECK(e64 <= 1e-5);
      // Deterministic: a second run gives the same bits.
      CHECK(emulate_any(c.shape, xs, gy) == emu);
    }
  }

  TEST_CASE("CUDA ss2d_scan emulation: the comparison catches a broken segment carry") {
    const ScanShape shape{1, 8, 12, 11, 2, 16};
    const auto xs = make_ss2d_inputs(shape, 5);
    Generator g(9);
    const Tensor gy = Tensor::randn(xs[0].shape(), g, DType::F64);
    const Results cpu = cpu_op(xs, gy, DType::F64);
    CHECK(worst_scaled_error(emulate_any(shape, xs, gy), cpu) <= 1e-5);
    // Without the forward carry every segment starts from h = 0: y is wrong.
    const Results no_fwd = emulate_any(shape, xs, gy, Fault::no_forward_carry);
    CHECK(testing::scaled_max_error(Tensor::from_vector({int64_t(no_fwd[0].size())}, no_fwd[0], DType::F64),
                                    Tensor::from_vector({int64_t(cpu[0].size())}, cpu[0], DType::F64)) > 1e-2);
    // Without the backward carry the gradients miss the later segments.
    int which = -1;
    const Results no_bwd = emulate_any(shape, xs, gy, Fault::no_backward_carry);
    CHECK(no_bwd[0] == emulate_any(shape, xs, gy)[0]);
    CHECK(worst_scaled_error(no_bwd, cpu, &which) > 1e-2);
    // The largest entry of one gradient (dt_projs_bias) off by 1e-3 of its size is seen.
    Results off = emulate_any(shape, xs, gy);
    size_t big = 0;
    for (size_t i = 0; i < off[4].size(); ++i)
      if (std::fabs(off[4][i]) > std::fabs(off[4][big])) big = i;
    off[4][big] += 1e-3 * std::max(1.0, std::fabs(off[4][big]));
    CHECK(worst_scaled_error(off, cpu) > 5e-4);
  }
}
