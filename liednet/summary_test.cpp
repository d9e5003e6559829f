#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "liednet/summary.h"
#include "ops/flops.h"

using namespace liednet;

namespace {
// What `info` used to compute with a forward: each observed stage's output and
// the FLOPs counted since the previous one.
struct Observed {
  std::vector<std::string> names;
  std::vector<Shape> shapes;
  std::vector<int64_t> flops;
};

Observed observe(net::LIEDNet& model, int64_t H, int64_t W, bool side) {
  Observed o;
  ops::FlopCounter counter;
  int64_t last = 0;
  model.observer = [&](const std::string& name, const Tensor& y) {
    o.names.push_back(name);
    o.shapes.push_back(y.shape());
    o.flops.push_back(counter.total() - last);
    last = counter.total();
  };
  autograd::NoGradGuard no_grad;
  model.forward(Tensor::zeros({1, 3, H, W}), side);
  model.observer = nullptr;
  return o;
}

void check_against_forward(net::LIEDNet& model, int64_t H, int64_t W, bool side) {
  const Observed o = observe(model, H, W, side);
  const net::NetworkSummary s = net::summarize(model, H, W, side);
  REQUIRE(s.stages.size() == o.names.size());
  int64_t total = 0;
  for (size_t i = 0; i < o.names.size(); ++i) {
    CAPTURE(o.names[i]);
    CHECK(s.stages[i].name == o.names[i]);
    CHECK(s.stages[i].output == o.shapes[i]);
    CHECK(s.stages[i].flops == o.flops[i]);
    CHECK(s.stages[i].training_only == (o.names[i] == "side_out"));
    if (!s.stages[i].training_only) total += o.flops[i];
  }
  CHECK(s.flops == total);
  CHECK(s.params == model.parameter_count());
}
}  // namespace

TEST_SUITE("nn") {
  TEST_CASE("summarize: every stage's shape and FLOPs equal a real forward's, without running one") {
    Generator g(3);
    net::LIEDNet tiny(net::LIEDNetConfig{8, {1, 2, 1}, 2, "tiny"}, g);
    check_against_forward(tiny, 24, 40, true);
    check_against_forward(tiny, 19, 13, false);  // padded to 24x16 as the forward pads
    tiny.set_without_ss2d(true);
    check_against_forward(tiny, 16, 16, false);
    net::LIEDNet full(net::preset("liednet"), g);
    check_against_forward(full, 16, 24, true);
  }

  TEST_CASE("summarize: parameters per stage add up, and sizes out of range are errors") {
    Generator g(3);
    net::LIEDNet m(net::preset("liednet"), g);
    const net::NetworkSummary s = net::summarize(m, 8000, 8000, true);
    int64_t params = 0;
    for (const auto& st : s.stages) params += st.params;
    CHECK(params == 4755554);
    CHECK(s.stages.back().output == Shape{1, 3, 8000, 8000});
    int64_t inference = 0;
    for (const auto& st : s.stages) inference += st.training_only ? 0 : st.flops;
    CHECK(s.flops == inference);
    CHECK(s.flops > 15000 * net::summarize(m, 64, 64, false).flops);  // about linear in the pixels
    CHECK_THROWS_WITH(net::summarize(m, 0, 8, false), doctest::Contains("size must be in [1, 65536]"));
    CHECK_THROWS_WITH(net::summarize(m, 8, 70000, false), doctest::Contains("got 8x70000"));
    CHECK_THROWS_WITH(net::summarize(m, 12, 8, true), doctest::Contains("multiples of 8"));
  }
}
