// liednet train --config FILE.yml [--resume CKPT [--resume-anyway]] [--launcher none|mpi] [--device cpu|cuda] [--tf32] [--max-iters N]
#include "cli/args.h"
#include "cli/commands.h"
#include "train/config.h"
#include "train/run.h"

namespace liednet::cli {

int cmd_train(const std::vector<std::string>& argv) {
  Args args("train", argv, {"--config", "--resume", "--device", "--launcher", "--max-iters"}, {"--tf32", "--resume-anyway", "--profile"});
  profile_option(args);
  const Device device = device_option(args, "train");
  // The launcher before the config: a build without MPI says so whatever the config holds.
  const train::Launcher launcher = train::parse_launcher(args.get_or("--launcher", "none"));
  train::TrainConfig cfg = train::load_train_config(args.get("--config"));
  cfg.device = device;
  train::RunOptions options;
  options.resume = args.get_or("--resume", "");
  options.resume_anyway = args.flag("--resume-anyway");
  options.launcher = launcher;
  options.arguments = argv;
  options.max_iters = args.get_int("--max-iters", -1);
  LIEDNET_CHECK(options.max_iters >= -1, "liednet train: --max-iters must be 0 or more, got ", options.max_iters);
  return train::run_training(cfg, options);
}

}  // namespace liednet::cli
