#include "parity.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <doctest/doctest.h>

#include "op_harness.h"

namespace liednet::testing {

std::string oracle_file(const std::string& name) {
  const char* dir = std::getenv("LIEDNET_ORACLE_DIR");
  return std::string(dir && *dir ? dir : LIEDNET_DEFAULT_ORACLE_DIR) + "/" + name;
}

double rel_l2(const Tensor& a, const Tensor& b) {
  const auto va = a.to(Device::CPU).to_vector(), vb = b.to(Device::CPU).to_vector();
  double d = 0, n = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    d += (va[i] - vb[i]) * (va[i] - vb[i]);
    n += vb[i] * vb[i];
  }
  return n > 0 ? std::sqrt(d / n) : std::sqrt(d);
}

namespace {
std::string oracle_path(const std::string& group) { return oracle_file(group + ".safetensors"); }

std::string case_of(const std::string& key) { return key.substr(0, key.rfind('/')); }

void append_report_csv(const std::string& name, double out64, double grad64, double out32, double grad32) {
  const char* path = std::getenv("LIEDNET_PARITY_REPORT");
  if (!path || !*path) return;
  std::ofstream f(path, std::ios::app);
  f << '"' << name << "\"," << out64 << ',' << grad64 << ',' << out32 << ',' << grad32 << '\n';
}
}  // namespace

ParityGroup::ParityGroup(const std::string& group) : group_(group), file_(load_safetensors(oracle_path(group))) {}

ParityResult ParityGroup::measure(const std::string& name, const autograd::TensorFn& fn) const {
  ParityResult r;
  if (!file_.contains(name + "/out")) {
    r.problems.push_back("the oracle has no case '" + name + "' in " + file_.path);
    return r;
  }
  std::vector<Tensor> refs_in;
  for (int i = 0; file_.contains(name + "/in" + std::to_string(i)); ++i)
    refs_in.push_back(file_.at(name + "/in" + std::to_string(i)));
  const Tensor& ref_out = file_.at(name + "/out");
  const Tensor& gout = file_.at(name + "/gout");

  for (int pass = 0; pass < 2; ++pass) {
    const DType dt = pass == 0 ? DType::F64 : DType::F32;
    std::vector<Tensor> in;
    bool wants_grad = false;
    for (size_t i = 0; i < refs_in.size(); ++i) {
      Tensor t = refs_in[i].to(dt);
      t.set_requires_grad(file_.contains(name + "/grad" + std::to_string(i)));
      wants_grad = wants_grad || t.requires_grad();
      in.push_back(t);
    }
    Tensor out = fn(in);
    if (out.shape() != ref_out.shape()) {
      r.problems.push_back("output " + out.str() + " vs torch " + ref_out.str());
      return r;
    }
    r.errors[pass][0] = scaled_max_error(out, ref_out);
    if (!wants_grad) continue;
    if (!out.requires_grad()) {
      // The op stopped recording its backward: its gradients would go unchecked.
      r.problems.push_back(std::string(dtype_name(dt)) + ": the output records no gradient, but torch has gradients");
      continue;
    }
    out.backward(gout.to(dt));
    for (size_t i = 0; i < in.size(); ++i) {
      const std::string key = name + "/grad" + std::to_string(i);
      if (!file_.contains(key)) continue;
      if (!in[i].grad().defined()) {
        r.problems.push_back(std::string(dtype_name(dt)) + ": no gradient reached input " + std::to_string(i));
        continue;
      }
      r.errors[pass][1] = std::max(r.errors[pass][1], scaled_max_error(in[i].grad(), file_.at(key)));
    }
  }
  return r;
}

std::vector<std::string> ParityGroup::cases_with_gradient() const {
  std::vector<std::string> out;
  for (const auto& [key, t] : file_.tensors) {
    const std::string suffix = "/grad0";
    if (key.size() > suffix.size() && key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(key.substr(0, key.size() - suffix.size()));
  }
  return out;
}

void ParityGroup::check(const std::string& name, const autograd::TensorFn& fn, double tol64, double tol32) {
  INFO("parity case: ", group_, "/", name);
  checked_.insert(name);
  const ParityResult r = measure(name, fn);
  for (const std::string& p : r.problems) CHECK_MESSAGE(false, p);
  const auto& errs = r.errors;
  std::printf("[parity] %s/%s: f64 out %.2e grad %.2e | f32 out %.2e grad %.2e\n", group_.c_str(), name.c_str(),
              errs[0][0], errs[0][1], errs[1][0], errs[1][1]);
  append_report_csv(group_ + "/" + name, errs[0][0], errs[0][1], errs[1][0], errs[1][1]);
  CHECK_MESSAGE(errs[0][0] <= tol64, "f64 output differs from torch by ", errs[0][0]);
  CHECK_MESSAGE(errs[0][1] <= tol64, "f64 gradient differs from torch by ", errs[0][1]);
  CHECK_MESSAGE(errs[1][0] <= tol32, "f32 output differs from torch by ", errs[1][0]);
  CHECK_MESSAGE(errs[1][1] <= tol32, "f32 gradient differs from torch by ", errs[1][1]);
}

void ParityGroup::expect_all_checked() const {
  for (const auto& [key, t] : file_.tensors) {
    const std::string name = case_of(key);
    CHECK_MESSAGE(checked_.count(name), "oracle case '", name, "' in ", file_.path, " has no C++ parity check");
  }
}

TrainingGap training_gap(const std::vector<std::pair<std::string, Tensor>>& ours,
                         const std::function<Tensor(const std::string&)>& theirs_final,
                         const std::function<Tensor(const std::string&)>& initial) {
  TrainingGap gap;
  for (const auto& [k, p] : ours) {
    const Tensor theirs = theirs_final(k);
    const double e = rel_l2(p, theirs);
    if (e > gap.worst_w) gap.worst_w = e, gap.worst_name = k;
    Tensor ours_update = p.to(DType::F64), their_update = theirs.to(DType::F64);
    const std::vector<double> w0 = initial(k).to_vector();
    for (size_t j = 0; j < w0.size(); ++j) {
      ours_update.data<double>()[j] -= w0[j];
      their_update.data<double>()[j] -= w0[j];
    }
    gap.worst_update = std::max(gap.worst_update, rel_l2(ours_update, their_update));
  }
  return gap;
}

void check_training_bounds(DType dt, double worst_loss, double worst_lr, const TrainingGap& gap) {
  CHECK(worst_lr <= 1e-12);
  if (dt == DType::F64) {  // same math in double: rounding only
    CHECK(worst_loss <= 1e-13);
    CHECK(gap.worst_update <= 1e-11);
  } else {
    CHECK(worst_loss <= 1e-4);
    CHECK(gap.worst_w <= 1e-3);
    CHECK(gap.worst_update <= 2e-2);
  }
}

}  // namespace liednet::testing
