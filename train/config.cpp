#include "train/config.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "train/config_llie.h"

namespace liednet::train {

std::string Interval::str() const {
  auto num = [](double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.15g", v);
    return std::string(buf);
  };
  return std::string(lo_open ? "(" : "[") + num(lo) + ", " + num(hi) + (hi_open ? ")" : "]");
}

bool Interval::contains(double v) const {
  return std::isfinite(v) && (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
}

namespace {
constexpr int64_t kMaxIter = 1'000'000'000'000;  // iterations, frequencies, periods
const Interval kWeight{0, 1e6};                   // loss weights

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

  // A value with its allowed range: outside it (or not a number) is an error
  // naming the file, the dotted key, the range and the value.
  // Integers may be written as floats ("!!float 5e3"), as upstream does, if whole.
  int64_t integer(const std::string& key, int64_t fallback, int64_t lo, int64_t hi) {
    if (!has(key)) return fallback;
    return to_integer(node_[key], key, lo, hi);
  }
  double number(const std::string& key, double fallback, const Interval& range) {
    if (!has(key)) return fallback;
    return to_number(node_[key], key, range);
  }
  std::vector<int64_t> integers(const std::string& key, const std::vector<int64_t>& fallback, int64_t lo, int64_t hi,
                                size_t min_count = 1) {
    if (!has(key)) return fallback;
    const YAML::Node list = sequence(key, min_count);
    std::vector<int64_t> out;
    for (size_t i = 0; i < list.size(); ++i) out.push_back(to_integer(list[i], key, lo, hi));
    return out;
  }
  std::vector<double> numbers(const std::string& key, const std::vector<double>& fallback, const Interval& range,
                              size_t min_count = 1) {
    if (!has(key)) return fallback;
    const YAML::Node list = sequence(key, min_count);
    std::vector<double> out;
    for (size_t i = 0; i < list.size(); ++i) out.push_back(to_number(list[i], key, range));
    return out;
  }
  // One of `allowed`, else an error listing them.
  std::string choice(const std::string& key, const std::string& fallback, const std::vector<std::string>& allowed) {
    const std::string v = get<std::string>(key, fallback);
    std::string list;
    for (const std::string& a : allowed) {
      if (a == v) return v;
      list += (list.empty() ? "" : ", ") + a;
    }
    fail_key(key, std::string("must be one of ").append(list).append(", got ").append(quoted(v)));
  }
  [[noreturn]] void fail_key(const std::string& key, const std::string& what) const {
    fail(cfg_.path, ": ", dotted(key), " ", what);
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

  YAML::Node sequence(const std::string& key, size_t min_count) {
    const YAML::Node list = node_[key];
    if (!list.IsSequence()) fail_key(key, "must be a list of numbers");
    if (list.size() < min_count) fail_key(key, "must list at least " + std::to_string(min_count) + " number" +
                                                   (min_count == 1 ? "" : "s") + ", got " + std::to_string(list.size()));
    return list;
  }
  static std::string text_of(const YAML::Node& v) { return v.IsScalar() ? v.Scalar() : std::string("a non-scalar"); }
  int64_t to_integer(const YAML::Node& v, const std::string& key, int64_t lo, int64_t hi) const {
    // Built with append: GCC 12 warns falsely (-Wrestrict) on "[" + std::string.
    const std::string range = std::string(1, '[').append(std::to_string(lo)).append(", ").append(std::to_string(hi)).append("]");
    const std::string text = text_of(v);
    if (v.IsScalar() && !text.empty()) {
      errno = 0;
      char* end = nullptr;
      const long long i = std::strtoll(text.c_str(), &end, 10);
      if (*end == '\0' && errno == 0) {
        if (i < lo || i > hi) fail_key(key, "must be in " + range + ", got " + text);
        return i;
      }
      errno = 0;
      const double d = std::strtod(text.c_str(), &end);
      if (*end == '\0' && std::isfinite(d) && d == std::floor(d)) {
        if (d < static_cast<double>(lo) || d > static_cast<double>(hi)) fail_key(key, "must be in " + range + ", got " + text);
        return static_cast<int64_t>(d);
      }
    }
    fail_key(key, "must be an integer in " + range + ", got " + (v.IsScalar() ? quoted(text) : text));
  }
  double to_number(const YAML::Node& v, const std::string& key, const Interval& range) const {
    const std::string text = text_of(v);
    double d = std::numeric_limits<double>::quiet_NaN();
    bool parsed = false;
    if (v.IsScalar()) {
      try {
        d = v.as<double>();
        parsed = true;
      } catch (const YAML::Exception&) {
      }
    }
    if (!parsed) fail_key(key, "must be a number in " + range.str() + ", got " + (v.IsScalar() ? quoted(text) : text));
    if (!range.contains(d)) fail_key(key, "must be in " + range.str() + ", got " + text);
    return d;
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
  d.crop_size = s.integer("crop_size", 0, 0, 16384);
  d.use_flip = s.get<bool>("use_flip", false);
  d.use_rot = s.get<bool>("use_rot", false);
  d.use_shuffle = s.get<bool>("use_shuffle", training);
  d.batch_size = s.integer("batch_size_per_gpu", 1, 1, 4096);
  d.workers = static_cast<int>(s.integer("num_worker_per_gpu", 2, 0, kMaxWorkers));
  d.prefetch = static_cast<int>(s.integer("num_prefetch_queue", 4, 1, 1024));
  d.skip_unpaired = s.get<bool>("skip_unpaired", false);
  if (training) d.skip_bad = s.get<bool>("skip_bad", false);
  d.max_images = s.integer("max_images", 0, 0, std::numeric_limits<int32_t>::max());
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
  cfg.manual_seed = static_cast<uint64_t>(
      top.integer("manual_seed", static_cast<int64_t>(cfg.manual_seed), 0, std::numeric_limits<int64_t>::max()));
  cfg.threads = static_cast<int>(top.integer("threads", 0, 0, 4096));
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
    cfg.network.dim = net.integer("dim", cfg.network.dim, 2, 1024);
    if (cfg.network.dim % 2 != 0) net.fail_key("dim", "must be even, got " + std::to_string(cfg.network.dim));
    if (net.has("num_blocks")) {
      auto b = net.integers("num_blocks", {}, 1, 64, 3);
      if (b.size() != 3) net.fail_key("num_blocks", "must list 3 numbers, got " + std::to_string(b.size()));
      cfg.network.blocks = {b[0], b[1], b[2]};
    }
    cfg.network.refinement = net.integer("num_refinement_blocks", cfg.network.refinement, 0, 64);
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
    cfg.adam.lr = o.number("lr", 1e-4, {0, 10, true, false});
    cfg.adam.weight_decay = o.number("weight_decay", 0.0, {0, 1});
    cfg.adam.eps = o.number("eps", 1e-8, {0, 1, true, false});
    auto betas = o.numbers("betas", {0.9, 0.99}, {0, 1, false, true}, 2);
    if (betas.size() != 2) o.fail_key("betas", "must list 2 numbers, got " + std::to_string(betas.size()));
    cfg.adam.beta1 = betas[0];
    cfg.adam.beta2 = betas[1];
    o.finish();

    Section sch = t.sub("scheduler");
    cfg.scheduler = sch.get<std::string>("type", cfg.scheduler);
    cfg.periods = sch.integers("periods", {}, 1, kMaxIter);
    cfg.restart_weights = sch.numbers("restart_weights", {1}, {0, 1000});
    cfg.eta_min = sch.number("eta_min", 0.0, {0, 10});
    cfg.milestones = sch.integers("milestones", {}, 1, kMaxIter, 0);
    cfg.gamma = sch.number("gamma", 0.1, {0, 10, true, false});
    cfg.restarts = sch.integers("restarts", {0}, 0, kMaxIter);
    if (cfg.scheduler == "GradualWarmupCosineAnnealingLR")  // train/config_llie.h
      cfg.llie.warmup_epochs = sch.integer("warmup_epochs", cfg.llie.warmup_epochs, 1, kMaxIter);
    sch.finish();
    cfg.llie.epochs = t.integer("total_epochs", 0, 0, kMaxIter);  // train/config_llie.h

    cfg.total_iter = t.integer("total_iter", cfg.total_iter, 1, kMaxIter);
    if (cfg.periods.empty()) cfg.periods = {cfg.total_iter};
    cfg.warmup_iter = t.integer("warmup_iter", -1, -1, kMaxIter);

    if (t.has("pixel_opt")) {
      Section px = t.sub("pixel_opt");
      const std::string ptype = px.get<std::string>("type", "L1Loss");
      LIEDNET_CHECK(ptype == "L1Loss" || ptype == "SmoothL1Loss", path,
                    ": train.pixel_opt.type: L1Loss or SmoothL1Loss, got ", ptype);
      if (ptype == "SmoothL1Loss") cfg.loss.smooth_l1_beta = px.get<double>("beta", 1.0);
      LIEDNET_CHECK(ptype == "L1Loss" || cfg.loss.smooth_l1_beta > 0, path, ": train.pixel_opt.beta must be positive");
      LIEDNET_CHECK(px.get<std::string>("reduction", "mean") == "mean", path, ": train.pixel_opt.reduction must be mean");
      cfg.loss.pixel_weight = px.number("loss_weight", 1.0, kWeight);
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
      cfg.loss.perceptual_weight = pc.number("perceptual_weight", 1.0, kWeight);
      if (pc.has("layer_weights")) {
        Section lw = pc.sub("layer_weights");
        const char* names[4] = {"conv1_2", "conv2_2", "conv3_4", "conv4_4"};
        for (int i = 0; i < 4; ++i) cfg.loss.layer_weights[i] = lw.number(names[i], 0.0, kWeight);
        lw.finish();
      }
      cfg.vgg_weights = pc.get<std::string>("vgg_weights", "");
      pc.finish();
    } else {
      cfg.loss.perceptual_weight = 0;
    }
    cfg.loss.use_side = t.get<bool>("use_side_loss", true);
    cfg.loss.side_weight = t.number("side_loss_weight", 0.8, kWeight);
    LIEDNET_CHECK(!t.get<bool>("init_weights", false), path,
                  ": train.init_weights (scaled Kaiming-normal re-initialisation) is not supported; upstream's LOL-Blur config leaves it false");
    LIEDNET_CHECK(t.get<double>("ema_decay", 0.0) == 0.0, path, ": train.ema_decay: EMA weights are not supported");
    t.finish();
  }
  if (top.has("val")) {
    Section v = top.sub("val");
    cfg.val_freq = v.integer("val_freq", 0, 0, kMaxIter);
    cfg.llie.val_every_epochs = v.integer("val_freq_epochs", cfg.llie.val_every_epochs, 1, kMaxIter);  // train/config_llie.h
    if (v.has("metrics")) {
      Section m = v.sub("metrics");
      if (m.has("psnr")) {
        Section ps = m.sub("psnr");
        cfg.crop_border = static_cast<int>(ps.integer("crop_border", 0, 0, 4096));
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
    cfg.print_freq = l.integer("print_freq", 100, 1, kMaxIter);
    cfg.save_checkpoint_freq = l.integer("save_checkpoint_freq", 5000, 0, kMaxIter);
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

void check_losses(const TrainConfig& cfg) {
  LIEDNET_CHECK(cfg.loss.pixel_weight > 0 || cfg.loss.perceptual_weight > 0, cfg.path,
                ": every loss term is off (train.pixel_opt is absent or its loss_weight is 0, and so is "
                "train.perceptual_opt's perceptual_weight): the run would learn nothing");
}

std::unique_ptr<nn::LRSchedule> make_schedule(const TrainConfig& cfg) {
  if (cfg.scheduler == "GradualWarmupCosineAnnealingLR") return make_llie_schedule(cfg);
  try {
    if (cfg.scheduler == "CosineAnnealingRestartLR")
      return std::make_unique<nn::CosineAnnealingRestart>(cfg.adam.lr, cfg.periods, cfg.restart_weights, cfg.eta_min);
    if (cfg.scheduler == "MultiStepLR" || cfg.scheduler == "MultiStepRestartLR")
      return std::make_unique<nn::MultiStepRestart>(cfg.adam.lr, cfg.milestones, cfg.gamma, cfg.restarts,
                                                    cfg.restart_weights.size() == cfg.restarts.size()
                                                        ? cfg.restart_weights
                                                        : std::vector<double>(cfg.restarts.size(), 1.0));
  } catch (const Error& e) {  // the schedule's own checks: name the file and the section
    fail(cfg.path, ": train.scheduler: ", e.what());
  }
  fail(cfg.path, ": train.scheduler.type: ", cfg.scheduler,
       " is not supported (CosineAnnealingRestartLR, MultiStepLR, MultiStepRestartLR)");
}

}  // namespace liednet::train
