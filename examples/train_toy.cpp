// A training loop with the autograd and Adam: a two-layer network learns y = sin(3x) on [-1, 1].
//
// What to look at: the loop is the same four lines as in PyTorch (forward, loss, backward, optimiser step);
// nn::Linear works over the channel axis of an (N, C, H, W) tensor, so the 64 sample points are 64 pixels of
// one image with 1 channel. The loss falls by more than 10x; the program exits 1 if it does not.
#include <cmath>
#include <cstdio>

#include "nn/layers.h"
#include "nn/optim.h"
#include "ops/activation.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"

using namespace liednet;

struct Net : nn::Module {
  std::shared_ptr<nn::Linear> l1, l2;
  explicit Net(Generator& gen) : Module("Net") {
    l1 = register_module("l1", std::make_shared<nn::Linear>(1, 32, true, gen));
    l2 = register_module("l2", std::make_shared<nn::Linear>(32, 1, true, gen));
  }
  Tensor forward(const Tensor& x) const { return l2->forward(ops::gelu(l1->forward(x))); }
};

int main() {
  Generator gen(0);
  const int64_t n = 64;
  Tensor x = Tensor::empty({1, 1, 1, n}), y = Tensor::empty({1, 1, 1, n});
  for (int64_t i = 0; i < n; ++i) {
    x.data<float>()[i] = -1.0f + 2.0f * static_cast<float>(i) / (n - 1);
    y.data<float>()[i] = std::sin(3.0f * x.data<float>()[i]);
  }
  Net net(gen);
  nn::Adam adam(net, {.lr = 0.02});
  double first = 0, last = 0;
  for (int step = 0; step <= 300; ++step) {
    Tensor diff = ops::sub(net.forward(x), y);
    Tensor loss = ops::mean(ops::mul(diff, diff));  // mean squared error
    adam.zero_grad();
    loss.backward();
    adam.step(0.02);
    if (step == 0) first = loss.item();
    last = loss.item();
    if (step % 50 == 0) std::printf("step %3d  loss %.5f\n", step, last);
  }
  std::printf("loss %.5f -> %.5f (%.0fx lower)\n", first, last, first / last);
  return last * 10 < first ? 0 : 1;
}
