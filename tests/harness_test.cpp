// The harness must catch a wrong gradient: an op with a deliberately wrong
// backward fails it, and the same op with the right backward passes.
#include <doctest/doctest.h>

#include "autograd/autograd.h"
#include "op_harness.h"
#include "ops/elementwise.h"

using namespace liednet;

namespace {
// y = x^2 with backward factor `k` (2 is right).
Tensor square_with_backward(const Tensor& x, double k) {
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  LIEDNET_DISPATCH(x.dtype(), T, {
    const T* p = x.data<T>();
    T* q = y.data<T>();
    for (int64_t i = 0; i < x.numel(); ++i) q[i] = p[i] * p[i];
  });
  if (autograd::needs_grad({&x})) {
    Tensor saved = x.detach();
    autograd::record(y, "square", {x}, [saved, k](const Tensor& g, std::vector<Tensor>& gi) {
      LIEDNET_DISPATCH(g.dtype(), T, {
        const T* gp = g.data<T>();
        const T* xp = saved.data<T>();
        T* d = gi[0].data<T>();
        for (int64_t i = 0; i < g.numel(); ++i) d[i] += static_cast<T>(k) * xp[i] * gp[i];
      });
    });
  }
  return y;
}

// The wrong gradient only in f32: the f32-vs-f64 gradient check must catch it.
Tensor square_wrong_in_f32(const Tensor& x) {
  return square_with_backward(x, x.dtype() == DType::F32 ? 2.1 : 2.0);
}
}  // namespace

TEST_SUITE("harness") {
  TEST_CASE("the right backward passes") {
    testing::OpReport r =
        testing::run_op_case({"square", {{1, 3, 5, 7}}, [](auto& x) { return square_with_backward(x[0], 2.0); }});
    CHECK(r.ok());
    CHECK(r.gradcheck.elements_checked == 105);
  }

  TEST_CASE("a wrong backward fails the gradient check") {
    testing::OpReport r =
        testing::run_op_case({"square", {{1, 3, 5, 7}}, [](auto& x) { return square_with_backward(x[0], 1.9); }});
    CHECK(!r.gradcheck.ok);
    CHECK(!r.ok());
    CHECK(r.gradcheck.first_failure.find("input 0") != std::string::npos);
  }

  TEST_CASE("a gradient wrong by one part in a million fails too") {
    testing::OpReport r = testing::run_op_case(
        {"square", {{2, 3}}, [](auto& x) { return square_with_backward(x[0], 2.0 * (1 + 1e-4)); }});
    CHECK(!r.gradcheck.ok);
  }

  TEST_CASE("a backward wrong only in f32 fails the f32 check") {
    testing::OpReport r = testing::run_op_case({"square", {{2, 3}}, [](auto& x) { return square_wrong_in_f32(x[0]); }});
    CHECK(r.gradcheck.ok);
    CHECK(!r.grad_f32_ok);
  }

  TEST_CASE("a forward that differs between f32 and f64 fails") {
    auto bad = [](const std::vector<Tensor>& x) {
      return x[0].dtype() == DType::F32 ? ops::scale(x[0], 1.001) : ops::scale(x[0], 1.0);
    };
    testing::OpReport r = testing::run_op_case({"scale", {{2, 3}}, bad});
    CHECK(!r.forward_ok);
  }

  TEST_CASE("a missing gradient for one input is caught") {
    // add whose backward forgets the second input.
    auto forgetful = [](const std::vector<Tensor>& x) {
      Tensor y = ops::add(x[0].detach(), x[1].detach());
      if (autograd::needs_grad(x))
        autograd::record(y, "add_forgetful", x, [](const Tensor& g, std::vector<Tensor>& gi) {
          ops::add_into(gi[0], g);
        });
      return y;
    };
    testing::OpReport r = testing::run_op_case({"add_forgetful", {{2, 3}, {2, 3}}, forgetful});
    CHECK(!r.gradcheck.ok);
    CHECK(r.gradcheck.first_failure.find("input 1") != std::string::npos);
  }
}
