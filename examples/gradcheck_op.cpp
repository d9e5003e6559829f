// A gradient check, and what it looks like when a backward is wrong.
//
// What to look at:
//  - an op is a forward plus a backward recorded on the tape (autograd::record): here cube(x) = x^3, whose
//    backward adds grad_out * 3 x^2 into the input's gradient;
//  - autograd::gradcheck compares that backward with central finite differences in double precision
//    ((L(x + eps) - L(x - eps)) / 2 eps, L = sum(y * g) for a random g); every op of the library passes this
//    test (tests/op_harness.cpp);
//  - the same op with a deliberately broken backward (2 x^2 instead of 3 x^2) fails, and the check names the
//    first element that disagrees.
// Exits 1 unless the right backward passes and the broken one fails.
#include <cstdio>

#include "autograd/autograd.h"
#include "autograd/gradcheck.h"

using namespace liednet;

static Tensor cube(const Tensor& x, double slope) {
  Tensor y = Tensor::empty(x.shape(), DType::F64);
  for (int64_t i = 0; i < x.numel(); ++i) y.data<double>()[i] = x.data<double>()[i] * x.data<double>()[i] * x.data<double>()[i];
  if (autograd::needs_grad({&x})) {
    Tensor xs = x.detach();  // what the backward needs, kept by the node
    autograd::record(y, "cube", {x}, [xs, slope](const Tensor& gy, std::vector<Tensor>& gi) {
      if (!gi[0].defined()) return;
      for (int64_t i = 0; i < xs.numel(); ++i) {
        const double v = xs.data<double>()[i];
        gi[0].data<double>()[i] += gy.data<double>()[i] * slope * v * v;
      }
    });
  }
  return y;
}

int main() {
  Generator gen(3);
  Tensor x = Tensor::randn({2, 3}, gen, DType::F64);
  x.set_requires_grad();
  auto right = autograd::gradcheck([](const std::vector<Tensor>& in) { return cube(in[0], 3.0); }, {x});
  std::printf("cube with backward 3 x^2: %s, %lld elements, max |analytic - numeric| = %.3g\n",
              right.ok ? "passes" : "FAILS", static_cast<long long>(right.elements_checked), right.max_abs_error);
  auto broken = autograd::gradcheck([](const std::vector<Tensor>& in) { return cube(in[0], 2.0); }, {x});
  std::printf("cube with backward 2 x^2: %s, max |analytic - numeric| = %.3g\n  first failure: %s\n",
              broken.ok ? "passes (it should not)" : "fails, as it should", broken.max_abs_error,
              broken.first_failure.c_str());
  return right.ok && !broken.ok ? 0 : 1;
}
