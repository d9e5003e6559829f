#include "train/config_llie.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "data/loader.h"
#include "tensor/error.h"

namespace liednet::train {

namespace {
namespace fs = std::filesystem;

// One mapping of upstream's file: typed reads naming the dotted key, and the
// keys never read reported as unknown.
class Keys {
 public:
  Keys(const YAML::Node& node, std::string prefix, TrainConfig& cfg) : node_(node), prefix_(std::move(prefix)), cfg_(cfg) {
    LIEDNET_CHECK(!node_ || node_.IsNull() || node_.IsMap(), cfg_.path, ": '", prefix_, "' must be a mapping");
  }
  bool has(const std::string& k) {
    seen_.insert(k);
    return node_ && node_.IsMap() && node_[k] && !node_[k].IsNull();
  }
  template <typename T>
  T get(const std::string& k, const T& fallback) {
    if (!has(k)) return fallback;
    try {
      return node_[k].as<T>();
    } catch (const YAML::Exception& e) {
      fail(cfg_.path, ": '", dotted(k), "' has the wrong type (", e.msg, ")");
    }
  }
  template <typename T>
  T need(const std::string& k) {
    LIEDNET_CHECK(has(k), cfg_.path, ": '", dotted(k), "' is required");
    return get<T>(k, T());
  }
  Keys sub(const std::string& k) {
    seen_.insert(k);
    return Keys(node_ && node_.IsMap() ? node_[k] : YAML::Node(), dotted(k), cfg_);
  }
  void accept(const std::string& k, const std::string& why) {
    if (has(k)) cfg_.warnings.push_back("'" + dotted(k) + "' is accepted and not used (" + why + ")");
  }
  void finish() {
    if (!node_ || !node_.IsMap()) return;
    for (auto it = node_.begin(); it != node_.end(); ++it) {
      const std::string k = it->first.IsScalar() ? it->first.Scalar() : "?";
      if (!seen_.count(k)) cfg_.warnings.push_back("unknown key '" + dotted(k) + "' (ignored)");
    }
  }
  std::string dotted(const std::string& k) const { return prefix_.empty() ? k : prefix_ + "." + k; }

 private:
  YAML::Node node_;
  std::string prefix_;
  TrainConfig& cfg_;
  std::set<std::string> seen_;
};

// The recipe's fixed parts (train_llie.py): Adam (0.9, 0.999, 1e-8), SmoothL1
// (beta 1) on the output alone, warm-up over 3 epochs, random crops with the
// 0..8 orientation draw, shuffled, the last incomplete batch kept.
void llie_defaults(TrainConfig& cfg) {
  cfg.llie.on = true;
  cfg.adam = nn::AdamOptions{};
  cfg.adam.beta1 = 0.9;
  cfg.adam.beta2 = 0.999;
  cfg.adam.eps = 1e-8;
  cfg.adam.weight_decay = 0;
  cfg.loss = net::LossConfig{};
  cfg.loss.pixel_weight = 1;
  cfg.loss.perceptual_weight = 0;
  cfg.loss.use_side = false;
  cfg.loss.smooth_l1_beta = 1;
  cfg.scheduler = "GradualWarmupCosineAnnealingLR";
  cfg.warmup_iter = -1;
  cfg.train.use_flip = cfg.train.use_rot = true;
  cfg.train.use_shuffle = true;
}

// The newest ckpt_*.safetensors under `dir` ("" when none).
std::string newest_checkpoint(const fs::path& dir) {
  std::error_code ec;
  std::string best;
  if (!fs::is_directory(dir, ec)) return best;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("ckpt_", 0) == 0 && n.ends_with(".safetensors") && e.path().string() > best) best = e.path().string();
  }
  return best;
}
}  // namespace

bool is_upstream_llie_config(const YAML::Node& root) {
  return root.IsMap() && root["OPTIM"] && root["TRAINING"] && !root["datasets"] && !root["train"];
}

TrainConfig read_upstream_llie_config(const YAML::Node& root, const std::string& path) {
  TrainConfig cfg;
  cfg.path = path;
  llie_defaults(cfg);
  cfg.llie.read_as = "upstream's train_llie.py shape (GPU, VERBOSE, MODEL, OPTIM, TRAINING)";
  cfg.manual_seed = 1234;  // train_llie.py seeds random, numpy and torch with 1234
  Keys top(root, "", cfg);
  top.accept("GPU", "devices come from --device and --launcher");
  top.accept("VERBOSE", "upstream does not read it");
  cfg.threads = top.get<int>("THREADS", 0);
  cfg.manual_seed = top.get<uint64_t>("SEED", cfg.manual_seed);
  {
    Keys m = top.sub("MODEL");
    cfg.name = m.get<std::string>("MODE", "LIEDNet");
    cfg.network = net::preset(m.get<std::string>("PRESET", "liednet"));
    m.finish();
  }
  {
    Keys o = top.sub("OPTIM");
    cfg.train.batch_size = o.need<int64_t>("BATCH");
    cfg.llie.global_batch = true;
    cfg.llie.epochs = o.need<int64_t>("EPOCHS");
    cfg.adam.lr = o.need<double>("LR_INITIAL");
    cfg.eta_min = o.need<double>("LR_MIN");
    o.finish();
    LIEDNET_CHECK(cfg.train.batch_size >= 1, path, ": 'OPTIM.BATCH' must be at least 1, got ", cfg.train.batch_size);
    LIEDNET_CHECK(cfg.llie.epochs > cfg.llie.warmup_epochs, path, ": 'OPTIM.EPOCHS' must be more than the ",
                  cfg.llie.warmup_epochs, " warm-up epochs, got ", cfg.llie.epochs);
    LIEDNET_CHECK(cfg.adam.lr > 0, path, ": 'OPTIM.LR_INITIAL' must be positive");
  }
  {
    Keys t = top.sub("TRAINING");
    cfg.llie.val_every_epochs = t.get<int64_t>("VAL_AFTER_EVERY", 1);
    const bool resume = t.get<bool>("RESUME", false);
    cfg.train.crop_size = t.need<int64_t>("TRAIN_PS");
    t.accept("VAL_PS", "validation runs on whole images, as upstream's get_validation_data2");
    cfg.llie.train_dir = t.need<std::string>("TRAIN_DIR");
    cfg.llie.val_dir = t.get<std::string>("VAL_DIR", "");
    const std::string save = t.get<std::string>("SAVE_DIR", "./checkpoints");
    t.finish();
    LIEDNET_CHECK(cfg.train.crop_size >= 8 && cfg.train.crop_size % 8 == 0, path,
                  ": 'TRAINING.TRAIN_PS' must be a positive multiple of 8, got ", cfg.train.crop_size);
    LIEDNET_CHECK(cfg.llie.val_every_epochs >= 1, path, ": 'TRAINING.VAL_AFTER_EVERY' must be at least 1");
    cfg.experiments_root = (fs::path(save) / cfg.name).string();
    if (resume) {
      cfg.resume_state = newest_checkpoint(fs::path(cfg.experiments_root) / "checkpoints");
      LIEDNET_CHECK(!cfg.resume_state.empty(), path, ": 'TRAINING.RESUME' is true but ",
                    (fs::path(cfg.experiments_root) / "checkpoints").string(), " holds no checkpoint");
    }
  }
  {
    Keys l = top.sub("LOGGER");
    cfg.print_freq = l.get<int64_t>("PRINT_FREQ", 100);
    l.finish();
    LIEDNET_CHECK(cfg.print_freq >= 1, path, ": 'LOGGER.PRINT_FREQ' must be at least 1");
  }
  top.finish();
  cfg.train.name = "train";
  cfg.train.dataroot_lq = (fs::path(cfg.llie.train_dir) / "low").string();
  cfg.train.dataroot_gt = (fs::path(cfg.llie.train_dir) / "high").string();
  if (!cfg.llie.val_dir.empty()) {
    DataConfig v;
    v.name = "val";
    v.dataroot_lq = (fs::path(cfg.llie.val_dir) / "low").string();
    v.dataroot_gt = (fs::path(cfg.llie.val_dir) / "high").string();
    v.use_shuffle = false;
    cfg.val = v;
  }
  return cfg;
}

void finish_basicsr_llie(TrainConfig& cfg) {
  const bool dataset = cfg.llie.on;  // datasets.train.type LowLightPairedDataset
  const bool schedule = cfg.scheduler == "GradualWarmupCosineAnnealingLR";
  if (!dataset && !schedule) {
    LIEDNET_CHECK(cfg.llie.epochs == 0, cfg.path, ": train.total_epochs needs datasets.train.type LowLightPairedDataset");
    return;
  }
  LIEDNET_CHECK(dataset && schedule, cfg.path,
                ": the low-light recipe needs both datasets.train.type LowLightPairedDataset and "
                "train.scheduler.type GradualWarmupCosineAnnealingLR (the schedule counts epochs)");
  LIEDNET_CHECK(!cfg.val || !cfg.val->dataroot_lq.empty(), cfg.path,
                ": datasets.val.type must be LowLightPairedDataset too");
  LIEDNET_CHECK(cfg.llie.epochs > cfg.llie.warmup_epochs, cfg.path, ": train.total_epochs must be more than the ",
                cfg.llie.warmup_epochs, " warm-up epochs (train.scheduler.warmup_epochs), got ", cfg.llie.epochs);
  LIEDNET_CHECK(cfg.train.crop_size > 0, cfg.path, ": datasets.train.crop_size is required by the low-light recipe");
  cfg.llie.read_as = "BasicSR's shape with the low-light recipe (LowLightPairedDataset)";
  cfg.train.use_shuffle = true;
}

std::string input_range_of(const TrainConfig& cfg) { return cfg.llie.on ? "0,1" : "-1,1"; }

TrainConfig resolve_epochs(const TrainConfig& in, int64_t pairs, int world) {
  TrainConfig cfg = in;
  if (!cfg.llie.on) return cfg;
  if (cfg.llie.global_batch && world > 1) {  // upstream's DataParallel splits OPTIM.BATCH over its GPUs
    LIEDNET_CHECK(cfg.train.batch_size % world == 0, cfg.path, ": 'OPTIM.BATCH' (", cfg.train.batch_size,
                  ", the whole step's batch, as upstream's DataParallel) does not split over ", world, " ranks");
    cfg.train.batch_size /= world;
  }
  data::LoaderOptions lo;
  lo.batch = cfg.train.batch_size;
  lo.shards = world;
  lo.keep_last = true;
  const int64_t per_epoch = data::batches_per_epoch(pairs, lo);
  LIEDNET_CHECK(per_epoch > 0, cfg.path, ": ", pairs, " training pairs do not make one batch on ", world, " ranks");
  cfg.llie.iters_per_epoch = per_epoch;
  cfg.total_iter = cfg.llie.epochs * per_epoch;
  cfg.periods = {cfg.total_iter};
  cfg.val_freq = cfg.llie.val_every_epochs * per_epoch;
  cfg.save_checkpoint_freq = per_epoch;  // upstream saves the latest weights after every epoch
  return cfg;
}

std::unique_ptr<nn::LRSchedule> make_llie_schedule(const TrainConfig& cfg) {
  LIEDNET_CHECK(cfg.llie.iters_per_epoch > 0, cfg.path, ": the epoch schedule needs the number of batches per epoch");
  return std::make_unique<nn::WarmupCosineEpochs>(cfg.adam.lr, cfg.llie.warmup_epochs, cfg.llie.epochs, cfg.eta_min,
                                                  cfg.llie.iters_per_epoch);
}

}  // namespace liednet::train
