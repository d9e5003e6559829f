// The CUDA selective_scan's algorithm, verified without a GPU: every phase
// function of ops/cuda/selective_scan_device.h (the code the CUDA kernels call
// per thread) is run on the host over all its thread indices, in the order
// ops/selective_scan_cuda.cpp launches them, and the output and every
// gradient are compared with the CPU op in f32 and in f64.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "op_harness.h"
#include "ops/cuda/selective_scan_device.h"
#include "ops/selective_scan.h"
#include "scan_cases.h"

using namespace liednet;

namespace {

namespace dev = ops::cuda::selective_scan_device;

using testing::ScanShape;

// The op's options and which optional inputs it gets.
struct Variant {
  bool softplus = true, with_d = true, with_bias = true;
};

autograd::TensorFn scan_fn(const Variant& v) {
  return [v](const std::vector<Tensor>& x) {
    return ops::selective_scan(x[0], x[1], x[2], x[3], x[4], v.with_d ? x[5] : Tensor(),
                               v.with_bias ? x[6] : Tensor(), {.delta_softplus = v.softplus});
  };
}

// y and the seven gradients (u, delta, A, B, C, D, delta_bias); empty where
// the op takes no such input.
using Results = std::vector<std::vector<double>>;

constexpr uint64_t kGradSeed = 9;  // the upstream gradient's seed

Results cpu_op(const std::vector<Tensor>& xs64, const Variant& v, DType dt) {
  Results r;
  for (const Tensor& t : testing::outputs_and_grads(scan_fn(v), xs64, dt, kGradSeed))
    r.push_back(t.defined() ? t.to_vector() : std::vector<double>{});
  return r;
}

using testing::to_f32;

// Deliberate faults, to show the comparison would catch them.
enum class Fault { none, no_forward_carry, no_backward_carry, no_bc };

// What ops::detail::selective_scan_cuda does, on host arrays.
template <int NS>
Results emulate(const ScanShape& sh, const std::vector<Tensor>& xs64, const Variant& v, Fault fault) {
  std::vector<float> u = to_f32(xs64[0]), delta = to_f32(xs64[1]), A = to_f32(xs64[2]), B = to_f32(xs64[3]),
                     C = to_f32(xs64[4]), D = to_f32(xs64[5]), bias = to_f32(xs64[6]);
  Generator g(kGradSeed);  // the upstream gradient outputs_and_grads draws
  std::vector<float> gy = to_f32(Tensor::randn(xs64[0].shape(), g, DType::F64));
  ops::cuda::SelectiveScanParams p;
  p.batch = sh.batch, p.channels = sh.channels, p.L = sh.length, p.groups = sh.groups, p.N = sh.state;
  p.nseg = (p.L + dev::kS - 1) / dev::kS;
  p.softplus = v.softplus;
  p.u = u.data(), p.delta = delta.data(), p.A = A.data(), p.B = B.data(), p.C = C.data();
  p.D = v.with_d ? D.data() : nullptr;
  p.bias = v.with_bias ? bias.data() : nullptr;
  const int64_t segs = p.segments(), n = p.N;

  // Forward: F1 .. F3. Every entry of y and hstart must be written.
  std::vector<float> hloc(segs * n), sumdelta(segs), hstart(segs * n, std::nanf("")), y(u.size(), std::nanf(""));
  p.hloc = hloc.data(), p.sumdelta = sumdelta.data(), p.hstart = hstart.data(), p.y = y.data();
  for (int64_t j = 0; j < segs; ++j) dev::fwd_local<NS>(p, j);
  if (fault == Fault::no_forward_carry) std::fill(hstart.begin(), hstart.end(), 0.0f);
  else
    for (int64_t i = 0; i < p.sequences(); ++i) dev::fwd_carry<NS>(p, i);
  for (int64_t j = 0; j < segs; ++j) dev::fwd_output<NS>(p, j);

  // Backward: B1 .. B4, into gradients that start at zero (as autograd hands them over).
  std::vector<float> outloc(segs * n), ghend(segs * n, std::nanf("")), dl(u.size(), std::nanf(""));
  std::vector<double> part_a(segs * n), part_d(segs), part_bias(segs);
  std::vector<float> du(u.size(), 0.0f), ddelta(u.size(), 0.0f), dA(A.size(), 0.0f), dB(B.size(), 0.0f),
      dC(C.size(), 0.0f), dD(D.size(), 0.0f), dbias(bias.size(), 0.0f);
  p.gy = gy.data(), p.outloc = outloc.data(), p.ghend = ghend.data(), p.dl = dl.data();
  p.part_a = part_a.data(), p.part_d = part_d.data(), p.part_bias = part_bias.data();
  p.du = du.data(), p.ddelta = ddelta.data(), p.dA = dA.data(), p.dB = dB.data(), p.dC = dC.data();
  p.dD = v.with_d ? dD.data() : nullptr;
  p.dbias = v.with_bias ? dbias.data() : nullptr;
  for (int64_t j = 0; j < segs; ++j) dev::bwd_local<NS>(p, j);
  if (fault == Fault::no_backward_carry) std::fill(ghend.begin(), ghend.end(), 0.0f);
  else
    for (int64_t i = 0; i < p.sequences(); ++i) dev::bwd_carry<NS>(p, i);
  for (int64_t j = 0; j < segs; ++j) dev::bwd_segment<NS>(p, j);
  if (fault != Fault::no_bc)
    for (int64_t i = 0; i < p.batch * p.groups * n * p.nseg; ++i) dev::bwd_bc(p, i);
  // B5.
  for (int64_t i = 0; i < p.channels * n; ++i) dev::red_A(p, i);
  for (int64_t i = 0; i < p.channels; ++i) dev::red_channel(p, i);

  Results r;
  for (const auto* x : {&y, &du, &ddelta, &dA, &dB, &dC, &dD, &dbias}) r.emplace_back(x->begin(), x->end());
  if (!v.with_d) r[6].clear();
  if (!v.with_bias) r[7].clear();
  return r;
}

Results emulate_any(const ScanShape& sh, const std::vector<Tensor>& xs64, const Variant& v,
                    Fault fault = Fault::none) {
  return sh.state == 16 ? emulate<16>(sh, xs64, v, fault) : emulate<0>(sh, xs64, v, fault);
}

using testing::worst_scaled_error;

struct Case {
  const char* name;
  ScanShape shape;
  Variant variant;
  double delta_shift = 0.0, a_log_shift = 0.0;
};

std::vector<Tensor> inputs_for(const Case& c) {
  Generator g(5);
  const auto make = testing::scan_inputs(c.delta_shift, c.a_log_shift);
  const auto shapes = testing::scan_shapes(c.shape);
  std::vector<Tensor> xs;
  for (size_t i = 0; i < shapes.size(); ++i) {
    Tensor t = make(static_cast<int>(i), shapes[i], g);
    if (i == 1 && !c.variant.softplus)  // keep dt positive and away from 0 when softplus is off
      for (int64_t k = 0; k < t.numel(); ++k) t.data<double>()[k] = 0.2 + std::fabs(t.data<double>()[k]);
    xs.push_back(t);
  }
  return xs;
}

}  // namespace

TEST_SUITE("ops") {
  TEST_CASE("CUDA selective_scan phases, emulated on the host, match the CPU op") {
    const Case cases[] = {
        {"2x4 L=7 N=3 G=2 (L < segment)", {2, 4, 7, 3, 2}, {}},
        {"L=1", {1, 2, 1, 4, 1}, {}},
        {"1x2 L=11 N=16 (the N=16 path)", {1, 2, 11, 16, 1}, {}},
        {"N=8 G=4 (one channel per group)", {1, 4, 6, 8, 4}, {}},
        {"without D and delta_bias", {1, 2, 5, 3, 1}, {.with_d = false, .with_bias = false}},
        {"without softplus", {1, 2, 5, 3, 2}, {.softplus = false}},
        {"large delta (softplus above 20)", {1, 3, 6, 3, 1}, {}, 22.0},
        {"decay underflow", {1, 2, 6, 3, 1}, {}, 3.0, 6.0},
        {"2x6 L=300 N=16 G=2 (10 segments, a partial last one)", {2, 6, 300, 16, 2}, {}},
        {"1x3 L=257 N=5", {1, 3, 257, 5, 1}, {}},
        {"2x8 L=96 N=16 G=4 (3 whole segments)", {2, 8, 96, 16, 4}, {}},
    };
    for (const Case& c : cases) {
      INFO(c.name);
      const auto xs = inputs_for(c);
      const Results emu = emulate_any(c.shape, xs, c.variant);
      int which32 = -1, which64 = -1;
      const double e32 = worst_scaled_error(emu, cpu_op(xs, c.variant, DType::F32), &which32);
      const double e64 = worst_scaled_error(emu, cpu_op(xs, c.variant, DType::F64), &which64);
      MESSAGE(std::string(c.name), ": vs CPU f32 ", e32, " (worst: result ", which32, "), vs CPU f64 ", e64,
              " (worst: result ", which64, ")");
      // expf/log1pf here vs the CPU kernel's polynomials, and other summation
      // orders; the fused scan's emulation measures the same kind of gap.
      CHECK(e32 <= 1e-5);
      CHECK(e64 <= 1e-5);
      // Deterministic: a second run gives the same bits.
      CHECK(emulate_any(c.shape, xs, c.variant) == emu);
    }
  }

  TEST_CASE("CUDA selective_scan emulation: the comparison catches a broken phase") {
    const Case c{"2x6 L=100 N=16 G=2", {2, 6, 100, 16, 2}, {}};
    const auto xs = inputs_for(c);
    const Results cpu = cpu_op(xs, c.variant, DType::F64);
    const Results good = emulate_any(c.shape, xs, c.variant);
    CHECK(worst_scaled_error(good, cpu) <= 1e-5);
    const auto error_of = [&](const Results& r, int i) {
      const Shape s{static_cast<int64_t>(r[i].size())};
      return testing::scaled_max_error(Tensor::from_vector(s, r[i], DType::F64),
                                       Tensor::from_vector(s, cpu[i], DType::F64));
    };
    // Without the forward carry every segment starts from h = 0: y is wrong.
    CHECK(error_of(emulate_any(c.shape, xs, c.variant, Fault::no_forward_carry), 0) > 1e-2);
    // Without the backward carry y is right, the gradients miss the later segments.
    const Results no_bwd = emulate_any(c.shape, xs, c.variant, Fault::no_backward_carry);
    CHECK(no_bwd[0] == good[0]);
    CHECK(error_of(no_bwd, 1) > 1e-2);  // du
    // Without B4, dB and dC stay zero.
    const Results no_bc = emulate_any(c.shape, xs, c.variant, Fault::no_bc);
    CHECK(error_of(no_bc, 4) > 1e-2);
    CHECK(error_of(no_bc, 5) > 1e-2);
    // The largest entry of dA off by 1e-3 of its size is seen.
    Results off = good;
    size_t big = 0;
    for (size_t i = 0; i < off[3].size(); ++i)
      if (std::fabs(off[3][i]) > std::fabs(off[3][big])) big = i;
    off[3][big] += 1e-3 * std::max(1.0, std::fabs(off[3][big]));
    CHECK(worst_scaled_error(off, cpu) > 5e-4);
  }
}
