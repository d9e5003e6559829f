#include "liednet/lpips.h"

#include <cmath>

#include "autograd/autograd.h"
#include "nn/state_dict.h"
#include "ops/activation.h"
#include "ops/elementwise.h"
#include "ops/pool.h"
#include "tensor/safetensors.h"

namespace liednet::net {

namespace {
constexpr std::array<int64_t, 13> kChannels{64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512};
constexpr std::array<int64_t, 5> kHeadChannels{64, 128, 256, 512, 512};
constexpr double kShift[3] = {-0.030, -0.088, -0.188};
constexpr double kScale[3] = {0.458, 0.448, 0.450};
}  // namespace

LPIPS::LPIPS(Generator& gen) : Module("LPIPS") {
  auto features = register_module("features", std::make_shared<nn::Container>());
  int64_t in = 3;
  for (size_t i = 0; i < kConvIndices.size(); ++i) {
    convs_[i] = std::make_shared<nn::Conv2d>(in, kChannels[i], 3, 1, 1, 1, true, gen);
    features->add(std::to_string(kConvIndices[i]), convs_[i]);
    in = kChannels[i];
  }
  for (size_t l = 0; l < heads_.size(); ++l) {
    auto lin = register_module("lin" + std::to_string(l), std::make_shared<nn::Container>());
    auto model = lin->add("model", std::make_shared<nn::Container>());
    heads_[l] = model->add("1", std::make_shared<nn::Conv2d>(kHeadChannels[l], 1, 1, 1, 0, 1, false, gen));
  }
  for (Tensor p : parameters()) p.set_requires_grad(false);
}

std::array<Tensor, 5> LPIPS::features(const Tensor& x01) const {
  // (2x - 1 - shift) / scale = x * (2 / scale) + (-1 - shift) / scale per channel.
  Tensor scale = Tensor::empty({3}, x01.dtype()), shift = Tensor::empty({3}, x01.dtype());
  for (int c = 0; c < 3; ++c) {
    scale.set({c}, 2.0 / kScale[c]);
    shift.set({c}, (-1.0 - kShift[c]) / kScale[c]);
  }
  if (x01.device() != Device::CPU) {
    scale = scale.to(x01.device());
    shift = shift.to(x01.device());
  }
  Tensor h = ops::add_channel(ops::mul_channel(x01, scale), shift);
  std::array<Tensor, 5> out;
  // The taps (after the ReLU) at conv 1, 3, 6, 9, 12; a 2x2 max pool follows each tap but the last.
  const int taps[5] = {1, 3, 6, 9, 12};
  int taken = 0;
  for (int i = 0; i < static_cast<int>(convs_.size()); ++i) {
    h = ops::relu(convs_[i]->forward(h));
    if (i == taps[taken]) {
      out[taken++] = h.device() == Device::CPU ? h : h.to(Device::CPU);
      if (taken < 5) h = ops::max_pool2x2(h);
    }
  }
  return out;
}

std::vector<double> LPIPS::distance(const Tensor& x01, const Tensor& y01) const {
  LIEDNET_CHECK(x01.ndim() == 4 && x01.size(1) == 3 && x01.shape() == y01.shape(),
                "lpips: needs two (N, 3, H, W) images of one shape, got ", x01.str(), " and ", y01.str());
  autograd::NoGradGuard no_grad;
  const std::array<Tensor, 5> fx = features(x01), fy = features(y01);
  const int64_t N = x01.size(0);
  std::vector<double> d(N, 0.0);
  for (int l = 0; l < 5; ++l) {
    const int64_t C = fx[l].size(1), HW = fx[l].size(2) * fx[l].size(3);
    const Tensor w = heads_[l]->weight.device() == Device::CPU ? heads_[l]->weight : heads_[l]->weight.to(Device::CPU);
    LIEDNET_DISPATCH(fx[l].dtype(), T, {
      const T* a = fx[l].data<T>();
      const T* b = fy[l].data<T>();
      const T* wt = w.data<T>();
      for (int64_t n = 0; n < N; ++n) {
        double total = 0;
        for (int64_t p = 0; p < HW; ++p) {
          // Channel norms of both features at this position, in T as LPIPS computes them.
          T na = 0, nb = 0;
          for (int64_t c = 0; c < C; ++c) {
            const T va = a[(n * C + c) * HW + p], vb = b[(n * C + c) * HW + p];
            na += va * va;
            nb += vb * vb;
          }
          const T da = std::sqrt(na) + T(1e-10), db = std::sqrt(nb) + T(1e-10);
          T s = 0;
          for (int64_t c = 0; c < C; ++c) {
            const T diff = a[(n * C + c) * HW + p] / da - b[(n * C + c) * HW + p] / db;
            s += wt[c] * diff * diff;
          }
          total += double(s);
        }
        d[n] += total / double(HW);
      }
    });
  }
  return d;
}

void load_lpips_weights(LPIPS& lpips, const std::vector<std::string>& paths) {
  std::vector<SafetensorsContents> files;
  for (const std::string& p : paths) files.push_back(load_safetensors(p));
  nn::StateDict wanted;
  std::vector<std::string> missing;
  for (const auto& [name, p] : lpips.named_parameters()) {
    const Tensor* found = nullptr;
    for (const SafetensorsContents& c : files)
      if (!found && c.contains(name)) found = &c.at(name);
    if (found) wanted.push_back({name, found->dtype() == p.dtype() ? *found : found->to(p.dtype())});
    else missing.push_back(name);
  }
  std::string names;
  for (const std::string& p : paths) names += (names.empty() ? "" : ", ") + p;
  LIEDNET_CHECK(missing.empty(), names, ": not LPIPS (VGG) weights: ", missing.size(),
                " of the 31 keys (features.N.weight/bias of VGG16, lin0..4.model.1.weight) are missing (first: ",
                missing.empty() ? "" : missing.front(), ")");
  nn::load_state_dict(lpips, wanted, true, names);
  for (Tensor p : lpips.parameters()) p.set_requires_grad(false);
}

}  // namespace liednet::net
