// PyTorch parity: tests/oracle/generate.py runs each case through torch in f64
// and writes, per group, <oracle dir>/<group>.safetensors with keys
//   <case>/in0 ... <case>/inK   inputs
//   <case>/out                  torch's output
//   <case>/gout                 the upstream gradient
//   <case>/grad<i>              torch's gradient for each input that requires grad
// A ParityGroup runs our op on the same inputs and compares, in f64 and in f32.
#pragma once

#include <set>
#include <string>

#include "autograd/gradcheck.h"
#include "tensor/safetensors.h"

namespace liednet::testing {

// <oracle dir>/<name>: $LIEDNET_ORACLE_DIR (ctest sets it after running the
// scripts in tests/oracle/), else the build folder's oracle.
std::string oracle_file(const std::string& name);

// ||a - b|| / ||b|| over all elements (||a - b|| when b is zero); either may be on the GPU.
double rel_l2(const Tensor& a, const Tensor& b);

class ParityGroup {
 public:
  explicit ParityGroup(const std::string& group);  // loads $LIEDNET_ORACLE_DIR/<group>.safetensors

  // f64: max error scaled by max(1, max|ref|) <= tol64; f32 run likewise <= tol32.
  void check(const std::string& name, const autograd::TensorFn& fn, double tol64 = 1e-10, double tol32 = 1e-4);

  // Every case the oracle wrote for this group was checked (no silent gaps).
  void expect_all_checked() const;

 private:
  std::string group_;
  SafetensorsContents file_;
  std::set<std::string> checked_;
};

}  // namespace liednet::testing
