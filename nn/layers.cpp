#include "nn/layers.h"

#include "nn/init.h"
#include "ops/layernorm.h"

namespace liednet::nn {

Conv2d::Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, int64_t groups,
               bool with_bias, Generator& gen)
    : Module("Conv2d"), options{stride, padding, groups} {
  LIEDNET_CHECK(groups >= 1 && in % groups == 0 && out % groups == 0, "Conv2d: ", in, " -> ", out,
                " channels cannot be split into ", groups, " groups");
  const int64_t fan_in = in / groups * kernel * kernel;
  weight = init::default_weight({out, in / groups, kernel, kernel}, fan_in, gen);
  register_parameter("weight", &weight);
  if (with_bias) {
    bias = init::default_bias(out, fan_in, gen);
    register_parameter("bias", &bias);
  }
}

Tensor Conv2d::forward(const Tensor& x) const { return ops::conv2d(x, weight, bias, options); }

Linear::Linear(int64_t in, int64_t out, bool with_bias, Generator& gen) : Module("Linear") {
  weight = init::default_weight({out, in}, in, gen);
  register_parameter("weight", &weight);
  if (with_bias) {
    bias = init::default_bias(out, in, gen);
    register_parameter("bias", &bias);
  }
}

Tensor Linear::forward(const Tensor& x) const { return ops::linear_channels(x, weight, bias); }

LayerNorm::LayerNorm(int64_t channels, double eps_)
    : Module("LayerNorm"), weight(Tensor::ones({channels})), bias(Tensor::zeros({channels})), eps(eps_) {
  register_parameter("weight", &weight);
  register_parameter("bias", &bias);
}

Tensor LayerNorm::forward(const Tensor& x) const { return ops::layer_norm_channels(x, weight, bias, eps); }

}  // namespace liednet::nn
