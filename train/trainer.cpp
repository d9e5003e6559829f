#include "train/trainer.h"

#include <cmath>
#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "liednet/config_infer.h"
#include "nn/state_dict.h"
#include "nn/torch_checkpoint.h"
#include "tensor/safetensors.h"

namespace liednet::train {

namespace {
constexpr const char* kFormat = "liednet-checkpoint-1";

std::string network_signature(const net::LIEDNetConfig& c) {
  std::ostringstream s;
  s << "dim " << c.dim << ", blocks (" << c.blocks[0] << ", " << c.blocks[1] << ", " << c.blocks[2] << "), refinement "
    << c.refinement;
  return s.str();
}
}  // namespace

Trainer::Trainer(const TrainConfig& cfg) : cfg_(cfg), init_gen_(cfg.manual_seed) {
  model_ = std::make_unique<net::LIEDNet>(cfg_.network, init_gen_);
  if (!cfg_.pretrain_network_g.empty()) {
    const std::string& p = cfg_.pretrain_network_g;
    nn::StateDict sd;
    if (p.size() > 4 && (p.ends_with(".pth") || p.ends_with(".pt")))
      sd = nn::load_torch_checkpoint(p, cfg_.param_key_g).tensors;
    else
      sd = load_safetensors(p).tensors;
    nn::LoadReport r = nn::load_state_dict(*model_, sd, cfg_.strict_load_g, p);
    if (!r.clean()) std::fprintf(stderr, "warning: %s: %s\n", p.c_str(), r.describe().c_str());
  }
  model_->train();
  if (cfg_.loss.perceptual_weight > 0) {
    LIEDNET_CHECK(!cfg_.vgg_weights.empty(), cfg_.path,
                  ": the perceptual loss needs VGG19 weights: set train.perceptual_opt.vgg_weights to a safetensors "
                  "file with torchvision's features.N.weight/bias (for example model.safetensors of the hub's "
                  "timm/vgg19.tv_in1k), or set perceptual_weight: 0 to train without it");
    LIEDNET_CHECK(std::filesystem::exists(cfg_.vgg_weights), cfg_.path, ": VGG19 weights '", cfg_.vgg_weights,
                  "' not found (download model.safetensors of timm/vgg19.tv_in1k from the Hugging Face hub, or set "
                  "perceptual_weight: 0)");
    Generator g(0);
    vgg_ = std::make_unique<net::VGG19Features>(g);
    net::load_vgg_weights(*vgg_, cfg_.vgg_weights);
  }
  if (cfg_.dtype != DType::F32) {  // before Adam, whose moments take the parameters' dtype and device
    model_->to(cfg_.dtype);
    if (vgg_) vgg_->to(cfg_.dtype);
  }
  if (cfg_.device != Device::CPU) {
    LIEDNET_CHECK(cfg_.dtype == DType::F32, cfg_.path, ": CUDA training is f32");
    model_->to(cfg_.device);
    if (vgg_) vgg_->to(cfg_.device);
  }
  adam_ = std::make_unique<nn::Adam>(*model_, cfg_.adam);
  schedule_ = make_schedule(cfg_);
}

double Trainer::lr_for(int64_t iteration) const {
  double lr = schedule_->lr(iteration - 1);
  if (iteration < cfg_.warmup_iter) lr = cfg_.adam.lr * static_cast<double>(iteration) / static_cast<double>(cfg_.warmup_iter);
  return lr;
}

StepReport Trainer::step(const Tensor& lq, const Tensor& gt) {
  StepReport r;
  r.iter = iter_ + 1;
  r.lr = lr_for(r.iter);
  adam_->zero_grad();
  net::LossTerms t;
  {
    // Batches come from the loader on the host; the step runs where the model is.
    const Tensor x = lq.device() == cfg_.device ? lq : lq.to(cfg_.device);
    const Tensor y = gt.device() == cfg_.device ? gt : gt.to(cfg_.device);
    net::LIEDNetOutput out = model_->forward(x, cfg_.loss.use_side);
    t = net::compute_loss(out, y, vgg_.get(), cfg_.loss);
  }
  r.total = t.total.item();
  r.l_pix = t.l_pix;
  r.l_side_pix = t.l_side_pix;
  r.l_percep = t.l_percep;
  r.l_side_percep = t.l_side_percep;
  const std::pair<const char*, double> terms[] = {{"l_pix", r.l_pix},
                                                  {"l_side_pix", r.l_side_pix},
                                                  {"l_percep", r.l_percep},
                                                  {"l_side_percep", r.l_side_percep},
                                                  {"l_total", r.total}};
  for (const auto& [name, v] : terms)
    LIEDNET_CHECK(std::isfinite(v), "iteration ", r.iter, ": loss term ", name, " is ", v,
                  "; stopping before the update (checkpoints already written are intact)");
  t.total.backward();  // frees the graph
  adam_->step(r.lr);
  ++iter_;
  return r;
}

void Trainer::save_checkpoint(const std::string& path, const LoaderPosition& loader) const {
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (auto& [k, t] : nn::state_dict(*model_)) tensors.push_back({"net." + k, t});
  for (auto& [k, t] : adam_->state())
    tensors.push_back({"optim." + k, t.device() == Device::CPU ? t : t.to(Device::CPU)});
  nlohmann::json meta = {{"iter", iter_},          {"adam_steps", adam_->steps()}, {"loader_epoch", loader.epoch},
                         {"loader_cursor", loader.cursor}, {"network", network_signature(cfg_.network)},
                         {"seed", cfg_.manual_seed}, {"lr", lr_for(iter_ + 1)}};
  save_safetensors(path, tensors, {{"format", kFormat}, {"state", meta.dump()}});
}

LoaderPosition Trainer::load_checkpoint(const std::string& path) {
  SafetensorsContents c = load_safetensors(path);
  auto fmt = c.metadata.find("format");
  LIEDNET_CHECK(fmt != c.metadata.end() && fmt->second == kFormat && c.metadata.count("state"), path,
                ": not a liednet training checkpoint (no ", kFormat, " metadata); weights alone go in "
                "path.pretrain_network_g");
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(c.metadata.at("state"));
  } catch (const std::exception& e) {
    fail(path, ": checkpoint metadata is corrupt (", e.what(), ")");
  }
  for (const char* k : {"iter", "adam_steps", "loader_epoch", "loader_cursor", "network"})
    LIEDNET_CHECK(meta.contains(k), path, ": checkpoint metadata lacks '", k, "'");
  LIEDNET_CHECK(meta["network"].get<std::string>() == network_signature(cfg_.network), path, ": the checkpoint is of ",
                meta["network"].get<std::string>(), ", the config describes ", network_signature(cfg_.network));
  nn::StateDict net_sd, optim_sd;
  for (const auto& [k, t] : c.tensors) {
    if (k.rfind("net.", 0) == 0) net_sd.push_back({k.substr(4), t});
    else if (k.rfind("optim.", 0) == 0) optim_sd.push_back({k.substr(6), t});
  }
  nn::load_state_dict(*model_, net_sd, true, path);
  adam_->load_state(optim_sd, meta["adam_steps"].get<int64_t>(), path);
  iter_ = meta["iter"].get<int64_t>();
  return {meta["loader_epoch"].get<int64_t>(), meta["loader_cursor"].get<int64_t>()};
}

}  // namespace liednet::train
