#include "nn/init.h"

#include <cmath>

namespace liednet::nn::init {

void uniform_(Tensor& t, double lo, double hi, Generator& gen) {
  LIEDNET_DISPATCH(t.dtype(), T, {
    T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(gen.uniform(lo, hi));
  });
}

void constant_(Tensor& t, double value) { t.fill_(value); }

void kaiming_uniform_(Tensor& t, int64_t fan_in, double a, Generator& gen) {
  LIEDNET_CHECK(fan_in > 0, "kaiming_uniform_: fan_in must be positive for ", t.str());
  const double bound = std::sqrt(6.0 / ((1.0 + a * a) * static_cast<double>(fan_in)));
  uniform_(t, -bound, bound, gen);
}

Tensor default_weight(const Shape& shape, int64_t fan_in, Generator& gen) {
  Tensor w = Tensor::empty(shape);
  kaiming_uniform_(w, fan_in, std::sqrt(5.0), gen);
  return w;
}

Tensor default_bias(int64_t n, int64_t fan_in, Generator& gen) {
  Tensor b = Tensor::empty({n});
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  uniform_(b, -bound, bound, gen);
  return b;
}

}  // namespace liednet::nn::init
