#include "nn/state_dict.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "autograd/autograd.h"
#include "tensor/safetensors.h"

namespace liednet::nn {

StateDict state_dict(const Module& m) {
  StateDict out;
  // On the host, so that it can be written to files.
  for (auto& [name, t] : m.named_parameters())
    out.push_back({name, t.device() == Device::CPU ? t.detach() : t.to(Device::CPU)});
  return out;
}

std::string LoadReport::describe() const {
  std::ostringstream s;
  auto list = [&](const char* what, const std::vector<std::string>& keys) {
    if (keys.empty()) return;
    if (s.tellp() > 0) s << "; ";
    s << keys.size() << " " << what << ": ";
    // The first few keys: a file of another network would otherwise list hundreds.
    const size_t shown = std::min<size_t>(keys.size(), kDescribedKeys);
    for (size_t i = 0; i < shown; ++i) s << (i ? ", " : "") << keys[i];
    if (shown < keys.size()) s << ", and " << keys.size() - shown << " more";
  };
  list("missing", missing);
  list("unexpected", unexpected);
  list("mis-shaped", mismatched);
  return s.str();
}

LoadReport load_state_dict(Module& m, const StateDict& sd, bool strict, const std::string& source) {
  LoadReport r;
  std::map<std::string, const Tensor*> file;
  for (const auto& [k, t] : sd) file[k] = &t;
  std::vector<std::pair<Tensor, const Tensor*>> copies;
  std::map<std::string, bool> used;
  for (auto& [name, param] : m.named_parameters()) {
    auto it = file.find(name);
    if (it == file.end()) {
      r.missing.push_back(name);
      continue;
    }
    used[name] = true;
    if (it->second->shape() != param.shape()) {
      r.mismatched.push_back(name + ": file " + it->second->shape().str() + " vs model " + param.shape().str());
      continue;
    }
    copies.push_back({param, it->second});
  }
  for (const auto& [k, t] : sd)
    if (!used.count(k)) r.unexpected.push_back(k);
  LIEDNET_CHECK(!strict || r.clean(), source.empty() ? "state dict" : source, ": does not match ", m.type(), ": ",
                r.describe());
  // A NaN or an infinity in the weights would give garbage (an all-black image) in silence.
  for (const auto& [name, t] : sd) {
    if (!used.count(name)) continue;
    const Tensor host = t.device() == Device::CPU ? t : t.to(Device::CPU);
    int64_t at = -1;
    double value = 0;
    LIEDNET_DISPATCH(host.dtype(), T, {
      const T* p = host.data<T>();
      for (int64_t i = 0; i < host.numel() && at < 0; ++i)
        if (!std::isfinite(p[i])) at = i, value = static_cast<double>(p[i]);
    });
    LIEDNET_CHECK(at < 0, source.empty() ? "state dict" : source, ": tensor ", name, " holds a non-finite value (",
                  value, " at flat index ", at, " of ", host.numel(), ")");
  }
  autograd::NoGradGuard no_grad;
  for (auto& [param, src] : copies) {
    Tensor dst = param;
    dst.copy_(src->dtype() == dst.dtype() ? *src : src->to(dst.dtype()));
  }
  r.loaded = static_cast<int64_t>(copies.size());
  return r;
}

void save_weights(const Module& m, const std::string& path, const std::map<std::string, std::string>& metadata) {
  save_safetensors(path, state_dict(m), metadata);
}

LoadReport load_weights(Module& m, const std::string& path, bool strict) {
  SafetensorsContents c = load_safetensors(path);
  return load_state_dict(m, c.tensors, strict, path);
}

}  // namespace liednet::nn
