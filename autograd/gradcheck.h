// gradcheck: compares the autograd gradient of a function with central
// differences, in double precision.
//
// The function maps inputs to one tensor y; with a random upstream gradient g,
// the scalar checked is L = sum(y * g). For every input that requires grad and
// every element x_i: numeric dL/dx_i = (L(x_i + eps) - L(x_i - eps)) / (2 eps),
// and the analytic value must satisfy |a - n| <= atol + rtol * |n|.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace liednet::autograd {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-8;
  double rtol = 1e-6;
  uint64_t seed = 1;  // for the upstream gradient
};

struct GradcheckResult {
  bool ok = true;
  int64_t elements_checked = 0;
  double max_abs_error = 0;    // max |a - n|
  double max_rel_error = 0;    // max |a - n| / max(|n|, 1e-12) over elements with |n| > atol
  double worst_ratio = 0;      // max |a - n| / (atol + rtol |n|); ok iff <= 1
  std::string first_failure;   // "input 1 element 17: analytic 0.5, numeric 0.25"
};

using TensorFn = std::function<Tensor(const std::vector<Tensor>&)>;

// Inputs must be f64 on the CPU; those that require grad are checked. The
// inputs' gradients are reset by the check.
GradcheckResult gradcheck(const TensorFn& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

}  // namespace liednet::autograd
