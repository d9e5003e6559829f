#include "autograd/gradcheck.h"

#include <cmath>
#include <sstream>

#include "autograd/autograd.h"

namespace liednet::autograd {

namespace {
double dot(const Tensor& a, const Tensor& b) {
  const double* pa = a.data<double>();
  const double* pb = b.data<double>();
  double s = 0;
  for (int64_t i = 0, n = a.numel(); i < n; ++i) s += pa[i] * pb[i];
  return s;
}
}  // namespace

GradcheckResult gradcheck(const TensorFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& opt) {
  for (const Tensor& t : inputs)
    LIEDNET_CHECK(!t.defined() || (t.dtype() == DType::F64 && t.device() == Device::CPU),
                  "gradcheck: inputs must be f64 on the CPU, got ", t.str());

  for (Tensor t : inputs)
    if (t.defined()) t.zero_grad();
  Tensor y = fn(inputs);
  Generator gen(opt.seed);
  Tensor g = Tensor::randn(y.shape(), gen, DType::F64);
  LIEDNET_CHECK(y.requires_grad(), "gradcheck: output ", y.str(), " does not require grad");
  y.backward(g);

  GradcheckResult r;
  NoGradGuard no_grad;
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor x = inputs[k];
    if (!x.defined() || !x.requires_grad()) continue;
    Tensor analytic = x.grad();
    double* px = x.data<double>();
    for (int64_t i = 0, n = x.numel(); i < n; ++i) {
      const double saved = px[i];
      px[i] = saved + opt.eps;
      const double plus = dot(fn(inputs), g);
      px[i] = saved - opt.eps;
      const double minus = dot(fn(inputs), g);
      px[i] = saved;
      const double numeric = (plus - minus) / (2 * opt.eps);
      const double a = analytic.defined() ? analytic.data<double>()[i] : 0.0;
      const double err = std::fabs(a - numeric);
      const double ratio = err / (opt.atol + opt.rtol * std::fabs(numeric));
      ++r.elements_checked;
      r.max_abs_error = std::max(r.max_abs_error, err);
      if (std::fabs(numeric) > opt.atol) r.max_rel_error = std::max(r.max_rel_error, err / std::fabs(numeric));
      r.worst_ratio = std::max(r.worst_ratio, ratio);
      if (!(ratio <= 1.0) && r.ok) {
        r.ok = false;
        std::ostringstream s;
        s << "input " << k << " " << x.shape() << " element " << i << ": analytic " << a << ", numeric "
          << numeric;
        r.first_failure = s.str();
      }
    }
  }
  for (Tensor t : inputs)
    if (t.defined()) t.zero_grad();
  return r;
}

}  // namespace liednet::autograd
