// PyTorch parity: tests/oracle/generate.py runs each case through torch in f64
// and writes, per group, <oracle dir>/<group>.safetensors with keys
//   <case>/in0 ... <case>/inK   inputs
//   <case>/out                  torch's output
//   <case>/gout                 the upstream gradient
//   <case>/grad<i>              torch's gradient for each input that requires grad
// A ParityGroup runs our op on the same inputs and compares, in f64 and in f32.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "tensor/safetensors.h"

namespace liednet::testing {

// <oracle dir>/<name>: $LIEDNET_ORACLE_DIR (ctest sets it after running the
// scripts in tests/oracle/), else the build folder's oracle.
std::string oracle_file(const std::string& name);

// ||a - b|| / ||b|| over all elements (||a - b|| when b is zero); either may be on the GPU.
double rel_l2(const Tensor& a, const Tensor& b);

// A short training run against torch's (the 10-step parity tests): how far
// our final weights are from theirs, and the updates (final - initial, a far
// stricter measure), as worst relative L2 over the parameters.
struct TrainingGap {
  double worst_w = 0, worst_update = 0;
  std::string worst_name;  // the parameter of worst_w
};
TrainingGap training_gap(const std::vector<std::pair<std::string, Tensor>>& ours,
                         const std::function<Tensor(const std::string&)>& theirs_final,
                         const std::function<Tensor(const std::string&)>& initial);

// The bounds the README states for a 10-step training run against torch's:
// learning rate 1e-12 relative; f64 losses 1e-13, updates 1e-11; f32 losses
// 1e-4, final weights 1e-3, updates 2e-2. Asserted with doctest's CHECK.
void check_training_bounds(DType dt, double worst_loss, double worst_lr, const TrainingGap& gap);

// One case run against the oracle: errors[f64, f32][output, gradient], and
// what kept it from being compared (each a failure, never a skip).
struct ParityResult {
  double errors[2][2] = {};
  std::vector<std::string> problems;
};

class ParityGroup {
 public:
  explicit ParityGroup(const std::string& group);  // loads $LIEDNET_ORACLE_DIR/<group>.safetensors

  // f64: max error scaled by max(1, max|ref|) <= tol64; f32 run likewise <= tol32.
  // A case whose op records no gradient while the oracle has gradients fails.
  void check(const std::string& name, const autograd::TensorFn& fn, double tol64 = 1e-10, double tol32 = 1e-4);

  // The measurement behind check, without asserting (for the self-test).
  ParityResult measure(const std::string& name, const autograd::TensorFn& fn) const;
  // The group's cases that have a gradient for input 0.
  std::vector<std::string> cases_with_gradient() const;

  // Every case the oracle wrote for this group was checked (no silent gaps).
  void expect_all_checked() const;

 private:
  std::string group_;
  SafetensorsContents file_;
  std::set<std::string> checked_;
};

}  // namespace liednet::testing
