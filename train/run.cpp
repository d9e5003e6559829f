// One training run: data, the trainer, logs, validation, checkpoints and curves.
#include "train/run.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "autograd/autograd.h"
#include "data/dataset.h"
#include "data/image.h"
#include "data/loader.h"
#include "data/metrics.h"
#include "nn/state_dict.h"
#include "tensor/cuda.h"
#include "tensor/parallel.h"
#include "tensor/safetensors.h"
#include "train/plot.h"
#include "train/trainer.h"

namespace liednet::train {

namespace {
namespace fs = std::filesystem;

std::string duration(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds);
  char buf[64];
  if (s >= 86400) std::snprintf(buf, sizeof buf, "%lldd %02lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
  else if (s >= 3600) std::snprintf(buf, sizeof buf, "%lldh %02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
  else std::snprintf(buf, sizeof buf, "%lldm %02llds", (long long)(s / 60), (long long)(s % 60));
  return buf;
}

// Keeps a JSON-lines log's entries up to `iter` (a resumed run rewrites what
// the interrupted one logged after its last checkpoint).
void trim_log(const std::string& path, int64_t iter) {
  if (!fs::exists(path)) return;
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    try {
      if (nlohmann::json::parse(line).value("iter", int64_t{0}) <= iter) kept += line + "\n";
    } catch (const std::exception&) {
      // a torn last line of an interrupted run
    }
  }
  write_file_atomically(path, kept);
}

void append_line(const std::string& path, const nlohmann::json& j) {
  std::ofstream out(path, std::ios::app);
  LIEDNET_CHECK(out, path, ": cannot append to the log");
  out << j.dump() << "\n";
}

struct Validation {
  double psnr = 0, ssim = 0;
  int64_t images = 0;
};

Validation validate(net::LIEDNet& model, const std::vector<data::Pair>& pairs, int64_t max_images, int crop_border) {
  Validation v;
  model.eval();
  autograd::NoGradGuard no_grad;
  for (const data::Pair& p : pairs) {
    if (max_images > 0 && v.images >= max_images) break;
    Tensor lq = data::read_image(p.lq_path), gt = data::read_image(p.gt_path);
    LIEDNET_CHECK(lq.shape() == gt.shape(), p.lq_path, " and ", p.gt_path, " differ in size: ", lq.shape(), " vs ",
                  gt.shape());
    const Shape s = lq.shape();
    Tensor x = data::to_model_range(lq).reshape({1, 3, s[1], s[2]});
    if (model.device() != Device::CPU) x = x.to(model.device());
    Tensor out = model.forward(x).out;
    if (out.device() != Device::CPU) out = out.to(Device::CPU);
    // Upstream maps the [-1, 1] output as if it were [0, 1]; we map it correctly.
    Tensor pred = data::to_unit_range(out).reshape(s);
    v.psnr += data::psnr_basicsr(pred, gt, crop_border);
    v.ssim += data::ssim_basicsr(pred, gt, crop_border);
    ++v.images;
  }
  model.train();
  if (v.images) {
    v.psnr /= static_cast<double>(v.images);
    v.ssim /= static_cast<double>(v.images);
  }
  return v;
}
}  // namespace

int run_training(const TrainConfig& cfg, const RunOptions& options) {
  for (const std::string& w : cfg.warnings) std::printf("config: %s\n", w.c_str());
  if (cfg.threads > 0) set_num_threads(cfg.threads);

  const fs::path root(cfg.experiments_root);
  fs::create_directories(root / "checkpoints");
  fs::create_directories(root / "models");
  for (const fs::path& d : {root, root / "checkpoints", root / "models"})
    for (const std::string& f : remove_stale_temporaries(d.string()))
      std::printf("removed %s (left by a killed run)\n", f.c_str());
  const std::string train_log = (root / "train_log.jsonl").string(), val_log = (root / "val_log.jsonl").string();

  std::string warning;
  std::vector<data::Pair> pairs =
      data::pair_folders({cfg.train.dataroot_lq, cfg.train.dataroot_gt, cfg.train.skip_unpaired}, &warning);
  if (!warning.empty()) std::printf("warning: %s\n", warning.c_str());
  std::vector<data::Pair> val_pairs;
  if (cfg.val) {
    val_pairs = data::pair_folders({cfg.val->dataroot_lq, cfg.val->dataroot_gt, cfg.val->skip_unpaired}, &warning);
    if (!warning.empty()) std::printf("warning: %s\n", warning.c_str());
  }

  Trainer trainer(cfg);
  data::LoaderOptions lo;
  lo.batch = cfg.train.batch_size;
  lo.shuffle = cfg.train.use_shuffle;
  lo.seed = cfg.manual_seed;
  lo.workers = cfg.train.workers;
  lo.prefetch = cfg.train.prefetch;
  lo.augment = {cfg.train.crop_size, cfg.train.use_flip, cfg.train.use_rot};
  lo.skip_bad = cfg.train.skip_bad;
  data::TrainLoader loader(pairs, lo);

  const std::string resume = options.resume.empty() ? cfg.resume_state : options.resume;
  if (!resume.empty()) {
    const LoaderPosition pos = trainer.load_checkpoint(resume);
    loader.restore({pos.epoch, pos.cursor});
    trim_log(train_log, trainer.iter());
    trim_log(val_log, trainer.iter());
    std::printf("resumed from %s at iteration %lld\n", resume.c_str(), static_cast<long long>(trainer.iter()));
  } else {
    write_file_atomically(train_log, "");
    write_file_atomically(val_log, "");
  }
  std::printf("training %s (%s parameters) on %zu pairs, batch %lld, crop %lld, %d threads, %lld iterations%s\n",
              cfg.network.name.c_str(), std::to_string(trainer.model().parameter_count()).c_str(), pairs.size(),
              static_cast<long long>(cfg.train.batch_size), static_cast<long long>(cfg.train.crop_size), num_threads(),
              static_cast<long long>(cfg.total_iter),
              cfg.loss.perceptual_weight > 0 ? "" : " (perceptual loss off: perceptual_weight 0 or no perceptual_opt)");

  auto save = [&](bool final) {
    const data::TrainLoader::State s = loader.state();
    char name[64];
    std::snprintf(name, sizeof name, "ckpt_%08lld.safetensors", static_cast<long long>(trainer.iter()));
    const std::string ckpt = (root / "checkpoints" / name).string();
    trainer.save_checkpoint(ckpt, {s.epoch, s.cursor});
    std::snprintf(name, sizeof name, "net_g_%08lld.safetensors", static_cast<long long>(trainer.iter()));
    nn::save_weights(trainer.model(), (root / "models" / name).string(), {{"preset", cfg.network.name}});
    nn::save_weights(trainer.model(), (root / "models" / "net_g_latest.safetensors").string(),
                     {{"preset", cfg.network.name}});
    std::printf("%s checkpoint %s\n", final ? "final" : "saved", ckpt.c_str());
  };

  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const int64_t first_iter = trainer.iter();
  auto window_start = start;
  int64_t window_iters = 0;
  while (trainer.iter() < cfg.total_iter) {
    data::TrainLoader::Batch batch = loader.next();
    for (const std::string& w : batch.skipped)
      std::printf("warning: skip_bad: skipping %s (bad pairs so far: %lld)\n", w.c_str(),
                  static_cast<long long>(loader.skipped_count()));
    const StepReport r = trainer.step(batch.lq, batch.gt);
    ++window_iters;
    if (r.iter % cfg.print_freq == 0 || r.iter == first_iter + 1 || r.iter == cfg.total_iter) {
      const auto now = clock::now();
      const double elapsed = std::chrono::duration<double>(now - start).count();
      const double window = std::chrono::duration<double>(now - window_start).count();
      const double its = window > 0 ? window_iters / window : 0;
      const double eta = its > 0 ? (cfg.total_iter - r.iter) / its : 0;
      std::printf("[%6.2f%%] iter %lld/%lld  loss %.5f (pix %.5f side_pix %.5f percep %.5f side_percep %.5f)  "
                  "lr %.3e  %.2f it/s  eta %s\n",
                  100.0 * r.iter / cfg.total_iter, static_cast<long long>(r.iter),
                  static_cast<long long>(cfg.total_iter), r.total, r.l_pix, r.l_side_pix, r.l_percep, r.l_side_percep,
                  r.lr, its, duration(eta).c_str());
      std::fflush(stdout);
      append_line(train_log, {{"iter", r.iter}, {"lr", r.lr}, {"l_total", r.total}, {"l_pix", r.l_pix},
                              {"l_side_pix", r.l_side_pix}, {"l_percep", r.l_percep},
                              {"l_side_percep", r.l_side_percep}, {"seconds", elapsed}, {"it_per_s", its}});
      window_start = now;
      window_iters = 0;
    }
    if (cfg.val && cfg.val_freq > 0 && r.iter % cfg.val_freq == 0) {
      const Validation v = validate(trainer.model(), val_pairs, cfg.val->max_images, cfg.crop_border);
      std::printf("validation at iter %lld: PSNR %.3f dB, SSIM %.4f over %lld images\n", static_cast<long long>(r.iter),
                  v.psnr, v.ssim, static_cast<long long>(v.images));
      append_line(val_log, {{"iter", r.iter}, {"psnr", v.psnr}, {"ssim", v.ssim}, {"images", v.images}});
    }
    if (cfg.save_checkpoint_freq > 0 && r.iter % cfg.save_checkpoint_freq == 0 && r.iter != cfg.total_iter)
      save(false);
  }
  save(true);
  const std::string curves = (root / "curves.svg").string();
  write_curves_svg(curves, cfg.name, read_series(train_log, "l_total", "training loss"),
                          read_series(val_log, "psnr", "validation PSNR (dB)"));
  std::printf("wrote %s\n", curves.c_str());
  return 0;
}

}  // namespace liednet::train
