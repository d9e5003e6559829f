#include "train/config.h"

#include "train/config_llie.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

namespace liednet::train {

namespace {
// One YAML mapping being read: every key looked at is remembered, and
// finish() reports the rest as unknown. Values are converted with errors that
// name the file and the dotted key.
class Section {
 public:
  Section(const YAML::Node& node, std::string prefix, TrainConfig& cfg)
      : node_(node), prefix_(std::move(prefix)), cfg_(cfg) {
    LIEDNET_CHECK(!node_ || node_.IsNull() || node_.IsMap(), cfg_.path, ": '", prefix_, "' must be a mapping");
  }

  bool has(const std::string& key) {
    seen_.insert(key);
    return node_ && node_.IsMap() && node_[key] && !node_[key].IsNull();
  }

  template <typename T>
  T get(const std::string& key, const T& fallback) {
    if (!has(key)) return fallback;
    try {
      return node_[key].as<T>();
    } catch (const YAML::Exception& e) {
      fail(cfg_.path, ": '", dotted(key), "' has the wrong type (", e.msg, ")");
    }
  }

  Section sub(const std::string& key) {
    seen_.insert(key);
    return Section(node_ && node_.IsMap() ? node_[key] : YAML::Node(), dotted(key), cfg_);
  }

  // Keys upstream uses for machinery we do not have: accepted, listed once.
  void accept(std::initializer_list<const char*> keys) {
    for (const char* k : keys)
      if (has(k)) cfg_.warnings.push_back(quoted(dotted(k)).append(" is accepted and not used"));
  }

  void finish() {
    if (!node_ || !node_.IsMap()) return;
    for (auto it = node_.begin(); it != node_.end(); ++it) {
      LIEDNET_CHECK(it->first.IsScalar(), cfg_.path, ": ", prefix_.empty() ? std::string("the top level") : quoted(prefix_),
                    " has a key that is not text (line ", it->first.Mark().line + 1, ")");
      const std::string k = it->first.Scalar();
      if (!seen_.count(k)) cfg_.warnings.push_back(std::string("unknown key ").append(quoted(dotted(k))).append(" (ignored)"));
    }
  }

  std::string dotted(const std::string& key) const { return prefix_.empty() ? key : prefix_ + "." + key; }
  const std::string& file() const { return cfg_.path; }
  // Built with append: GCC 12 warns falsely (-Wrestrict) on "'" + std::string.
  static std::string quoted(const std::string& s) { return std::string(1, '\'').append(s).append(1, '\''); }

 private:
  YAML::Node node_;
  std::string prefix_;
  TrainConfig& cfg_;
  std::set<std::string> seen_;
};

// datasets.*.type LowLightPairedDataset (train/config_llie.h): `dataroot`
// holds low/ and high/, paired by sorted position, images in [0, 1].
bool read_llie_data(Section& s, DataConfig& d, bool training, TrainConfig& cfg) {
  if (s.get<std::string>("type", "PairedImageDataset") != "LowLightPairedDataset") return false;
  LIEDNET_CHECK(s.has("dataroot"), s.file(), ": ", s.dotted("dataroot"), " (a folder with low/ and high/) is required");
  const std::string root = s.get<std::string>("dataroot", "");
  d.dataroot_lq = root + "/low";
  d.dataroot_gt = root + "/high";
  (training ? cfg.llie.train_dir : cfg.llie.val_dir) = root;
  if (training) cfg.llie.on = true;
  return true;
}

DataConfig read_data(Section s, bool training, TrainConfig& cfg) {
  DataConfig d;
  d.name = s.get<std::string>("name", training ? "train" : "val");
  const bool llie = read_llie_data(s, d, training, cfg);
  LIEDNET_CHECK(llie || (s.has("dataroot_gt") && s.has("dataroot_lq")), s.file(), ": ", s.dotted("dataroot_gt"), " and ",
                s.dotted("dataroot_lq"), " are required");
  if (!llie) d.dataroot_gt = s.get<std::string>("dataroot_gt", "");
  if (!llie) d.dataroot_lq = s.get<std::string>("dataroot_lq", "");
  const std::string type = s.get<std::string>("type", "PairedImageDataset");
  LIEDNET_CHECK(type == "PairedImageDataset" || llie, s.file(), ": ", s.dotted("type"),
                ": PairedImageDataset or LowLightPairedDataset, got ", type);
  for (const char* k : {"mean", "std"}) {
    if (llie) break;  // [0, 1]
    const auto v = s.get<std::vector<double>>(k, {0.5, 0.5, 0.5});
    LIEDNET_CHECK(v == std::vector<double>({0.5, 0.5, 0.5}), s.file(), ": ", s.dotted(k),
                  ": only 0.5 (images normalised to [-1, 1], as upstream) is supported");
  }
  d.crop_size = s.get<int64_t>("crop_size", 0);
  d.use_flip = s.get<bool>("use_flip", false);
  d.use_rot = s.get<bool>("use_rot", false);
  d.use_shuffle = s.get<bool>("use_shuffle", training);
  d.batch_size = s.get<int64_t>("batch_size_per_gpu", 1);
  d.workers = s.get<int>("num_worker_per_gpu", 2);
  d.prefetch = s.get<int>("num_prefetch_queue", 4);
  d.skip_unpaired = s.get<bool>("skip_unpaired", false);
  if (training) d.skip_bad = s.get<bool>("skip_bad", false);
  d.max_images = s.get<int64_t>("max_images", 0);
  LIEDNET_CHECK(d.batch_size >= 1, s.file(), ": ", s.dotted("batch_size_per_gpu"), " must be at least 1");
  LIEDNET_CHECK(d.crop_size == 0 || d.crop_size % 8 == 0, s.file(), ": ", s.dotted("crop_size"),
                " must be a multiple of 8, got ", d.crop_size);
  s.accept({"filename_tmpl", "io_backend", "dataset_enlarge_ratio", "prefetch_mode", "gt_size"});
  s.finish();
  return d;
}
}  // namespace

namespace {
TrainConfig read_train_config(const YAML::Node& root, const std::string& path) {
  TrainConfig cfg;
  cfg.path = path;
  LIEDNET_CHECK(root.IsMap(), path, ": the config must be a YAML mapping");
  Section top(root, "", cfg);
  cfg.name = top.get<std::string>("name", cfg.name);
  cfg.manual_seed = top.get<uint64_t>("manual_seed", cfg.manual_seed);
  cfg.threads = top.get<int>("threads", 0);
  top.accept({"model_type", "num_gpu", "dist_params"});

  {
    Section ds = top.sub("datasets");
    LIEDNET_CHECK(ds.has("train"), path, ": 'datasets.train' is required");
    cfg.train = read_data(ds.sub("train"), true, cfg);
    if (ds.has("val")) cfg.val = read_data(ds.sub("val"), false, cfg);
    ds.finish();
  }
  {
    Section net = top.sub("network_g");
    const std::string type = net.get<std::string>("type", "LIED");
    LIEDNET_CHECK(type == "LIED" || type == "LIEDNet", path, ": network_g.type must be LIED, got ", type);
    cfg.network = net::preset(net.get<std::string>("preset", "liednet"));
    cfg.network.dim = net.get<int64_t>("dim", cfg.network.dim);
    if (net.has("num_blocks")) {
      auto b = net.get<std::vector<int64_t>>("num_blocks", {});
      LIEDNET_CHECK(b.size() == 3, path, ": network_g.num_blocks must list 3 numbers");
      cfg.network.blocks = {b[0], b[1], b[2]};
    }
    cfg.network.refinement = net.get<int64_t>("num_refinement_blocks", cfg.network.refinement);
    net.accept({"inp_channels", "out_channels"});
    net.finish();
  }
  {
    Section p = top.sub("path");
    cfg.pretrain_network_g = p.get<std::string>("pretrain_network_g", "");
    cfg.strict_load_g = p.get<bool>("strict_load_g", true);
    cfg.param_key_g = p.get<std::string>("param_key_g", "params");
    cfg.resume_state = p.get<std::string>("resume_state", "");
    cfg.experiments_root = p.get<std::string>("experiments_root", "experiments/" + cfg.name);
    p.accept({"models"});
    p.finish();
  }
  {
    Section t = top.sub("train");
    Section o = t.sub("optim_g");
    const std::string type = o.get<std::string>("type", "Adam");
    LIEDNET_CHECK(type == "Adam", path, ": train.optim_g.type: only Adam is supported, got ", type);
    cfg.adam.lr = o.get<double>("lr", 1e-4);
    cfg.adam.weight_decay = o.get<double>("weight_decay", 0.0);
    cfg.adam.eps = o.get<double>("eps", 1e-8);
    auto betas = o.get<std::vector<double>>("betas", {0.9, 0.99});
    LIEDNET_CHECK(betas.size() == 2, path, ": train.optim_g.betas must list 2 numbers");
    cfg.adam.beta1 = betas[0];
    cfg.adam.beta2 = betas[1];
    o.finish();

    Section sch = t.sub("scheduler");
    cfg.scheduler = sch.get<std::string>("type", cfg.scheduler);
    cfg.periods = sch.get<std::vector<int64_t>>("periods", {});
    cfg.restart_weights = sch.get<std::vector<double>>("restart_weights", {1});
    cfg.eta_min = sch.get<double>("eta_min", 0.0);
    cfg.milestones = sch.get<std::vector<int64_t>>("milestones", {});
    cfg.gamma = sch.get<double>("gamma", 0.1);
    cfg.restarts = sch.get<std::vector<int64_t>>("restarts", {0});
    if (cfg.scheduler == "GradualWarmupCosineAnnealingLR")  // train/config_llie.h
      cfg.llie.warmup_epochs = sch.get<int64_t>("warmup_epochs", cfg.llie.warmup_epochs);
    sch.finish();
    cfg.llie.epochs = t.get<int64_t>("total_epochs", 0);

    cfg.total_iter = t.get<int64_t>("total_iter", cfg.total_iter);
    if (cfg.periods.empty()) cfg.periods = {cfg.total_iter};
    cfg.warmup_iter = t.get<int64_t>("warmup_iter", -1);

    if (t.has("pixel_opt")) {
      Section px = t.sub("pixel_opt");
      const std::string ptype = px.get<std::string>("type", "L1Loss");
      LIEDNET_CHECK(ptype == "L1Loss" || ptype == "SmoothL1Loss", path,
                    ": train.pixel_opt.type: L1Loss or SmoothL1Loss, got ", ptype);
      if (ptype == "SmoothL1Loss") cfg.loss.smooth_l1_beta = px.get<double>("beta", 1.0);
      LIEDNET_CHECK(ptype == "L1Loss" || cfg.loss.smooth_l1_beta > 0, path, ": train.pixel_opt.beta must be positive");
      LIEDNET_CHECK(px.get<std::string>("reduction", "mean") == "mean", path, ": train.pixel_opt.reduction must be mean");
      cfg.loss.pixel_weight = px.get<double>("loss_weight", 1.0);
      px.finish();
    } else {
      cfg.loss.pixel_weight = 0;
    }
    if (t.has("perceptual_opt")) {
      Section pc = t.sub("perceptual_opt");
      LIEDNET_CHECK(pc.get<std::string>("type", "PerceptualLoss") == "PerceptualLoss", path,
                    ": train.perceptual_opt.type must be PerceptualLoss");
      LIEDNET_CHECK(pc.get<std::string>("vgg_type", "vgg19") == "vgg19", path, ": train.perceptual_opt.vgg_type must be vgg19");
      LIEDNET_CHECK(pc.get<bool>("use_input_norm", true) && pc.get<bool>("range_norm", true), path,
                    ": train.perceptual_opt: use_input_norm and range_norm must be true (inputs in [-1, 1], ImageNet normalisation)");
      LIEDNET_CHECK(pc.get<double>("style_weight", 0.0) == 0.0, path, ": train.perceptual_opt.style_weight: the style loss is not supported");
      LIEDNET_CHECK(pc.get<std::string>("criterion", "l1") == "l1", path, ": train.perceptual_opt.criterion must be l1");
      cfg.loss.perceptual_weight = pc.get<double>("perceptual_weight", 1.0);
      if (pc.has("layer_weights")) {
        Section lw = pc.sub("layer_weights");
        const char* names[4] = {"conv1_2", "conv2_2", "conv3_4", "conv4_4"};
        for (int i = 0; i < 4; ++i) cfg.loss.layer_weights[i] = lw.get<double>(names[i], 0.0);
        lw.finish();
      }
      cfg.vgg_weights = pc.get<std::string>("vgg_weights", "");
      pc.finish();
    } else {
      cfg.loss.perceptual_weight = 0;
    }
    cfg.loss.use_side = t.get<bool>("use_side_loss", true);
    cfg.loss.side_weight = t.get<double>("side_loss_weight", 0.8);
    LIEDNET_CHECK(!t.get<bool>("init_weights", false), path,
                  ": train.init_weights (scaled Kaiming-normal re-initialisation) is not supported; upstream's LOL-Blur config leaves it false");
    LIEDNET_CHECK(t.get<double>("ema_decay", 0.0) == 0.0, path, ": train.ema_decay: EMA weights are not supported");
    t.finish();
  }
  if (top.has("val")) {
    Section v = top.sub("val");
    cfg.val_freq = static_cast<int64_t>(v.get<double>("val_freq", 0));
    cfg.llie.val_every_epochs = v.get<int64_t>("val_freq_epochs", cfg.llie.val_every_epochs);  // train/config_llie.h
    if (v.has("metrics")) {
      Section m = v.sub("metrics");
      if (m.has("psnr")) {
        Section ps = m.sub("psnr");
        cfg.crop_border = ps.get<int>("crop_border", 0);
        LIEDNET_CHECK(!ps.get<bool>("test_y_channel", false), path, ": val.metrics.psnr.test_y_channel is not supported (use liednet eval --convention paper)");
        ps.accept({"type"});
        ps.finish();
      }
      if (m.has("ssim")) {
        Section ss = m.sub("ssim");
        ss.accept({"type", "crop_border", "test_y_channel"});
        ss.finish();
      }
      m.finish();
    }
    v.accept({"save_img"});
    v.finish();
  }
  {
    Section l = top.sub("logger");
    cfg.print_freq = static_cast<int64_t>(l.get<double>("print_freq", 100));
    cfg.save_checkpoint_freq = static_cast<int64_t>(l.get<double>("save_checkpoint_freq", 5000));
    l.accept({"use_tb_logger", "wandb"});
    l.finish();
  }
  top.finish();
  finish_basicsr_llie(cfg);
  LIEDNET_CHECK(cfg.total_iter >= 1, path, ": train.total_iter must be at least 1");
  LIEDNET_CHECK(cfg.print_freq >= 1, path, ": logger.print_freq must be at least 1");
  return cfg;
}
}  // namespace

TrainConfig parse_train_config(const std::string& text, const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail(path, ": not valid YAML (", e.msg, " at line ", e.mark.line + 1, ")");
  }
  try {
    if (is_upstream_llie_config(root)) return read_upstream_llie_config(root, path);
    return read_train_config(root, path);
  } catch (const YAML::Exception& e) {  // the Section reads name the key; this names at least the file
    fail(path, ": ", e.msg, " (at line ", e.mark.line + 1, ")");
  }
}

TrainConfig load_train_config(const std::string& path) {
  std::error_code ec;
  LIEDNET_CHECK(!std::filesystem::is_directory(path, ec), path, ": is a folder, not a config file");
  std::ifstream in(path, std::ios::binary);
  LIEDNET_CHECK(in, path, ": cannot open the config file");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_train_config(text.str(), path);
}

std::unique_ptr<nn::LRSchedule> make_schedule(const TrainConfig& cfg) {
  if (cfg.scheduler == "GradualWarmupCosineAnnealingLR") return make_llie_schedule(cfg);
  if (cfg.scheduler == "CosineAnnealingRestartLR")
    return std::make_unique<nn::CosineAnnealingRestart>(cfg.adam.lr, cfg.periods, cfg.restart_weights, cfg.eta_min);
  if (cfg.scheduler == "MultiStepLR" || cfg.scheduler == "MultiStepRestartLR")
    return std::make_unique<nn::MultiStepRestart>(cfg.adam.lr, cfg.milestones, cfg.gamma, cfg.restarts,
                                                  cfg.restart_weights.size() == cfg.restarts.size()
                                                      ? cfg.restart_weights
                                                      : std::vector<double>(cfg.restarts.size(), 1.0));
  fail(cfg.path, ": train.scheduler.type: ", cfg.scheduler,
       " is not supported (CosineAnnealingRestartLR, MultiStepLR, MultiStepRestartLR)");
}

}  // namespace liednet::train
