#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "liednet/config_infer.h"
#include "nn/state_dict.h"
#include "nn/torch_checkpoint.h"
#include "tensor/cuda.h"
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

int64_t total_numel(const std::vector<Tensor>& parts) {
  int64_t n = 0;
  for (const Tensor& t : parts) n += t.numel();
  return n;
}

// Copies the parts end to end into `flat`, and back. An undefined part (a
// parameter without a gradient) keeps its place, the size of `sizes[i]`, and
// is skipped: every rank runs the same graph, so they agree on which.
void pack(const std::vector<Tensor>& parts, const std::vector<Tensor>& sizes, Tensor& flat) {
  const size_t es = dtype_size(flat.dtype());
  char* dst = static_cast<char*>(flat.raw_data());
  for (size_t i = 0; i < parts.size(); ++i) {
    const Tensor& t = parts[i];
    const size_t bytes = sizes[i].numel() * es;
    if (t.defined()) {
      LIEDNET_CHECK(t.dtype() == flat.dtype() && t.device() == flat.device() && t.numel() == sizes[i].numel(),
                    "flat buffer: ", t.str(), " does not fit its slice of ", flat.str());
      if (flat.device() == Device::CUDA) cuda_copy_on_device(dst, t.raw_data(), bytes);
      else std::memcpy(dst, t.raw_data(), bytes);
    }
    dst += bytes;
  }
}

void unpack(const Tensor& flat, const std::vector<Tensor>& parts, const std::vector<Tensor>& sizes) {
  const size_t es = dtype_size(flat.dtype());
  const char* src = static_cast<const char*>(flat.raw_data());
  for (size_t i = 0; i < parts.size(); ++i) {
    const Tensor& t = parts[i];
    const size_t bytes = sizes[i].numel() * es;
    if (t.defined()) {
      if (flat.device() == Device::CUDA) cuda_copy_on_device(t.raw_data(), src, bytes);
      else std::memcpy(t.raw_data(), src, bytes);
    }
    src += bytes;
  }
}
}  // namespace

Trainer::Trainer(const TrainConfig& cfg, Communicator* comm) : cfg_(cfg), init_gen_(cfg.manual_seed), comm_(comm) {
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
  for (auto& [name, p] : model_->named_parameters())
    if (p.requires_grad()) params_.push_back(p);
  if (comm_) flat_grads_ = Tensor::empty({total_numel(params_)}, cfg_.dtype, cfg_.device);
}

void Trainer::reduce_gradients() {
  const auto start = std::chrono::steady_clock::now();
  std::vector<Tensor> grads;
  grads.reserve(params_.size());
  for (const Tensor& p : params_) grads.push_back(p.grad());
  pack(grads, params_, flat_grads_);
  comm_->all_reduce_mean(flat_grads_);
  unpack(flat_grads_, grads, params_);
  if (cfg_.device == Device::CUDA) cuda_synchronize();  // for an honest reduce time
  reduce_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

void Trainer::broadcast_state(int root) {
  if (!comm_ || comm_->world_size() == 1) return;
  // Parameters, then Adam's moments; Adam takes its moments through load_state.
  const nn::StateDict moments = adam_->state();
  std::vector<Tensor> parts = params_, received;
  for (const auto& [k, t] : moments) parts.push_back(t);
  received = params_;
  for (const auto& [k, t] : moments) received.push_back(comm_->rank() == root ? t : t.clone());
  Tensor flat = Tensor::empty({total_numel(parts)}, cfg_.dtype, cfg_.device);
  if (comm_->rank() == root) pack(parts, parts, flat);
  comm_->broadcast(flat, root);
  Tensor counters = Tensor::from_vector({2}, {static_cast<double>(iter_), static_cast<double>(adam_->steps())},
                                        DType::F64);
  comm_->broadcast(counters, root);
  if (comm_->rank() == root) return;
  unpack(flat, received, parts);
  nn::StateDict sd;
  for (size_t i = 0; i < moments.size(); ++i) sd.push_back({moments[i].first, received[params_.size() + i]});
  iter_ = static_cast<int64_t>(counters.at({0}));
  adam_->load_state(sd, static_cast<int64_t>(counters.at({1})), "rank " + std::to_string(root) + "'s optimiser state");
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
  if (comm_) reduce_gradients();
  adam_->step(r.lr);
  ++iter_;
  return r;
}

void Trainer::save_checkpoint(const std::string& path, const RunPosition& loader) const {
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (auto& [k, t] : nn::state_dict(*model_)) tensors.push_back({"net." + k, t});
  for (auto& [k, t] : adam_->state())
    tensors.push_back({"optim." + k, t.device() == Device::CPU ? t : t.to(Device::CPU)});
  nlohmann::json meta = {{"iter", iter_},          {"adam_steps", adam_->steps()}, {"loader_epoch", loader.epoch},
                         {"loader_cursor", loader.cursor}, {"network", network_signature(cfg_.network)},
                         {"seed", cfg_.manual_seed}, {"lr", lr_for(iter_ + 1)},
                         {"world_size", loader.world_size}, {"fit", loader.fit}};
  save_safetensors(path, tensors, {{"format", kFormat}, {"state", meta.dump()}});
}

RunPosition Trainer::load_checkpoint(const std::string& path) {
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
  RunPosition pos;
  pos.epoch = meta["loader_epoch"].get<int64_t>();
  pos.cursor = meta["loader_cursor"].get<int64_t>();
  pos.world_size = meta.value("world_size", 1);
  pos.fit = meta.value("fit", nlohmann::json());
  return pos;
}

}  // namespace liednet::train
