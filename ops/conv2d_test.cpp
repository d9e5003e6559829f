#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "op_harness.h"
#include "ops/conv2d.h"
#include "parity.h"
#include "tensor/parallel.h"

using namespace liednet;
using ops::Conv2dOptions;

namespace {

// Sets the im2col band bound for one scope, so small inputs span several bands.
class BandBound {
 public:
  explicit BandBound(int64_t elements) : previous_(ops::detail::set_conv2d_tile_elements(elements)) {}
  ~BandBound() { ops::detail::set_conv2d_tile_elements(previous_); }
  BandBound(const BandBound&) = delete;
  BandBound& operator=(const BandBound&) = delete;

 private:
  int64_t previous_;
};

// Inputs are (x, weight) or (x, weight, bias).
autograd::TensorFn conv(Conv2dOptions opt) {
  return [opt](const std::vector<Tensor>& in) { return ops::conv2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), opt); };
}

autograd::TensorFn linear() {
  return [](const std::vector<Tensor>& in) { return ops::linear_channels(in[0], in[1], in.size() > 2 ? in[2] : Tensor()); };
}

struct ConvCase {
  std::string name;
  Shape x, w;
  bool bias;
  Conv2dOptions opt;
  std::vector<bool> requires_grad = {};
};

testing::OpCase op_case(const ConvCase& c) {
  std::vector<Shape> shapes{c.x, c.w};
  if (c.bias) shapes.push_back(Shape{c.w[0]});
  return {.name = "conv2d " + c.name, .shapes = shapes, .fn = conv(c.opt), .requires_grad = c.requires_grad};
}

Tensor random(const Shape& s, uint64_t seed, DType dt = DType::F64) {
  Generator gen(seed);
  return Tensor::randn(s, gen, dt);
}

// Every path: dense im2col, strided, grouped, channel multiplier, depthwise, pointwise.
const std::vector<ConvCase> kPaths = {
    {"3x3 pad 1", {2, 3, 6, 7}, {4, 3, 3, 3}, true, {.padding = 1}},
    {"3x3 stride 2 pad 1", {1, 3, 7, 9}, {4, 3, 3, 3}, true, {.stride = 2, .padding = 1}},
    {"2x2 stride 2 odd", {1, 3, 7, 9}, {4, 3, 2, 2}, false, {.stride = 2}},
    {"5x5 pad 2", {1, 2, 5, 7}, {3, 2, 5, 5}, true, {.padding = 2}},
    {"groups 2", {2, 4, 5, 7}, {6, 2, 3, 3}, true, {.padding = 1, .groups = 2}},
    {"channel multiplier 2", {1, 2, 5, 7}, {4, 1, 3, 3}, true, {.padding = 1, .groups = 2}},
    {"depthwise 3x3", {2, 4, 5, 7}, {4, 1, 3, 3}, true, {.padding = 1, .groups = 4}},
    {"depthwise 5x5 stride 2", {1, 4, 7, 9}, {4, 1, 5, 5}, true, {.stride = 2, .padding = 2, .groups = 4}},
    {"1x1", {2, 3, 5, 7}, {5, 3, 1, 1}, true, {}},
    {"1x1 groups 2", {2, 4, 5, 7}, {6, 2, 1, 1}, false, {.groups = 2}},
    {"1x1 stride 2", {1, 3, 5, 7}, {4, 3, 1, 1}, true, {.stride = 2}},
    {"depthwise 3x3 pad 0", {1, 3, 6, 7}, {3, 1, 3, 3}, true, {.groups = 3}},
    {"depthwise 3x3 pad 2", {1, 3, 5, 6}, {3, 1, 3, 3}, false, {.padding = 2, .groups = 3}},
    {"depthwise 3x5 pad 1 (general loops)", {2, 3, 5, 7}, {3, 1, 3, 5}, true, {.padding = 1, .groups = 3}},
    // Wider than two 512-bit vectors of f32 and four of f64, plus a remainder.
    {"depthwise 5x5 pad 2 wide", {1, 2, 4, 37}, {2, 1, 5, 5}, true, {.padding = 2, .groups = 2}},
    // Big enough to be split across threads; with 2 threads the split falls inside a group.
    {"groups 3 split across threads", {1, 6, 16, 20}, {6, 2, 3, 3}, true, {.padding = 1, .groups = 3}},
    {"3x3 pad 1 16->32", {2, 16, 12, 20}, {32, 16, 3, 3}, false, {.padding = 1}},
    {"1x1 over more than 4096 pixels", {1, 3, 65, 70}, {5, 3, 1, 1}, true, {}},
};

// Sets the thread count for one scope.
class Threads {
 public:
  explicit Threads(int n) : previous_(num_threads()) { set_num_threads(n); }
  ~Threads() { set_num_threads(previous_); }
  Threads(const Threads&) = delete;
  Threads& operator=(const Threads&) = delete;

 private:
  int previous_;
};

}  // namespace

TEST_SUITE("ops") {
  TEST_CASE("op conv2d") {
    const std::vector<ConvCase> cases = {
        {"3x3 pad 1", {1, 3, 5, 7}, {4, 3, 3, 3}, true, {.padding = 1}},
        {"batch 2 3x3 pad 1", {2, 3, 5, 7}, {4, 3, 3, 3}, true, {.padding = 1}},
        {"2x2 stride 2", {1, 3, 6, 8}, {4, 3, 2, 2}, false, {.stride = 2}},
        {"2x2 stride 2 odd (last row and column dropped)", {1, 3, 7, 9}, {4, 3, 2, 2}, true, {.stride = 2}},
        {"3x3 stride 2 pad 1", {1, 3, 7, 9}, {4, 3, 3, 3}, true, {.stride = 2, .padding = 1}},
        {"5x5 pad 2", {1, 2, 5, 7}, {3, 2, 5, 5}, true, {.padding = 2}},
        {"5x5 pad 2 on a 2x3 input", {1, 2, 2, 3}, {3, 2, 5, 5}, true, {.padding = 2}},
        {"3x3 pad 2", {1, 2, 3, 4}, {3, 2, 3, 3}, false, {.padding = 2}},
        {"groups 2 3x3 pad 1", {1, 4, 5, 7}, {6, 2, 3, 3}, true, {.padding = 1, .groups = 2}},
        {"channel multiplier 2", {1, 2, 5, 7}, {4, 1, 3, 3}, true, {.padding = 1, .groups = 2}},
        {"depthwise 3x3 pad 1", {2, 4, 5, 7}, {4, 1, 3, 3}, true, {.padding = 1, .groups = 4}},
        {"depthwise 5x5 pad 2", {2, 4, 5, 7}, {4, 1, 5, 5}, true, {.padding = 2, .groups = 4}},
        {"depthwise 3x3 stride 2 pad 1", {1, 4, 7, 9}, {4, 1, 3, 3}, false, {.stride = 2, .padding = 1, .groups = 4}},
        {"depthwise 3x3 pad 2", {1, 3, 5, 6}, {3, 1, 3, 3}, false, {.padding = 2, .groups = 3}},
        {"depthwise 3x5 pad 1 (general loops)", {2, 3, 5, 7}, {3, 1, 3, 5}, true, {.padding = 1, .groups = 3}},
        {"depthwise 5x5 pad 2 on a 19-wide input", {1, 2, 3, 19}, {2, 1, 5, 5}, true, {.padding = 2, .groups = 2}},
        {"1x1 bias", {1, 3, 5, 7}, {5, 3, 1, 1}, true, {}},
        {"1x1 no bias", {2, 3, 5, 7}, {5, 3, 1, 1}, false, {}},
        {"1x1 groups 2", {2, 4, 5, 7}, {6, 2, 1, 1}, true, {.groups = 2}},
        {"1x1 stride 2", {1, 3, 5, 7}, {4, 3, 1, 1}, true, {.stride = 2}},
        {"3x3 pad 1 no input grad", {2, 3, 5, 7}, {4, 3, 3, 3}, true, {.padding = 1}, {false, true, true}},
        {"3x3 pad 1 frozen weight", {2, 3, 5, 7}, {4, 3, 3, 3}, true, {.padding = 1}, {true, false, false}},
        {"depthwise frozen weight", {2, 4, 5, 7}, {4, 1, 3, 3}, false, {.padding = 1, .groups = 4}, {true, false}},
    };
    for (const ConvCase& c : cases) testing::check_op(op_case(c));

    // One output row per band: (C_in*kh*kw) * OW = 27 * 7 elements fit, 2 rows do not.
    BandBound bound(27 * 7);
    testing::check_op(op_case({"3x3 pad 1, one row per band", {2, 3, 5, 7}, {4, 3, 3, 3}, true, {.padding = 1}}));
    testing::check_op(
        op_case({"3x3 stride 2 pad 1, one row per band", {1, 3, 7, 9}, {4, 3, 3, 3}, true, {.stride = 2, .padding = 1}}));
  }

  TEST_CASE("op linear_channels") {
    testing::check_op({.name = "linear_channels bias", .shapes = {{1, 3, 5, 7}, {4, 3}, {4}}, .fn = linear()});
    testing::check_op({.name = "linear_channels no bias", .shapes = {{2, 3, 5, 7}, {6, 3}}, .fn = linear()});
  }

  TEST_CASE("conv2d fast paths match the reference loops") {
    // Forward and every gradient, for every path, at several thread counts, with
    // one band per sample and with one output row per band.
    for (int threads : {1, 2, 3}) {
      Threads t(threads);
      for (DType dt : {DType::F64, DType::F32}) {
        const double tol = dt == DType::F64 ? 1e-12 : 1e-5;
        for (int64_t bound : {int64_t{1} << 19, int64_t{1}}) {
          BandBound b(bound);
          uint64_t seed = 1;
          for (const ConvCase& c : kPaths) {
            INFO(c.name, ", ", dtype_name(dt), ", band bound ", bound, ", threads ", threads);
            std::vector<Tensor> in{random(c.x, seed++, dt), random(c.w, seed++, dt)};
            if (c.bias) in.push_back(random({c.w[0]}, seed++, dt));
            for (Tensor& v : in) v.set_requires_grad();
            const Tensor bias = c.bias ? in[2] : Tensor();
            Tensor y = conv(c.opt)(in);
            const Tensor gout = random(y.shape(), seed++, dt);
            y.backward(gout);
            const Tensor ref = ops::detail::conv2d_reference(in[0].detach(), in[1].detach(),
                                                             c.bias ? bias.detach() : Tensor(), c.opt);
            const ops::detail::Conv2dGrads grads = ops::detail::conv2d_reference_backward(
                in[0].detach(), in[1].detach(), c.bias ? bias.detach() : Tensor(), gout, c.opt);
            CHECK(testing::scaled_max_error(y, ref) <= tol);
            CHECK(testing::scaled_max_error(in[0].grad(), grads.x) <= tol);
            CHECK(testing::scaled_max_error(in[1].grad(), grads.weight) <= tol);
            if (c.bias) CHECK(testing::scaled_max_error(in[2].grad(), grads.bias) <= tol);
          }
        }
      }
    }
    // linear_channels is the reference 1x1 convolution on the same weight memory.
    Tensor x = random({2, 5, 3, 4}, 7), w = random({6, 5}, 8), b = random({6}, 9);
    CHECK(testing::scaled_max_error(ops::linear_channels(x, w, b),
                                    ops::detail::conv2d_reference(x, w.reshape({6, 5, 1, 1}), b)) <= 1e-12);
  }

  TEST_CASE("conv2d gradients are deterministic") {
    // The same inputs twice give bit-identical outputs and gradients.
    uint64_t seed = 100;
    for (const ConvCase& c : kPaths) {
      INFO(c.name);
      Tensor x = random(c.x, seed++, DType::F32), w = random(c.w, seed++, DType::F32);
      Tensor bias = c.bias ? random({c.w[0]}, seed++, DType::F32) : Tensor();
      const Tensor gout = random(ops::detail::conv2d_reference(x, w, bias, c.opt).shape(), seed++, DType::F32);
      auto run = [&] {
        std::vector<Tensor> in{x.clone(), w.clone()};
        if (bias.defined()) in.push_back(bias.clone());
        for (Tensor& t : in) t.set_requires_grad();
        Tensor y = conv(c.opt)(in);
        y.backward(gout);
        std::vector<std::vector<double>> out{y.to_vector()};
        for (Tensor& t : in) out.push_back(t.grad().to_vector());
        return out;
      };
      CHECK(run() == run());
    }
  }

  TEST_CASE("conv2d errors name the op and the shapes") {
    Tensor x = Tensor::zeros({1, 6, 5, 5});
    CHECK_THROWS_WITH(ops::conv2d(x, Tensor::zeros({4, 6, 3, 3}), Tensor(), {.groups = 4}),
                      doctest::Contains("conv2d: input channels 6 are not divisible by groups 4 (x f32 (1, 6, 5, 5) "
                                        "cpu, weight f32 (4, 6, 3, 3) cpu, bias none)"));
    CHECK_THROWS_WITH(ops::conv2d(x, Tensor::zeros({3, 3, 3, 3}), Tensor(), {.groups = 2}),
                      doctest::Contains("conv2d: output channels 3 are not divisible by groups 2"));
    CHECK_THROWS_WITH(ops::conv2d(x, Tensor::zeros({4, 2, 3, 3}), Tensor(), {.groups = 2}),
                      doctest::Contains("conv2d: weight has 2 input channels per group, expected C_in/groups = 6/2 "
                                        "= 3 (x f32 (1, 6, 5, 5) cpu, weight f32 (4, 2, 3, 3) cpu"));
    CHECK_THROWS_WITH(ops::conv2d(x, Tensor::zeros({4, 6, 3, 3}), Tensor::zeros({3})),
                      doctest::Contains("conv2d: bias must be (C_out) = (4) (x f32 (1, 6, 5, 5) cpu, weight f32 (4, "
                                        "6, 3, 3) cpu, bias f32 (3) cpu)"));
    CHECK_THROWS_WITH(ops::conv2d(x, Tensor::zeros({4, 6, 7, 3}), Tensor(), {.padding = 0}),
                      doctest::Contains("conv2d: kernel 7x3 is larger than the padded input 5x5"));
    CHECK_THROWS_WITH(ops::conv2d(x, Tensor::zeros({4, 6, 3, 3}), Tensor(), {.stride = 0}),
                      doctest::Contains("conv2d: stride must be at least 1, got 0"));
    CHECK_THROWS_WITH(ops::conv2d(x, Tensor::zeros({4, 6, 3, 3}), Tensor(), {.padding = -1}),
                      doctest::Contains("conv2d: padding must be non-negative, got -1"));
    CHECK_THROWS_WITH(ops::conv2d(x, Tensor::zeros({4, 6, 3, 3}), Tensor(), {.groups = 0}),
                      doctest::Contains("conv2d: groups must be at least 1, got 0"));
    CHECK_THROWS_WITH(ops::conv2d(Tensor::zeros({6, 5, 5}), Tensor::zeros({4, 6, 3, 3}), Tensor()),
                      doctest::Contains("conv2d: x must be (N, C_in, H, W) (x f32 (6, 5, 5) cpu"));
    CHECK_THROWS_WITH(ops::conv2d(x, Tensor::zeros({4, 6, 3}), Tensor()),
                      doctest::Contains("conv2d: weight must be (C_out, C_in/groups, kh, kw)"));
    CHECK_THROWS_WITH(ops::conv2d(x, Tensor::zeros({4, 6, 3, 3}, DType::F64), Tensor()),
                      doctest::Contains("conv2d: inputs differ in dtype or device: f32 (1, 6, 5, 5) cpu vs f64 (4, 6, "
                                        "3, 3) cpu"));
    CHECK_THROWS_WITH(ops::linear_channels(x, Tensor::zeros({4, 5})),
                      doctest::Contains("linear_channels: weight must be (out, in) with in = 6 (x f32 (1, 6, 5, 5) cpu, "
                                        "weight f32 (4, 5) cpu, bias none)"));
    CHECK_THROWS_WITH(ops::linear_channels(x, Tensor::zeros({4, 6}), Tensor::zeros({6})),
                      doctest::Contains("linear_channels: bias must be (out) = (4)"));
  }
}

TEST_SUITE("parity") {
  TEST_CASE("conv2d parity") {
    testing::ParityGroup g("ops_conv2d");
    g.check("3x3 pad 1", conv({.padding = 1}));
    g.check("2x2 stride 2", conv({.stride = 2}));
    g.check("2x2 stride 2 odd", conv({.stride = 2}));
    g.check("5x5 pad 2", conv({.padding = 2}));
    g.check("5x5 pad 2 small input", conv({.padding = 2}));
    g.check("3x3 stride 2 pad 1", conv({.stride = 2, .padding = 1}));
    g.check("3x3 pad 2", conv({.padding = 2}));
    g.check("1x1 stride 2", conv({.stride = 2}));
    g.check("batch 2 3x3 pad 1", conv({.padding = 1}));
    g.check("groups 2 3x3 pad 1", conv({.padding = 1, .groups = 2}));
    g.check("groups 2 1x1", conv({.groups = 2}));
    g.check("channel multiplier 2", conv({.padding = 1, .groups = 2}));
    g.check("depthwise 3x3 pad 1", conv({.padding = 1, .groups = 4}));
    g.check("depthwise 5x5 pad 2", conv({.padding = 2, .groups = 4}));
    g.check("depthwise 3x3 stride 2 pad 1", conv({.stride = 2, .padding = 1, .groups = 4}));
    g.check("depthwise 3x3 pad 2", conv({.padding = 2, .groups = 3}));
    g.check("depthwise 3x5 pad 1", conv({.padding = 1, .groups = 3}));
    g.check("1x1 bias", conv({}));
    g.check("1x1 no bias", conv({}));
    g.check("3x3 pad 1 no input grad", conv({.padding = 1}));
    g.check("3x3 pad 1 frozen weight", conv({.padding = 1}));
    g.check("depthwise frozen weight", conv({.padding = 1, .groups = 4}));
    g.check("large 3x3 pad 1", conv({.padding = 1}));
    {
      // 16*9*24 elements per output row: three rows per band, seven bands per sample.
      BandBound bound(3 * 16 * 9 * 24);
      g.check("large 3x3 pad 1", conv({.padding = 1}));
    }
    g.check("large 2x2 stride 2", conv({.stride = 2}));
    g.check("large 1x1", conv({}));
    g.check("large depthwise 5x5 pad 2", conv({.padding = 2, .groups = 16}));
    g.check("linear_channels bias", linear());
    g.check("linear_channels no bias", linear());
    g.check("linear_channels large", linear());
    g.expect_all_checked();
  }
}

TEST_SUITE("ops") {
  TEST_CASE("conv2d forward and gradients are bit-identical for any thread count") {
    struct Case {
      Shape x, w;
      ops::Conv2dOptions opt;
    };
    const Case cases[] = {{{2, 16, 20, 24}, {32, 16, 3, 3}, {1, 1, 1}},  // im2col bands
                          {{2, 12, 9, 11}, {12, 1, 5, 5}, {1, 2, 12}},   // depthwise
                          {{2, 16, 10, 12}, {8, 16, 1, 1}, {1, 0, 1}},   // 1x1
                          {{1, 6, 13, 9}, {8, 3, 3, 3}, {2, 1, 2}}};     // stride 2, groups 2
    const int saved = num_threads();
    const int64_t saved_tile = ops::detail::set_conv2d_tile_elements(2000);  // several bands
    for (const Case& c : cases) {
      Generator g(17);
      Tensor x0 = Tensor::randn(c.x, g), w0 = Tensor::randn(c.w, g), b0 = Tensor::randn({c.w[0]}, g);
      std::vector<std::vector<double>> runs;
      for (int threads : {1, 2, 3}) {
        set_num_threads(threads);
        Tensor x = x0.clone().set_requires_grad(), w = w0.clone().set_requires_grad(), b = b0.clone().set_requires_grad();
        Tensor y = ops::conv2d(x, w, b, c.opt);
        Generator gg(5);
        y.backward(Tensor::randn(y.shape(), gg));
        std::vector<double> all = y.to_vector();
        for (const Tensor& t : {x.grad(), w.grad(), b.grad()}) {
          auto v = t.to_vector();
          all.insert(all.end(), v.begin(), v.end());
        }
        runs.push_back(all);
      }
      INFO("x ", c.x, " w ", c.w);
      CHECK(runs[0] == runs[1]);
      CHECK(runs[0] == runs[2]);
    }
    ops::detail::set_conv2d_tile_elements(saved_tile);
    set_num_threads(saved);
  }
}
