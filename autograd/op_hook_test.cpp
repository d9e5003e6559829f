// The op-boundary hook (autograd/profiler.h) that the Python module uses to
// turn Ctrl-C into KeyboardInterrupt between ops.
#include <doctest/doctest.h>

#include "autograd/autograd.h"
#include "autograd/profiler.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "tensor/error.h"

using namespace liednet;

namespace {
int g_calls = 0;
bool g_stop = false;
void counting_hook() {
  ++g_calls;
  if (g_stop) throw Error("stopped at an op boundary");
}
}  // namespace

TEST_SUITE("autograd") {
  TEST_CASE("the op-boundary hook runs at every op's entry and backward node, and may stop there") {
    profiler::set_op_boundary_hook(counting_hook);
    Tensor x = Tensor::ones({2, 3}, DType::F64);
    x.set_requires_grad(true);
    g_calls = 0;
    Tensor y = ops::sum(ops::mul(x, x));
    CHECK(g_calls >= 2);  // mul, sum
    g_calls = 0;
    y.backward(Tensor(), true);
    CHECK(g_calls >= 2);  // the backward nodes of sum and mul
    CHECK(x.grad().to_vector() == std::vector<double>(6, 2.0));
    g_stop = true;
    CHECK_THROWS_WITH_AS(ops::add(x, x), "stopped at an op boundary", Error);
    x.zero_grad();
    CHECK_THROWS_AS(y.backward(), Error);  // stopped before any node ran: no gradient reached x
    CHECK_FALSE(x.grad().defined());
    g_stop = false;
    profiler::set_op_boundary_hook(nullptr);
    CHECK(ops::add(x, x).to_vector() == std::vector<double>(6, 2.0));
  }
}
