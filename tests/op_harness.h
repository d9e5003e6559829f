// The op harness: every op is a case (input shapes, the function, tolerances,
// finite-difference step). For each case it checks
//   1. forward in f32 against f64 (same inputs, rounded);
//   2. backward in f32 against backward in f64 (same random upstream gradient);
//   3. backward in f64 against central differences, for every input that requires grad;
//   4. on a machine with a GPU: CUDA against CPU (f32), forward and every gradient
//      (skipped, and said once, without one). A case whose op has no CUDA
//      kernel says so (cuda = false) and is reported "not supported", apart
//      from "failed", without being run there (as ggml's test-backend-ops does).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "tensor/tensor.h"

namespace liednet::testing {

struct OpCase {
  std::string name;  // "conv2d 3x3 pad 1 groups 2"
  std::vector<Shape> shapes;
  autograd::TensorFn fn;
  std::vector<bool> requires_grad;  // empty: every input
  // Input i as f64; default: standard normal.
  std::function<Tensor(int i, const Shape& shape, Generator& gen)> make_input;
  double forward_tol = 1e-5;  // f32 vs f64: max|a - b| <= tol * max(1, max|b|)
  double cuda_tol = 1e-4;     // CUDA vs CPU in f32, on the same scale as forward_tol
  bool cuda = true;           // false: the op has no CUDA kernel (or reads tensors on the host)
  double eps = 1e-6;          // finite-difference step
  double atol = 1e-7;         // gradcheck: |a - n| <= atol + rtol |n|
  double rtol = 1e-5;
  uint64_t seed = 1234;
};

// What became of the CUDA pass of one case.
enum class CudaCheck {
  skipped,        // no GPU here, or CUDA not built: nothing ran
  not_supported,  // the case says its op has no CUDA kernel: nothing ran
  passed,         // ran, and CUDA matches the CPU within cuda_tol
  failed,         // ran, and differs, or threw (cuda_failure says what)
};
const char* cuda_check_name(CudaCheck c);

struct OpReport {
  double forward_err = 0;      // f32 vs f64, relative to max(1, max|y64|)
  double grad_f32_err = 0;     // f32 vs f64 gradients, same scale
  CudaCheck cuda = CudaCheck::skipped;
  double cuda_err = 0;         // CUDA vs CPU f32, forward and gradients, same scale (when run)
  std::string cuda_failure;    // the exception's message when the CUDA pass threw
  autograd::GradcheckResult gradcheck;
  bool forward_ok = false;
  bool grad_f32_ok = false;
  bool cuda_ok() const { return cuda != CudaCheck::failed; }
  bool ok() const { return forward_ok && grad_f32_ok && gradcheck.ok && cuda_ok(); }
  std::string summary;         // one line
};

// Runs the checks and reports; asserts nothing (the self-test relies on that).
OpReport run_op_case(const OpCase& c);

// Runs the checks as doctest assertions and prints the summary line.
void check_op(const OpCase& c);

// max |a - b| / max(1, max |b|) over two tensors of the same shape (any dtype).
double scaled_max_error(const Tensor& a, const Tensor& b);

}  // namespace liednet::testing
