#include <doctest/doctest.h>

#include "autograd/autograd.h"
#include "ops/elementwise.h"

using namespace liednet;

TEST_SUITE("autograd") {
  TEST_CASE("gradients flow, accumulate over paths and over calls") {
    Tensor x = Tensor::from_vector({3}, {1, 2, 3}, DType::F64).set_requires_grad();
    Tensor y = Tensor::from_vector({3}, {4, 5, 6}, DType::F64).set_requires_grad();
    // z = x*y + x: dz/dx = y + 1, dz/dy = x.
    Tensor z = ops::add(ops::mul(x, y), x);
    CHECK(z.requires_grad());
    CHECK(!z.is_leaf());
    z.backward(Tensor::ones({3}, DType::F64));
    CHECK(x.grad().to_vector() == std::vector<double>{5, 6, 7});
    CHECK(y.grad().to_vector() == std::vector<double>{1, 2, 3});
    // A second graph adds into the same leaves.
    ops::scale(x, 2.0).backward(Tensor::ones({3}, DType::F64));
    CHECK(x.grad().to_vector() == std::vector<double>{7, 8, 9});
    x.zero_grad();
    CHECK(!x.grad().defined());
  }

  TEST_CASE("the graph is released after backward unless retained") {
    Tensor x = Tensor::from_vector({2}, {1, 2}, DType::F64).set_requires_grad();
    Tensor z = ops::mul(x, x);
    Tensor g = Tensor::ones({2}, DType::F64);
    z.backward(g, /*retain_graph=*/true);
    z.backward(g);
    CHECK(x.grad().to_vector() == std::vector<double>{4, 8});
    CHECK_THROWS_WITH(z.backward(g), doctest::Contains("already released"));
  }

  TEST_CASE("scalar backward needs no gradient; others do") {
    Tensor x = Tensor::from_vector({1}, {3}, DType::F64).set_requires_grad();
    ops::mul(x, x).backward();
    CHECK(x.grad().item() == 6.0);
    Tensor v = Tensor::zeros({2}).set_requires_grad();
    CHECK_THROWS_WITH(ops::add(v, v).backward(), doctest::Contains("is not a scalar"));
    CHECK_THROWS_WITH(ops::add(v, v).backward(Tensor::ones({3})), doctest::Contains("does not match tensor"));
  }

  TEST_CASE("NoGradGuard and detach record nothing") {
    Tensor x = Tensor::ones({2}).set_requires_grad();
    {
      autograd::NoGradGuard guard;
      CHECK(!autograd::grad_enabled());
      CHECK(!ops::mul(x, x).requires_grad());
    }
    CHECK(autograd::grad_enabled());
    Tensor d = x.detach();
    CHECK(!d.requires_grad());
    CHECK(d.shares_storage_with(x));
    CHECK(!ops::mul(d, d).requires_grad());
    CHECK_THROWS_WITH(ops::mul(x, x).set_requires_grad(false), doctest::Contains("only leaves can be marked"));
  }

  TEST_CASE("reshape passes gradients through") {
    Tensor x = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6}, DType::F64).set_requires_grad();
    Tensor y = ops::mul(x.reshape({3, 2}), Tensor::full({3, 2}, 2.0, DType::F64));
    y.backward(Tensor::from_vector({3, 2}, {1, 2, 3, 4, 5, 6}, DType::F64));
    CHECK(x.grad().to_vector() == std::vector<double>{2, 4, 6, 8, 10, 12});
  }

  TEST_CASE("intermediate activations are freed when no backward saves them") {
    // add saves nothing, so the inner sum's storage dies with its handle.
    Tensor x = Tensor::ones({1000}).set_requires_grad();
    const size_t before = host_bytes_in_use();
    Tensor out;
    {
      Tensor inner = ops::add(x, x);
      out = ops::add(inner, x);
    }
    // Only `out` (4000 bytes rounded to 64) remains.
    CHECK(host_bytes_in_use() - before == 4032);
    out.backward(Tensor::ones({1000}));
    CHECK(x.grad().at({0}) == 3.0);
  }

  TEST_CASE("a long chain backpropagates without deep recursion") {
    Tensor x = Tensor::ones({1}, DType::F64).set_requires_grad();
    Tensor y = x;
    for (int i = 0; i < 100000; ++i) y = ops::add_scalar(y, 0.0);
    y.backward();
    CHECK(x.grad().item() == 1.0);
  }
}
