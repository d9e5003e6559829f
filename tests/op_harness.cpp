#include "op_harness.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <doctest/doctest.h>

#include "autograd/autograd.h"
#include "tensor/cuda.h"

namespace liednet::testing {

namespace {
std::vector<Tensor> make_inputs(const OpCase& c) {
  Generator gen(c.seed);
  std::vector<Tensor> xs;
  for (size_t i = 0; i < c.shapes.size(); ++i) {
    Tensor x = c.make_input ? c.make_input(static_cast<int>(i), c.shapes[i], gen)
                            : Tensor::randn(c.shapes[i], gen, DType::F64);
    LIEDNET_CHECK(x.dtype() == DType::F64 && x.shape() == c.shapes[i], c.name, ": make_input(", i,
                  ") returned ", x.str(), ", expected f64 ", c.shapes[i]);
    xs.push_back(x);
  }
  return xs;
}

bool wants_grad(const OpCase& c, size_t i) { return c.requires_grad.empty() || c.requires_grad.at(i); }

// Copies of xs converted to dtype, marked as requiring grad per the case.
std::vector<Tensor> leaves(const OpCase& c, const std::vector<Tensor>& xs, DType dtype) {
  std::vector<Tensor> out;
  for (size_t i = 0; i < xs.size(); ++i) {
    Tensor t = xs[i].to(dtype);
    t.set_requires_grad(wants_grad(c, i));
    out.push_back(t);
  }
  return out;
}

// Forward and gradients at dtype with upstream gradient g (given in f64).
std::pair<Tensor, std::vector<Tensor>> run(const OpCase& c, const std::vector<Tensor>& xs, const Tensor& g64,
                                           DType dtype) {
  std::vector<Tensor> in = leaves(c, xs, dtype);
  Tensor y = c.fn(in);
  y.backward(g64.to(dtype));
  std::vector<Tensor> grads;
  for (size_t i = 0; i < in.size(); ++i)
    grads.push_back(wants_grad(c, i) ? in[i].grad() : Tensor());
  return {y.detach(), grads};
}

// The CUDA pass: the case on the GPU against the CPU's f32 run (y32,
// grads32), with the same f64 inputs xs and upstream gradient g. Anything it
// throws is a failure of this pass alone, reported with its message.
void run_cuda_pass(const OpCase& c, const std::vector<Tensor>& xs, const Tensor& g, const Tensor& y32,
                   const std::vector<Tensor>& grads32, OpReport& r) {
  if (cuda_device_count() == 0) return;  // r.cuda stays skipped
  if (!c.cuda) {
    r.cuda = CudaCheck::not_supported;
    return;
  }
  try {
    std::vector<Tensor> in;
    for (size_t i = 0; i < xs.size(); ++i) {
      Tensor t = xs[i].to(DType::F32).to(Device::CUDA);
      t.set_requires_grad(wants_grad(c, i));
      in.push_back(t);
    }
    Tensor y = c.fn(in);
    LIEDNET_CHECK(y.device() == Device::CUDA, "the output of CUDA inputs is ", y.str());
    y.backward(g.to(DType::F32).to(Device::CUDA));
    r.cuda_err = scaled_max_error(y.to(Device::CPU), y32);
    for (size_t i = 0; i < in.size(); ++i)
      if (wants_grad(c, i)) {
        const Tensor gi = in[i].grad();
        LIEDNET_CHECK(gi.defined() && gi.device() == Device::CUDA, "input ", i, " received gradient ", gi.str());
        r.cuda_err = std::max(r.cuda_err, scaled_max_error(gi.to(Device::CPU), grads32[i]));
      }
    r.cuda = r.cuda_err <= c.cuda_tol ? CudaCheck::passed : CudaCheck::failed;
  } catch (const std::exception& e) {
    r.cuda = CudaCheck::failed;
    r.cuda_failure = e.what();
  }
}

void append_report_csv(const OpCase& c, const OpReport& r) {
  const char* path = std::getenv("LIEDNET_OP_REPORT");
  if (!path || !*path) return;
  std::ofstream f(path, std::ios::app);
  f << '"' << c.name << "\"," << r.forward_err << ',' << r.grad_f32_err << ',' << r.gradcheck.max_abs_error << ','
    << r.gradcheck.max_rel_error << ',' << r.gradcheck.worst_ratio << ',' << r.gradcheck.elements_checked << ','
    << (r.ok() ? "ok" : "FAIL") << ',' << cuda_check_name(r.cuda) << ',' << r.cuda_err << '\n';
}
}  // namespace

const char* cuda_check_name(CudaCheck c) {
  switch (c) {
    case CudaCheck::skipped: return "skipped";
    case CudaCheck::not_supported: return "not supported";
    case CudaCheck::passed: return "passed";
    case CudaCheck::failed: return "failed";
  }
  return "?";
}

double scaled_max_error(const Tensor& a, const Tensor& b) {
  LIEDNET_CHECK(a.shape() == b.shape(), "scaled_max_error: shapes differ: ", a.str(), " vs ", b.str());
  std::vector<double> va = a.to_vector(), vb = b.to_vector();
  double max_diff = 0, max_ref = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    const double d = std::fabs(va[i] - vb[i]);
    max_diff = std::isnan(d) ? INFINITY : std::max(max_diff, d);
    max_ref = std::max(max_ref, std::fabs(vb[i]));
  }
  return max_diff / std::max(1.0, max_ref);
}

OpReport run_op_case(const OpCase& c) {
  OpReport r;
  std::vector<Tensor> xs = make_inputs(c);

  // Upstream gradient, shaped like the output.
  Tensor y_probe;
  {
    autograd::NoGradGuard no_grad;
    y_probe = c.fn(xs);
  }
  Generator gen(c.seed + 1);
  Tensor g = Tensor::randn(y_probe.shape(), gen, DType::F64);

  auto [y64, grads64] = run(c, xs, g, DType::F64);
  auto [y32, grads32] = run(c, xs, g, DType::F32);
  r.forward_err = scaled_max_error(y32, y64);
  r.forward_ok = r.forward_err <= c.forward_tol;
  for (size_t i = 0; i < xs.size(); ++i)
    if (wants_grad(c, i)) {
      LIEDNET_CHECK(grads64[i].defined() && grads32[i].defined(), c.name, ": input ", i,
                    " requires grad but received none");
      r.grad_f32_err = std::max(r.grad_f32_err, scaled_max_error(grads32[i], grads64[i]));
    }
  // Gradients accumulate rounding from every output element they sum over.
  r.grad_f32_ok = r.grad_f32_err <= 10 * c.forward_tol;

  run_cuda_pass(c, xs, g, y32, grads32, r);

  autograd::GradcheckOptions opt;
  opt.eps = c.eps;
  opt.atol = c.atol;
  opt.rtol = c.rtol;
  opt.seed = c.seed + 2;
  r.gradcheck = autograd::gradcheck(c.fn, leaves(c, xs, DType::F64), opt);

  std::ostringstream s;
  s.precision(2);
  s << std::scientific << "[op] " << c.name << ": f32 fwd " << r.forward_err << ", f32 grad " << r.grad_f32_err
    << ", gradcheck max abs " << r.gradcheck.max_abs_error << " rel " << r.gradcheck.max_rel_error << " ("
    << r.gradcheck.elements_checked << " elements, worst/allowed " << r.gradcheck.worst_ratio << ")";
  if (r.cuda == CudaCheck::not_supported) s << ", cuda: not supported";
  if (r.cuda == CudaCheck::passed || (r.cuda == CudaCheck::failed && r.cuda_failure.empty()))
    s << ", cuda vs cpu " << r.cuda_err;
  if (!r.cuda_failure.empty()) s << ", cuda threw: " << r.cuda_failure;
  s << (r.ok() ? "" : " FAILED");
  if (!r.gradcheck.ok) s << " -- " << r.gradcheck.first_failure;
  r.summary = s.str();
  return r;
}

void check_op(const OpCase& c) {
  INFO(c.name);
  OpReport r = run_op_case(c);
  std::printf("%s\n", r.summary.c_str());
  append_report_csv(c, r);
  CHECK_MESSAGE(r.forward_ok, c.name, ": f32 forward differs from f64 by ", r.forward_err, " > ", c.forward_tol);
  CHECK_MESSAGE(r.grad_f32_ok, c.name, ": f32 gradient differs from f64 by ", r.grad_f32_err);
  CHECK_MESSAGE(r.gradcheck.ok, c.name, ": gradcheck failed: ", r.gradcheck.first_failure);
  CHECK(r.gradcheck.elements_checked > 0);
  if (r.cuda_failure.empty())
    CHECK_MESSAGE(r.cuda_ok(), c.name, ": CUDA differs from the CPU by ", r.cuda_err, " > ", c.cuda_tol);
  else
    CHECK_MESSAGE(r.cuda_ok(), c.name, ": the CUDA pass threw: ", r.cuda_failure);
  static bool said = false;
  if (r.cuda == CudaCheck::skipped && !said) {
    std::printf("[op] CUDA comparisons skipped: %s\n", cuda_built() ? "no GPU on this machine" : "CUDA not built");
    said = true;
  }
}

}  // namespace liednet::testing
