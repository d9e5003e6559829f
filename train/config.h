// Training configuration, read from YAML with upstream BasicSR's keys, so that
// upstream's options/train_LOLBlur.yml runs once its data paths point at the
// data. Our additions (documented in docs/training.md):
//   path.experiments_root, train.perceptual_opt.vgg_weights, threads,
//   datasets.*.skip_unpaired, datasets.train.skip_bad, datasets.val.max_images.
// Keys that upstream uses for machinery we do not have (io_backend, wandb,
// dist_params, ...) are accepted and listed; any other key is reported as
// unknown. Settings we cannot honour (another loss type, style loss, input
// normalisation other than mean 0.5 std 0.5) are errors naming the key.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "liednet/liednet.h"
#include "liednet/losses.h"
#include "nn/optim.h"

namespace liednet::train {

// The most loader threads a config may ask for (datasets.*.num_worker_per_gpu).
constexpr int kMaxWorkers = 64;

// A range of allowed values, closed unless said open: "(0, 10]".
struct Interval {
  double lo, hi;
  bool lo_open = false, hi_open = false;
  std::string str() const;
  bool contains(double v) const;  // false for NaN and infinities
};

struct DataConfig {
  std::string name, dataroot_gt, dataroot_lq;
  int64_t crop_size = 0;  // 0: whole images
  bool use_flip = false, use_rot = false, use_shuffle = true;
  int64_t batch_size = 1;
  int workers = 2, prefetch = 4;
  bool skip_unpaired = false;
  bool skip_bad = false;   // training: pairs that fail to load are skipped with a warning (LoaderOptions::skip_bad)
  int64_t max_images = 0;  // validation: 0 = all
};

// Upstream's low-light recipe (train_llie.py; train/config_llie.h) where on:
// data from DIR/low + DIR/high paired by sorted position, in [0, 1], epochs
// with the last incomplete batch kept, SmoothL1, a per-epoch warm-up + cosine
// schedule, validation on whole images padded to a multiple of 16, and the
// best-PSNR / best-SSIM weights kept.
struct LowLightRecipe {
  bool on = false;
  std::string read_as;           // how the file was read, the first log line
  std::string train_dir, val_dir;  // each with low/ and high/
  int64_t epochs = 0, warmup_epochs = 3, val_every_epochs = 1;
  int64_t iters_per_epoch = 0;   // set by resolve_epochs once the data are counted
  bool global_batch = false;     // OPTIM.BATCH is the whole step's (nn.DataParallel splits it): per rank = BATCH / ranks
};

struct TrainConfig {
  std::string path;  // the YAML file
  std::string name = "liednet";
  uint64_t manual_seed = 10;
  DataConfig train;
  std::optional<DataConfig> val;
  net::LIEDNetConfig network;
  std::string pretrain_network_g, param_key_g = "params";
  bool strict_load_g = true;
  std::string experiments_root;  // default experiments/<name>
  std::string resume_state;      // path.resume_state
  nn::AdamOptions adam;
  std::string scheduler = "CosineAnnealingRestartLR";
  std::vector<int64_t> periods{500000}, milestones, restarts{0};
  std::vector<double> restart_weights{1};
  double eta_min = 1e-7, gamma = 0.5;
  int64_t total_iter = 500000, warmup_iter = -1;
  net::LossConfig loss;
  std::string vgg_weights;
  int64_t val_freq = 0, print_freq = 100;
  int64_t save_checkpoint_freq = 5000;  // absent from the config: 5,000; 0: only at the end (and on interrupt)
  int crop_border = 0;
  int threads = 0;  // 0: LIEDNET_THREADS / OMP_NUM_THREADS / all cores
  DType dtype = DType::F32;  // f64 for parity tests (not a YAML key)
  Device device = Device::CPU;  // --device cuda
  std::vector<std::string> warnings;  // unknown keys, accepted-but-unused keys
  LowLightRecipe llie;  // upstream's low-light recipe (train/config_llie.h); off for LOL-Blur's
};

TrainConfig load_train_config(const std::string& path);
// The same from the YAML text; `path` names the file in messages.
TrainConfig parse_train_config(const std::string& text, const std::string& path);

// An error naming the file when no loss term is on (pixel and perceptual
// weights both 0): such a run would train and learn nothing.
void check_losses(const TrainConfig& cfg);

// The learning-rate schedule the config describes (upstream's scheduler types).
std::unique_ptr<nn::LRSchedule> make_schedule(const TrainConfig& cfg);

}  // namespace liednet::train
