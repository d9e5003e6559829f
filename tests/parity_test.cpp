// The parity plumbing must fail, not skip, a case whose op no longer records
// its backward: the torch gradients would otherwise go unchecked.
#include <doctest/doctest.h>

#include "autograd/autograd.h"
#include "ops/elementwise.h"
#include "parity.h"

using namespace liednet;

TEST_SUITE("parity") {
  TEST_CASE("a parity case whose op records no gradient fails; the same op recording it passes") {
    testing::ParityGroup g("ops_elementwise");
    const testing::ParityResult good = g.measure("mul", [](auto& x) { return ops::mul(x[0], x[1]); });
    CHECK(good.problems.empty());
    CHECK(good.errors[0][1] <= 1e-10);
    const testing::ParityResult lost = g.measure("mul", [](auto& x) {
      autograd::NoGradGuard no_grad;  // as an op that forgot to record would
      return ops::mul(x[0], x[1]);
    });
    REQUIRE(lost.problems.size() == 2);  // the f64 and the f32 run
    CHECK(lost.problems[0] == "f64: the output records no gradient, but torch has gradients");
    CHECK(lost.problems[1] == "f32: the output records no gradient, but torch has gradients");
    CHECK(g.measure("no such case", [](auto& x) { return x[0]; }).problems.size() == 1);
  }
}
