// Every op on an empty batch (N = 0), one rule for all: the output is empty
// with the shape the op gives any N, the backward runs, an input's gradient is
// empty and a parameter's gradient is zero (a sum over no samples). Reductions
// to a scalar: sum is 0; mean and the L1 loss (a mean) refuse an empty input
// with a one-line error. Nothing divides by N (norm_silu_gate once did: SIGFPE).
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "ops/activation.h"
#include "ops/channels.h"
#include "ops/conv2d.h"
#include "ops/dgdffn.h"
#include "ops/elementwise.h"
#include "ops/layernorm.h"
#include "ops/loss.h"
#include "ops/norm_gate.h"
#include "ops/pad.h"
#include "ops/pool.h"
#include "ops/reduce.h"
#include "ops/resize.h"
#include "ops/selective_scan.h"
#include "ops/shuffle.h"
#include "ops/ss2d_scan.h"
#include "tensor/error.h"
#include "tensor/random.h"

using namespace liednet;

namespace {

struct EmptyCase {
  std::string name;
  std::vector<Shape> shapes;  // the batch inputs have 0 in dimension 0
  std::vector<bool> batch;    // input i is per sample (its gradient is empty), else a parameter
  std::function<Tensor(const std::vector<Tensor>&)> fn;
  Shape out;  // the expected output shape
};

void check_empty(const EmptyCase& c) {
  for (DType dt : {DType::F32, DType::F64}) {
    INFO(c.name, " ", dtype_name(dt));
    Generator g(7);
    std::vector<Tensor> xs;
    for (const Shape& s : c.shapes) xs.push_back(Tensor::randn(s, g, dt).set_requires_grad(true));
    Tensor y;
    REQUIRE_NOTHROW(y = c.fn(xs));
    CHECK(y.shape() == c.out);
    CHECK(y.numel() == 0);
    REQUIRE_NOTHROW(ops::sum(y).backward());
    for (size_t i = 0; i < xs.size(); ++i) {
      INFO("input ", i);
      const Tensor gr = xs[i].grad();
      if (!gr.defined()) continue;  // no path from this input to an empty output: no gradient at all
      CHECK(gr.shape() == xs[i].shape());
      if (c.batch[i]) {
        CHECK(gr.numel() == 0);
      } else {
        double m = 0;
        const Tensor g64 = gr.to(DType::F64);
        for (int64_t k = 0; k < g64.numel(); ++k) m = std::max(m, std::abs(g64.data<double>()[k]));
        CHECK(m == 0.0);
      }
    }
  }
}

}  // namespace

TEST_SUITE("ops") {
  TEST_CASE("op harness: every op on an empty batch") {
    const Shape x0{0, 4, 6, 6};
    auto one = [](auto f) { return [f](const std::vector<Tensor>& x) { return f(x[0]); }; };
    const std::vector<EmptyCase> cases = {
        {"relu", {x0}, {true}, one(ops::relu), x0},
        {"silu", {x0}, {true}, one(ops::silu), x0},
        {"gelu", {x0}, {true}, one(ops::gelu), x0},
        {"sigmoid", {x0}, {true}, one(ops::sigmoid), x0},
        {"softplus", {x0}, {true}, one(ops::softplus), x0},
        {"exp", {x0}, {true}, one(ops::exp), x0},
        {"add", {x0, x0}, {true, true}, [](auto& x) { return ops::add(x[0], x[1]); }, x0},
        {"sub", {x0, x0}, {true, true}, [](auto& x) { return ops::sub(x[0], x[1]); }, x0},
        {"mul", {x0, x0}, {true, true}, [](auto& x) { return ops::mul(x[0], x[1]); }, x0},
        {"scale", {x0}, {true}, [](auto& x) { return ops::scale(x[0], 3.0); }, x0},
        {"add_scalar", {x0}, {true}, [](auto& x) { return ops::add_scalar(x[0], 3.0); }, x0},
        {"add_channel", {x0, {4}}, {true, false}, [](auto& x) { return ops::add_channel(x[0], x[1]); }, x0},
        {"mul_channel", {x0, {4}}, {true, false}, [](auto& x) { return ops::mul_channel(x[0], x[1]); }, x0},
        {"concat_channels", {x0, x0}, {true, true}, [](auto& x) { return ops::concat_channels({x[0], x[1]}); },
         {0, 8, 6, 6}},
        {"slice_channels", {x0}, {true}, [](auto& x) { return ops::slice_channels(x[0], 1, 3); }, {0, 2, 6, 6}},
        {"conv2d 3x3", {x0, {5, 4, 3, 3}, {5}}, {true, false, false},
         [](auto& x) { return ops::conv2d(x[0], x[1], x[2], {.padding = 1}); }, {0, 5, 6, 6}},
        {"conv2d 1x1 groups 2", {x0, {6, 2, 1, 1}, {6}}, {true, false, false},
         [](auto& x) { return ops::conv2d(x[0], x[1], x[2], {.groups = 2}); }, {0, 6, 6, 6}},
        {"conv2d depthwise", {x0, {4, 1, 3, 3}, {4}}, {true, false, false},
         [](auto& x) { return ops::conv2d(x[0], x[1], x[2], {.padding = 1, .groups = 4}); }, x0},
        {"linear_channels", {x0, {3, 4}, {3}}, {true, false, false},
         [](auto& x) { return ops::linear_channels(x[0], x[1], x[2]); }, {0, 3, 6, 6}},
        {"dgdffn", {x0, {4, 4, 1, 1}, {2, 4, 1, 1}, {2, 1, 3, 3}, {2, 1, 5, 5}, {2, 1, 7, 7}, {2, 4, 1, 1}, {4, 2, 1, 1}},
         {true, false, false, false, false, false, false, false},
         [](auto& x) { return ops::dgdffn(x[0], {x[1], x[2], x[3], x[4], x[5], x[6], x[7]}); }, x0},
        {"layer_norm_channels", {x0, {4}, {4}}, {true, false, false},
         [](auto& x) { return ops::layer_norm_channels(x[0], x[1], x[2]); }, x0},
        {"norm_silu_gate", {x0, {4}, {4}, x0}, {true, false, false, true},
         [](auto& x) { return ops::norm_silu_gate(x[0], x[1], x[2], x[3]); }, x0},
        {"pad_reflect", {x0}, {true}, [](auto& x) { return ops::pad_reflect(x[0], 1, 2, 1, 2); }, {0, 4, 9, 9}},
        {"crop", {x0}, {true}, [](auto& x) { return ops::crop(x[0], 1, 1, 3, 4); }, {0, 4, 3, 4}},
        {"max_pool2x2", {x0}, {true}, one(ops::max_pool2x2), {0, 4, 3, 3}},
        {"mean_hw", {x0}, {true}, one(ops::mean_hw), {0, 4}},
        {"resize_bicubic", {x0}, {true}, [](auto& x) { return ops::resize_bicubic(x[0], 9, 5); }, {0, 4, 9, 5}},
        {"pixel_shuffle", {x0}, {true}, [](auto& x) { return ops::pixel_shuffle(x[0], 2); }, {0, 1, 12, 12}},
        {"pixel_unshuffle", {x0}, {true}, [](auto& x) { return ops::pixel_unshuffle(x[0], 2); }, {0, 16, 3, 3}},
        {"selective_scan", {{0, 4, 10}, {0, 4, 10}, {4, 3}, {0, 2, 3, 10}, {0, 2, 3, 10}, {4}, {4}},
         {true, true, false, true, true, false, false},
         [](auto& x) { return ops::selective_scan(x[0], x[1], x[2], x[3], x[4], x[5], x[6], {.chunk = 4}); },
         {0, 4, 10}},
        {"ss2d_scan", {x0, {4, 1 + 2 * 3, 4}, {4, 4, 1}, {4, 4}, {16, 3}, {16}},
         {true, false, false, false, false, false},
         [](auto& x) { return ops::ss2d_scan(x[0], x[1], x[2], x[3], x[4], x[5], {.chunk = 8}); }, x0},
    };
    for (const EmptyCase& c : cases) check_empty(c);
  }

  TEST_CASE("op harness: reductions of an empty batch") {
    Generator g(3);
    const Tensor x = Tensor::randn({0, 3, 4, 4}, g, DType::F32).set_requires_grad(true);
    const Tensor s = ops::sum(x);
    CHECK(s.numel() == 1);
    CHECK(s.to(DType::F64).data<double>()[0] == 0.0);
    CHECK_THROWS_AS(ops::mean(x), Error);
    CHECK_THROWS_AS(ops::l1_loss(x, x), Error);
  }
}
