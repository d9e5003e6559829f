// Inputs and runs shared by the scan tests (ops/selective_scan_test.cpp,
// ops/ss2d_scan_test.cpp and the CUDA scan tests): the plain selective scan's
// seven inputs, ss2d_scan's six inputs in the ranges the network sees, and the
// output plus every gradient of a run.
#pragma once

#include <cmath>
#include <functional>
#include <vector>

#include "autograd/autograd.h"
#include "autograd/gradcheck.h"
#include "op_harness.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace liednet::testing {

// ---- the plain selective scan (ops/selective_scan.h) --------------------------------

struct ScanShape {
  int64_t batch, channels, length, state, groups;
};

// u, delta, A, B, C, D, delta_bias.
inline std::vector<Shape> scan_shapes(const ScanShape& s) {
  return {{s.batch, s.channels, s.length}, {s.batch, s.channels, s.length}, {s.channels, s.state},
          {s.batch, s.groups, s.state, s.length}, {s.batch, s.groups, s.state, s.length}, {s.channels},
          {s.channels}};
}

// Input i (in scan_shapes' order), f64. `delta_shift` moves delta (e.g. above
// softplus's threshold 20); `a_log_shift` shifts log(-A) (large values make
// dt*A so negative that exp underflows).
inline std::function<Tensor(int, const Shape&, Generator&)> scan_inputs(double delta_shift = 0.0,
                                                                         double a_log_shift = 0.0) {
  return [=](int i, const Shape& s, Generator& g) {
    Tensor t = Tensor::randn(s, g, DType::F64);
    double* p = t.data<double>();
    for (int64_t k = 0; k < t.numel(); ++k) {
      if (i == 1) p[k] = 0.5 * p[k] + delta_shift;
      if (i == 2) p[k] = -std::exp(0.5 * p[k] + a_log_shift);  // A < 0, as -exp(A_logs)
      if (i == 6) p[k] = 0.3 * p[k];
    }
    return t;
  };
}

// All seven inputs, f64, from one generator seeded with `seed`.
inline std::vector<Tensor> make_scan_inputs(const ScanShape& s, uint64_t seed, double delta_shift = 0.0) {
  Generator g(seed);
  const auto make = scan_inputs(delta_shift);
  const auto shapes = scan_shapes(s);
  std::vector<Tensor> xs;
  for (size_t i = 0; i < shapes.size(); ++i) xs.push_back(make(static_cast<int>(i), shapes[i], g));
  return xs;
}

// ---- the fused four-direction 2D scan (ops/ss2d_scan.h) ------------------------------

struct SS2DShape {
  int64_t batch, d, H, W, R, N;
};

// x, x_proj_weight, dt_projs_weight, dt_projs_bias, A_logs, Ds.
inline std::vector<Shape> ss2d_shapes(const SS2DShape& s) {
  return {{s.batch, s.d, s.H, s.W}, {4, s.R + 2 * s.N, s.d}, {4, s.d, s.R}, {4, s.d}, {4 * s.d, s.N}, {4 * s.d}};
}

// Input i (in ss2d_shapes' order), f64, in the ranges the network sees:
// dt_projs_bias near inverse-softplus of small steps (shifted by bias_shift),
// A_logs near log(n+1) (shifted by a_log_shift).
inline std::function<Tensor(int, const Shape&, Generator&)> ss2d_inputs(double bias_shift = -1.0,
                                                                         double a_log_shift = 0.0) {
  return [=](int i, const Shape& s, Generator& g) {
    Tensor t = Tensor::randn(s, g, DType::F64);
    double* p = t.data<double>();
    for (int64_t k = 0; k < t.numel(); ++k) {
      if (i == 1) p[k] *= 0.4;
      if (i == 2) p[k] *= 0.6;
      if (i == 3) p[k] = 0.5 * p[k] + bias_shift;
      if (i == 4) p[k] = std::log(1.0 + k % s[1]) + 0.1 * p[k] + a_log_shift;
    }
    return t;
  };
}

// All six inputs, f64, from one generator seeded with `seed`.
inline std::vector<Tensor> make_ss2d_inputs(const SS2DShape& s, uint64_t seed, double bias_shift = -1.0) {
  Generator g(seed);
  const auto make = ss2d_inputs(bias_shift);
  const auto shapes = ss2d_shapes(s);
  std::vector<Tensor> xs;
  for (size_t i = 0; i < shapes.size(); ++i) xs.push_back(make(static_cast<int>(i), shapes[i], g));
  return xs;
}

// fn's output and every input's gradient at dtype dt, run on `device` (CUDA:
// f32 only) and returned on the CPU, with an upstream gradient drawn from `seed`.
inline std::vector<Tensor> outputs_and_grads(const autograd::TensorFn& fn, const std::vector<Tensor>& xs64, DType dt,
                                             uint64_t seed, Device device = Device::CPU) {
  const auto on_device = [&](const Tensor& t) { return device == Device::CPU ? t : t.to(device); };
  const auto on_cpu = [](const Tensor& t) { return !t.defined() || t.device() == Device::CPU ? t : t.to(Device::CPU); };
  std::vector<Tensor> in;
  for (const Tensor& x : xs64) in.push_back(on_device(x.to(dt)).set_requires_grad());
  Tensor y = fn(in);
  Generator g(seed);
  y.backward(on_device(Tensor::randn(y.shape(), g, DType::F64).to(dt)));
  std::vector<Tensor> out{on_cpu(y.detach())};
  for (const Tensor& x : in) out.push_back(on_cpu(x.grad()));
  return out;
}

}  // namespace liednet::testing
