// One training run: data, the trainer, logs, validation, checkpoints and curves.
#include "train/run.h"

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <sched.h>

#include "autograd/autograd.h"
#include "data/dataset.h"
#include "data/llie_dataset.h"
#include "data/image.h"
#include "data/loader.h"
#include "data/metrics.h"
#include "nn/state_dict.h"
#include "tensor/atomic_file.h"
#include "tensor/cuda.h"
#include "tensor/parallel.h"
#include "tensor/safetensors.h"
#include "train/checkpoint_fit.h"
#include "train/comm.h"
#include "train/config_llie.h"
#include "train/interrupt.h"
#include "train/log_file.h"
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
      // a torn last line of a run killed outright
    }
  }
  FileWriteScope writing;
  write_file_atomically(path, kept);
}

// Threads per rank when neither the config nor the environment sets them:
// the cores the launcher bound this rank to, or, unbound, an equal share of
// the machine's cores.
int threads_per_rank(int local_ranks) {
  cpu_set_t set;
  const int hardware = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int available = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : hardware;
  if (available < hardware) return std::max(1, available);
  return std::max(1, hardware / std::max(1, local_ranks));
}

// A word for a shell command line, quoted when it needs to be.
std::string shell_word(const std::string& w) {
  if (!w.empty() && w.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./=:,+-@%") ==
                        std::string::npos)
    return w;
  std::string q = "'";
  for (char c : w) q.append(c == '\'' ? std::string("'\\''") : std::string(1, c));
  return q.append("'");
}

// The command that continues this run from `checkpoint`: this program, the
// same arguments without --resume / --resume-anyway, then --resume CHECKPOINT.
std::string resume_command(const RunOptions& o, const std::string& checkpoint, int world) {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  // Built with append: GCC 12 warns falsely (-Wrestrict) on " " + std::string.
  std::string cmd;
  if (world > 1 || o.launcher == Launcher::Mpi) cmd.append("mpirun -np ").append(std::to_string(world)).append(" ");
  cmd.append(shell_word(ec ? std::string("liednet") : exe.string())).append(" train");
  for (size_t i = 0; i < o.arguments.size(); ++i) {
    if (o.arguments[i] == "--resume-anyway") continue;
    if (o.arguments[i] == "--resume") {
      ++i;
      continue;
    }
    if (o.arguments[i] == "--config" && i + 1 < o.arguments.size()) {  // absolute: the command works from anywhere
      const fs::path config = fs::absolute(o.arguments[++i], ec);
      cmd.append(" --config ").append(shell_word(ec ? o.arguments[i] : config.lexically_normal().string()));
      continue;
    }
    cmd.append(" ").append(shell_word(o.arguments[i]));
  }
  return cmd.append(" --resume ").append(shell_word(checkpoint));
}

// What the saved weights carry beside the tensors: the preset, and the input
// range the network was trained on (data/input_range.h reads it back).
std::map<std::string, std::string> weights_metadata(const TrainConfig& cfg) {
  return {{"preset", cfg.network.name}, {"input_range", input_range_of(cfg)}};
}

// The low-light recipe keeps the weights of the best validation PSNR and SSIM
// so far (the validation log, up to this iteration, holds the earlier ones:
// a resumed run continues the comparison) in models/net_best_{psnr,ssim}.
void keep_best(net::LIEDNet& model, const TrainConfig& cfg, const std::string& val_log, int64_t iter, double psnr,
               double ssim) {
  double best_psnr = -1e300, best_ssim = -1e300;
  std::ifstream in(val_log);
  std::string line;
  while (std::getline(in, line)) {
    try {
      const nlohmann::json j = nlohmann::json::parse(line);
      if (j.value("iter", int64_t{0}) >= iter) continue;
      best_psnr = std::max(best_psnr, j.value("psnr", -1e300));
      best_ssim = std::max(best_ssim, j.value("ssim", -1e300));
    } catch (const std::exception&) {
      // a torn last line
    }
  }
  const fs::path models = fs::path(cfg.experiments_root) / "models";
  if (psnr > best_psnr) {
    nn::save_weights(model, (models / "net_best_psnr.safetensors").string(), weights_metadata(cfg));
    std::printf("best PSNR so far (%.3f dB): saved %s\n", psnr, (models / "net_best_psnr.safetensors").c_str());
  }
  if (ssim > best_ssim) {
    nn::save_weights(model, (models / "net_best_ssim.safetensors").string(), weights_metadata(cfg));
    std::printf("best SSIM so far (%.4f): saved %s\n", ssim, (models / "net_best_ssim.safetensors").c_str());
  }
}

// An f32 image clamped to [0, 1] (a copy).
Tensor clamp01(const Tensor& t) {
  Tensor c = t.clone();
  float* p = c.data<float>();
  for (int64_t i = 0; i < c.numel(); ++i) p[i] = std::min(1.0f, std::max(0.0f, p[i]));
  return c;
}

struct Validation {
  double psnr = 0, ssim = 0;
  int64_t images = 0;
};

// The low-light recipe (train/config_llie.h) feeds [0, 1] and pads the input to a multiple of 16.
struct ValidationInput {
  bool unit_range = false;
  int64_t multiple = 1;
};

// `alive` is called before each image (rank 0 validates alone while the
// other ranks wait: Communicator::keep_alive).
Validation validate(net::LIEDNet& model, const std::vector<data::Pair>& pairs, int64_t max_images, int crop_border,
                    const std::function<void()>& alive, const ValidationInput& in = {}) {
  Validation v;
  model.eval();
  autograd::NoGradGuard no_grad;
  for (const data::Pair& p : pairs) {
    if (max_images > 0 && v.images >= max_images) break;
    alive();
    Tensor lq = data::read_image(p.lq_path), gt = data::read_image(p.gt_path);
    LIEDNET_CHECK(lq.shape() == gt.shape(), p.lq_path, " and ", p.gt_path, " differ in size: ", lq.shape(), " vs ",
                  gt.shape());
    const Shape s = lq.shape();
    const int64_t H = data::round_up(s[1], in.multiple), W = data::round_up(s[2], in.multiple);
    Tensor x = in.unit_range ? data::reflect_pad(lq, H, W).reshape({1, 3, H, W})
                             : data::to_model_range(lq).reshape({1, 3, s[1], s[2]});
    if (model.device() != Device::CPU) x = x.to(model.device());
    Tensor out = model.forward(x).out;
    if (out.device() != Device::CPU) out = out.to(Device::CPU);
    // Upstream maps the [-1, 1] output as if it were [0, 1]; we map it correctly.
    Tensor pred = in.unit_range ? data::apply_transform(clamp01(out.reshape({3, H, W})), {0, 0, s[1], s[2]})
                                : data::to_unit_range(out).reshape(s);
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

// Every validation pair that validate() will read, read now: a bad one is an
// error before training starts rather than after the first interval. Returns
// the first error, naming the files ("" when all are good).
// `alive` is called before each pair, as in validate().
std::string check_validation_pairs(const std::vector<data::Pair>& pairs, int64_t max_images, int crop_border,
                                   const std::function<void()>& alive) {
  int64_t n = 0;
  for (const data::Pair& p : pairs) {
    if (max_images > 0 && n >= max_images) break;
    ++n;
    alive();
    try {
      const Tensor lq = data::read_image(p.lq_path), gt = data::read_image(p.gt_path);
      LIEDNET_CHECK(lq.shape() == gt.shape(), p.lq_path, " and ", p.gt_path, " differ in size: ", lq.shape(), " vs ",
                    gt.shape());
      // What the metrics need: SSIM's 11x11 window inside the cropped image.
      const int64_t h = lq.size(1) - 2 * crop_border, w = lq.size(2) - 2 * crop_border;
      LIEDNET_CHECK(h >= 11 && w >= 11, p.gt_path, ": ", lq.size(1), "x", lq.size(2), " less crop_border ", crop_border,
                    " on each side is smaller than SSIM's 11x11 window");
    } catch (const Error& e) {
      return e.what();
    }
  }
  return "";
}

// Where a resumed run's loader starts. The checkpoint's cursor counts global
// batches of its own run; with another world size or batch the position is
// carried over as the number of samples of the epoch already used (rounded
// down to a whole global batch of this run).
data::TrainLoader::State continue_at(const RunPosition& saved, int64_t saved_batch, const data::TrainLoader& loader,
                                     int world) {
  const int64_t batch = loader.options().batch;
  int64_t epoch = saved.epoch, cursor = saved.cursor;
  if (saved.world_size != world || saved_batch != batch)
    cursor = saved.cursor * saved_batch * saved.world_size / (batch * world);
  if (cursor >= loader.batches_per_epoch()) {  // the epoch is shorter now (fewer pairs, larger batches)
    ++epoch;
    cursor = 0;
  }
  return {epoch, cursor};
}

int train(const TrainConfig& given, const RunOptions& options, Communicator& comm) {
  TrainConfig cfg = given;  // the low-light recipe's epochs become iterations once the data are counted
  const bool lead = comm.rank() == 0;  // prints and writes files
  const int world = comm.world_size();
  if (lead && !cfg.llie.read_as.empty()) std::printf("config: %s read as %s\n", cfg.path.c_str(), cfg.llie.read_as.c_str());
  if (lead)
    for (const std::string& w : cfg.warnings) std::printf("config: %s\n", w.c_str());
  check_losses(cfg);
  LIEDNET_CHECK(!options.resume_anyway || !options.resume.empty() || !cfg.resume_state.empty(),
                "--resume-anyway needs --resume CHECKPOINT (or the config's path.resume_state)");
  if (cfg.threads > 0) set_num_threads(cfg.threads);
  else if (world > 1 && !std::getenv("LIEDNET_THREADS") && !std::getenv("OMP_NUM_THREADS"))
    set_num_threads(threads_per_rank(comm.local_size()));

  const fs::path root(cfg.experiments_root);
  const std::string train_log = (root / "train_log.jsonl").string(), val_log = (root / "val_log.jsonl").string();
  if (lead) {
    fs::create_directories(root / "checkpoints");
    fs::create_directories(root / "models");
    // Temporary files (written, then renamed into place) that a killed run left.
    for (const fs::path& d : {root, root / "checkpoints", root / "models"})
      for (const std::string& f : remove_stale_temporaries(d.string()))
        std::printf("removed %s (left by a killed run)\n", f.c_str());
  }

  std::string warning;
  std::vector<data::Pair> pairs =
      cfg.llie.on ? data::pair_sorted_order(cfg.llie.train_dir)
                  : data::pair_folders({cfg.train.dataroot_lq, cfg.train.dataroot_gt, cfg.train.skip_unpaired}, &warning);
  cfg = resolve_epochs(cfg, static_cast<int64_t>(pairs.size()), world);
  if (!warning.empty() && lead) std::printf("warning: %s\n", warning.c_str());
  std::vector<data::Pair> val_pairs;
  if (cfg.val && lead) {
    val_pairs = cfg.llie.on ? data::pair_sorted_order(cfg.llie.val_dir)
                            : data::pair_folders({cfg.val->dataroot_lq, cfg.val->dataroot_gt, cfg.val->skip_unpaired}, &warning);
    if (!warning.empty()) std::printf("warning: %s\n", warning.c_str());
    const std::string bad =
        check_validation_pairs(val_pairs, cfg.val->max_images, cfg.crop_border, [&] { comm.keep_alive(); });
    LIEDNET_CHECK(bad.empty(), "validation data: ", bad);
  }
  const nlohmann::json fit = fit_record(cfg, static_cast<int64_t>(pairs.size()));

  // The low-light recipe keeps the last incomplete batch (resolve_epochs has checked there is one).
  LIEDNET_CHECK(cfg.llie.on || static_cast<int64_t>(pairs.size()) >= cfg.train.batch_size * world, cfg.path,
                ": datasets.train.batch_size_per_gpu is ", cfg.train.batch_size, world > 1 ? " per rank on " + std::to_string(world) + " ranks" : std::string(),
                " but the training folders hold ", pairs.size(), " pairs: not one batch");
  // One process trains without a communicator: no flat-buffer copies at all.
  Trainer trainer(cfg, options.launcher == Launcher::Mpi ? &comm : nullptr);
  data::TrainLoader loader(pairs, loader_options(cfg, comm.rank(), world));

  // Rank 0 reads the checkpoint (it alone wrote it) and hands the state to
  // the others; without one, its initial weights.
  const std::string resume = options.resume.empty() ? cfg.resume_state : options.resume;
  RunPosition pos;
  if (!resume.empty() && lead) {
    pos = trainer.load_checkpoint(resume);
    const std::vector<FitChange> changes = compare_fit(pos.fit, fit);
    if (!changes.empty() && !options.resume_anyway)
      fail(resume, ": the config does not fit the checkpoint: ", describe(changes),
           " (--resume-anyway continues with the config's values)");
    if (!changes.empty()) std::printf("--resume-anyway: continuing with the config's values: %s\n", describe(changes).c_str());
    LIEDNET_CHECK(trainer.iter() < cfg.total_iter, resume, ": the checkpoint is at iteration ", trainer.iter(),
                  " and train.total_iter is ", cfg.total_iter, " in ", cfg.path,
                  ": nothing left to train (raise total_iter to continue)");
    trim_log(train_log, trainer.iter());
    trim_log(val_log, trainer.iter());
  } else if (lead) {
    FileWriteScope writing;
    write_file_atomically(train_log, "");
    write_file_atomically(val_log, "");
  }
  trainer.broadcast_state(0);
  if (!resume.empty()) {
    const int64_t batch = loader.options().batch;
    const int64_t saved_batch = pos.fit.is_object() ? pos.fit.value("datasets.train.batch_size_per_gpu", batch) : batch;
    Tensor where = Tensor::from_vector({4}, {static_cast<double>(pos.epoch), static_cast<double>(pos.cursor),
                                             static_cast<double>(pos.world_size), static_cast<double>(saved_batch)},
                                       DType::F64);
    comm.broadcast(where, 0);
    pos.epoch = static_cast<int64_t>(where.at({0}));
    pos.cursor = static_cast<int64_t>(where.at({1}));
    pos.world_size = static_cast<int>(where.at({2}));
    const data::TrainLoader::State at = continue_at(pos, static_cast<int64_t>(where.at({3})), loader, world);
    loader.restore(at);
    if (lead) {
      std::printf("resumed from %s at iteration %lld\n", resume.c_str(), static_cast<long long>(trainer.iter()));
      if (pos.world_size != world)
        std::printf("the checkpoint was written by %d rank(s), this run has %d: global batch %lld instead of %lld; "
                    "the data continue at batch %lld of epoch %lld; the run is no longer bit-identical to an "
                    "unbroken one\n",
                    pos.world_size, world, static_cast<long long>(loader.options().batch * world),
                    static_cast<long long>(static_cast<int64_t>(where.at({3})) * pos.world_size),
                    static_cast<long long>(at.cursor), static_cast<long long>(at.epoch));
    }
  }
  std::unique_ptr<LogFile> train_lines, val_lines;
  if (lead) {
    train_lines = std::make_unique<LogFile>(train_log);
    val_lines = std::make_unique<LogFile>(val_log);
    std::string ranks;
    if (world > 1 || options.launcher == Launcher::Mpi)
      ranks = " x " + std::to_string(world) + " ranks (" + comm.backend() + ")";
    std::printf("training %s (%s parameters) on %zu pairs, batch %lld%s, crop %lld, %d threads%s, %lld iterations%s\n",
                cfg.network.name.c_str(), std::to_string(trainer.model().parameter_count()).c_str(), pairs.size(),
                static_cast<long long>(cfg.train.batch_size), ranks.c_str(),
                static_cast<long long>(cfg.train.crop_size), num_threads(), world > 1 ? " per rank" : "",
                static_cast<long long>(cfg.total_iter),
                cfg.loss.perceptual_weight > 0 ? "" : " (perceptual loss off: perceptual_weight 0 or no perceptual_opt)");
    std::fflush(stdout);
  }

  if (options.max_iters == 0) {  // --max-iters 0: everything built, nothing trained
    if (lead) std::printf("stopped before the first iteration (--max-iters 0)\n");
    return 0;
  }
  int64_t saved_at = -1;
  auto save = [&]() -> std::string {
    FileWriteScope writing;  // a second interrupt waits for these files
    const data::TrainLoader::State s = loader.state();
    char name[64];
    std::snprintf(name, sizeof name, "ckpt_%08lld.safetensors", static_cast<long long>(trainer.iter()));
    const std::string ckpt = (root / "checkpoints" / name).string();
    RunPosition here{s.epoch, s.cursor, world, fit};
    comm.keep_alive();  // the other ranks wait meanwhile
    trainer.save_checkpoint(ckpt, here);
    std::snprintf(name, sizeof name, "net_g_%08lld.safetensors", static_cast<long long>(trainer.iter()));
    const std::map<std::string, std::string> meta = weights_metadata(cfg);
    comm.keep_alive();
    nn::save_weights(trainer.model(), (root / "models" / name).string(), meta);
    comm.keep_alive();
    nn::save_weights(trainer.model(), (root / "models" / "net_g_latest.safetensors").string(), meta);
    if (cfg.llie.on) {
      comm.keep_alive();
      nn::save_weights(trainer.model(), (root / "models" / "net_latest.safetensors").string(), meta);
    }
    saved_at = trainer.iter();
    return ckpt;
  };

  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const int64_t first_iter = trainer.iter();
  auto window_start = start;
  int64_t window_iters = 0;
  // Per step: the loss terms' global means and who saw SIGINT / SIGTERM, in
  // one small all-reduce, so every rank logs the same and stops together.
  // With several ranks it also says whether any rank skipped a bad pair
  // (skip_bad): then every rank's reports go to rank 0, which prints each
  // pair once (a pair can come to several ranks' shards over the epochs).
  Tensor stats = Tensor::zeros({8}, DType::F64);
  std::set<std::string> skipped_on_any_rank;
  int stop = 0;
  while (trainer.iter() < cfg.total_iter && (options.max_iters < 0 || trainer.iter() < options.max_iters)) {
    data::TrainLoader::Batch batch = loader.next();
    if (world == 1)
      for (const std::string& w : batch.skipped)
        std::printf("warning: skip_bad: skipping %s (bad pairs so far: %lld)\n", w.c_str(),
                    static_cast<long long>(loader.skipped_count()));
    StepReport r = trainer.step(batch.lq, batch.gt);
    double* s = stats.data<double>();
    const int sig = InterruptHandler::requested();
    const double local[8] = {r.total, r.l_pix, r.l_side_pix, r.l_percep, r.l_side_percep,
                             sig == SIGINT ? 1.0 : 0.0, sig == SIGTERM ? 1.0 : 0.0,
                             static_cast<double>(batch.skipped.size())};
    std::copy(local, local + 8, s);
    comm.all_reduce_mean(stats);
    if (world > 1 && s[7] > 0) {
      std::string mine;
      for (const std::string& w : batch.skipped) mine.append(w).push_back('\0');
      const std::vector<std::string> all = all_gather_strings(comm, mine);
      for (const std::string& from : all) {
        size_t at = 0;
        for (size_t end; (end = from.find('\0', at)) != std::string::npos; at = end + 1) {
          const std::string w = from.substr(at, end - at);
          if (skipped_on_any_rank.insert(w).second && lead)
            std::printf("warning: skip_bad: skipping %s (bad pairs so far: %zu)\n", w.c_str(),
                        skipped_on_any_rank.size());
        }
      }
      if (lead) std::fflush(stdout);
    }
    r.total = s[0];
    r.l_pix = s[1];
    r.l_side_pix = s[2];
    r.l_percep = s[3];
    r.l_side_percep = s[4];
    stop = s[5] > 0 ? SIGINT : s[6] > 0 ? SIGTERM : 0;
    ++window_iters;
    const bool logged = r.iter % cfg.print_freq == 0 || r.iter == 1 || r.iter == cfg.total_iter;
    if (lead && (logged || r.iter == first_iter + 1)) {
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
      // The JSON log keeps iteration 1, the print_freq grid and the last, so
      // a resumed run's log is line for line an unbroken run's.
      if (logged) {
        const std::string line = nlohmann::json{{"iter", r.iter}, {"lr", r.lr}, {"l_total", r.total},
                                                {"l_pix", r.l_pix}, {"l_side_pix", r.l_side_pix},
                                                {"l_percep", r.l_percep}, {"l_side_percep", r.l_side_percep},
                                                {"seconds", elapsed}, {"it_per_s", its}}
                                     .dump();
        {
          FileWriteScope writing;
          train_lines->append_line(line);
        }
        if (options.on_log) options.on_log("train", line);
      }
      window_start = now;
      window_iters = 0;
    }
    if (lead && cfg.val && cfg.val_freq > 0 && r.iter % cfg.val_freq == 0) {
      Validation v;
      try {
        v = validate(trainer.model(), val_pairs, cfg.val->max_images, cfg.crop_border, [&] { comm.keep_alive(); },
                     {cfg.llie.on, cfg.llie.on ? 16 : 1});
      } catch (const Error& e) {  // the weights are good: keep them before stopping
        const std::string ckpt = saved_at == r.iter ? std::string("(saved)") : save();
        fail("validation at iteration ", r.iter, " failed: ", e.what(), "; checkpoint ", ckpt, " written first");
      }
      std::printf("validation at iter %lld: PSNR %.3f dB, SSIM %.4f over %lld images\n", static_cast<long long>(r.iter),
                  v.psnr, v.ssim, static_cast<long long>(v.images));
      if (cfg.llie.on) {  // before this validation's line is in the log: keep_best compares with the earlier ones
        comm.keep_alive();
        FileWriteScope writing;
        keep_best(trainer.model(), cfg, val_log, r.iter, v.psnr, v.ssim);
      }
      const std::string line =
          nlohmann::json{{"iter", r.iter}, {"psnr", v.psnr}, {"ssim", v.ssim}, {"images", v.images}}.dump();
      {
        FileWriteScope writing;
        val_lines->append_line(line);
      }
      if (options.on_log) options.on_log("val", line);
    }
    if (lead && cfg.save_checkpoint_freq > 0 && r.iter % cfg.save_checkpoint_freq == 0 && r.iter != cfg.total_iter)
      std::printf("saved checkpoint %s\n", save().c_str());
    if (stop && r.iter != cfg.total_iter) break;
  }

  if (stop && trainer.iter() < cfg.total_iter) {
    if (lead) {
      std::string ckpt = (root / "checkpoints").string();
      char name[64];
      std::snprintf(name, sizeof name, "/ckpt_%08lld.safetensors", static_cast<long long>(trainer.iter()));
      ckpt = saved_at == trainer.iter() ? ckpt + name : save();
      std::printf("interrupted (%s) after iteration %lld: checkpoint %s\nresume with: %s\n",
                  stop == SIGINT ? "SIGINT" : "SIGTERM", static_cast<long long>(trainer.iter()), ckpt.c_str(),
                  resume_command(options, ckpt, world).c_str());
      std::fflush(stdout);
    }
    comm.barrier();  // no rank leaves (and makes the launcher end the others) before the checkpoint is written
    return exit_code_for_signal(stop);
  }
  if (lead) {
    std::printf("final checkpoint %s\n", save().c_str());
    const std::string curves = (root / "curves.svg").string();
    write_curves_svg(curves, cfg.name, read_series(train_log, "l_total", "training loss"),
                     read_series(val_log, "psnr", "validation PSNR (dB)"));
    std::printf("wrote %s\n", curves.c_str());
  }
  return 0;
}
}  // namespace

data::LoaderOptions loader_options(const TrainConfig& cfg, int shard, int shards) {
  data::LoaderOptions lo;
  lo.batch = cfg.train.batch_size;
  lo.shuffle = cfg.train.use_shuffle;
  lo.seed = cfg.manual_seed;
  lo.workers = cfg.train.workers;
  lo.prefetch = cfg.train.prefetch;
  lo.augment = {cfg.train.crop_size, cfg.train.use_flip, cfg.train.use_rot};
  lo.skip_bad = cfg.train.skip_bad;
  lo.shard = shard;
  lo.shards = shards;
  lo.keep_last = lo.augment.llie = cfg.llie.on;  // train/config_llie.h
  return lo;
}

Launcher parse_launcher(const std::string& name) {
  if (name == "none") return Launcher::None;
  if (name == "mpi") {
    require_mpi();  // a build without MPI says so here, before anything else is read
    return Launcher::Mpi;
  }
  fail("--launcher must be none or mpi, got '", name, "'");
}

int run_training(const TrainConfig& cfg, const RunOptions& options) {
  std::unique_ptr<Communicator> comm;
  try {
    // Set-up is inside the try: once MPI has started, an error on any rank
    // (here a GPU check or NCCL's set-up) must end all ranks.
    comm = options.launcher == Launcher::Mpi ? make_mpi(cfg.device) : make_single_process();
    // Gone in the catch: SIGTERM from the launcher ends us there.
    InterruptHandler interrupts(comm->rank() == 0, options.launcher == Launcher::Mpi);
    return train(cfg, options, *comm);
  } catch (const std::exception& e) {
    int rank = 0, world = 1;
    if (comm) {
      rank = comm->rank();
      world = comm->world_size();
    } else if (!mpi_started(&rank, &world)) {
      throw;
    }
    if (world == 1) throw;
    // The other ranks wait in a collective for this one: end them all. An
    // error every rank meets (a bad config, a missing folder) is printed by
    // rank 0 alone: the others give its abort a moment to end them first.
    if (rank != 0) std::this_thread::sleep_for(std::chrono::seconds(1));
    std::fprintf(stderr, "liednet train: error: rank %d of %d: %s\n", rank, world, e.what());
    if (comm) comm->abort(1);
    mpi_abort_all(1);
  }
}

}  // namespace liednet::train
