// liednet train --config FILE.yml [--resume CKPT] [--device cpu|cuda] [--tf32]
#include "cli/args.h"
#include "cli/commands.h"
#include "train/config.h"
#include "train/run.h"

namespace liednet::cli {

int cmd_train(const std::vector<std::string>& argv) {
  Args args("train", argv, {"--config", "--resume", "--device"}, {"--tf32", "--profile"});
  profile_option(args);
  const Device device = device_option(args, "train");
  train::TrainConfig cfg = train::load_train_config(args.get("--config"));
  cfg.device = device;
  train::RunOptions options;
  options.resume = args.get_or("--resume", "");
  return train::run_training(cfg, options);
}

}  // namespace liednet::cli
