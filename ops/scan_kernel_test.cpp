// The scan kernels' pieces against their references: the float exp against
// std::exp (the bound scan_kernel.h states), and the 8-channel forward
// against the plain loop (forward_chunk_scalar), lane by lane.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "ops/scan_kernel.h"

using namespace liednet::ops;

namespace {
// One sequence for forward_chunk_scalar: u and z are given per step, B and C
// interleaved (16 B then 16 C per step) as ss2d_scan lays them out.
struct TestSeq {
  const float* bc;
  std::vector<float> ys;
  const float* B(int64_t t) const { return bc + t * 32; }
  const float* C(int64_t t) const { return bc + t * 32 + 16; }
  void y(int64_t t, float v) { ys[t] = v; }
};
}  // namespace

TEST_SUITE("ops") {
  TEST_CASE("scan decay exp: relative error below 3e-7 against std::exp, exactly 0 below -127 ln2") {
    double worst = 0;
    for (double x = -87.0; x <= 88.0; x += 1e-3) {
      const float xf = static_cast<float>(x);
      const double want = std::exp(static_cast<double>(xf));
      const scan::f32x8 v = scan::f32x8{} + xf;
      for (double got : {static_cast<double>(scan::decay_exp(xf)), static_cast<double>(scan::decay_exp(v)[5])})
        worst = std::max(worst, std::fabs(got - want) / want);
      if (xf <= 0) CHECK(scan::decay_exp_nonpositive(v)[2] == scan::decay_exp(v)[2]);
    }
    MESSAGE("worst relative error ", worst);
    CHECK(worst < 3e-7);
    for (float x : {-88.03f, -100.0f, -1e30f, -INFINITY}) {
      CHECK(scan::decay_exp(x) == 0.0f);
      CHECK(scan::decay_exp_nonpositive(scan::f32x8{} + x)[0] == 0.0f);
    }
    CHECK(scan::decay_exp(0.0f) == 1.0f);
    CHECK(scan::decay_exp(1e30f) == scan::decay_exp(88.0f));
    CHECK(std::isfinite(scan::decay_exp(88.0f)));
  }

  TEST_CASE("scan forward_chunk16x8 matches forward_chunk_scalar in every lane") {
    constexpr int kL = scan::kLanes;
    const int64_t len = 37;
    std::vector<float> bc(len * 32), u8(len * kL), dt8(len * kL), y8(len * kL), A8(16 * kL), D8(kL), h8(16 * kL);
    uint32_t r = 12345;
    auto rnd = [&] {  // uniform in [-1, 1)
      r = r * 1664525u + 1013904223u;
      return static_cast<float>(r >> 8) / (1 << 23) - 1.0f;
    };
    for (float& v : bc) v = rnd();
    for (float& v : u8) v = 2 * rnd();
    for (float& v : dt8) v = 0.5f * (rnd() + 1.0f);  // dt >= 0
    for (int i = 0; i < 16 * kL; ++i) A8[i] = -std::exp(2 * rnd());
    for (float& v : D8) v = rnd();
    for (float& v : h8) v = rnd();
    const std::vector<float> h_start = h8;
    scan::forward_chunk16x8(len, bc.data(), 32, A8.data(), D8.data(), u8.data(), dt8.data(), h8.data(), y8.data());
    for (int l = 0; l < kL; ++l) {
      TestSeq s{bc.data(), std::vector<float>(len)};
      float A[16], h[16], u[len], dt[len];
      for (int q = 0; q < 16; ++q) A[q] = A8[q * kL + l], h[q] = h_start[q * kL + l];
      for (int64_t i = 0; i < len; ++i) u[i] = u8[i * kL + l], dt[i] = dt8[i * kL + l];
      scan::forward_chunk_scalar<float, 16>(s, 0, len, 16, A, D8[l], u, dt, h);
      double err = 0, scale = 0;
      for (int64_t i = 0; i < len; ++i) {
        err = std::max(err, static_cast<double>(std::fabs(y8[i * kL + l] - s.ys[i])));
        scale = std::max(scale, static_cast<double>(std::fabs(s.ys[i])));
      }
      for (int q = 0; q < 16; ++q) {
        err = std::max(err, static_cast<double>(std::fabs(h8[q * kL + l] - h[q])));
        scale = std::max(scale, static_cast<double>(std::fabs(h[q])));
      }
      INFO("lane ", l);
      CHECK(err <= 1e-6 * scale);  // the same terms in the same order; only FMA contraction may differ
    }
  }
}
