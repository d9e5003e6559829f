// The liednet command line. Every error is printed on one line and exits non-zero.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "tensor/error.h"
#include "tensor/parallel.h"

namespace {

const char* kUsage =
    "usage: liednet <command> [options]\n"
    "commands:\n"
    "  info     [--preset liednet|liednet-l] [--size H W]   modules, parameters and FLOPs\n"
    "  init     --output W.safetensors [--preset P] [--seed S]   fresh weights (upstream's initialisation)\n"
    "  forward  --weights W --input X.safetensors --output Y.safetensors [--preset P] [--side] [--dump DIR]\n"
    "           [--device cpu|cuda [--tf32]]\n"
    "  convert  IN.pth OUT.safetensors [--key params|params_ema|...]   PyTorch checkpoint to safetensors\n"
    "  train    --config FILE.yml [--resume CKPT [--resume-anyway]] [--launcher none|mpi] [--device cpu|cuda [--tf32]]\n"
    "           train with upstream's YAML keys (mpirun -np K ... --launcher mpi: data parallel on K ranks)\n"
    "  enhance  --weights W --input IN (file or folder) --output OUT [--tile 1024 --overlap 64] [--compare]\n"
    "           [--gt DIR] [--preset P] [--device cpu|cuda [--tf32]]   restore images (PNG out; large ones in tiles)\n"
    "  explain  --weights W --input IN (file or folder) --output DIR [--size H W] [--max-images N]\n"
    "           [--without-ss2d] [--scan-blocks B,...] [--batch B] [--preset P] [--device cpu|cuda [--tf32]]\n"
    "           effective receptive fields, scan directions, LFM weights, feature maps: DIR/index.html\n"
    "  synth    --input CLEAN_DIR --output OUT_DIR [--count N] [--seed S] [--config F.yml] [--size S | --size H W]\n"
    "           synthetic dark, shaken, noisy pairs (low_blur_noise/, high_sharp_scaled/)\n"
    "  eval     --pred DIR --gt DIR [--convention basicsr|paper|paper-bgr|both] [--output FILE.csv]\n"
    "           [--crop-border N] [--skip-unpaired]   PSNR and SSIM per image (paired by relative path) and mean\n"
    "  version  build configuration and compute resources\n"
    "LIEDNET_THREADS (or OMP_NUM_THREADS) sets the number of CPU threads.\n"
    "train, enhance and forward take --profile (or set LIEDNET_PROFILE=1): a table of every op's time at exit,\n"
    "also written as CSV to $LIEDNET_PROFILE_CSV (default ./liednet_profile.csv).\n";

// The usage's lines for one command: its line and the indented ones after it.
std::string command_usage(const std::string& command) {
  std::string out = "usage: liednet ", line;
  bool in = false;
  for (const char* p = kUsage; *p; ++p) {
    if (*p != '\n') {
      line += *p;
      continue;
    }
    if (line.rfind("  " + command + " ", 0) == 0) in = true;
    else if (line.rfind("   ", 0) != 0) in = false;
    if (in) out += (out.size() == 15 ? line.substr(2) : line) + "\n";
    line.clear();
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  const std::map<std::string, std::function<int(const std::vector<std::string>&)>> commands = {
      {"info", liednet::cli::cmd_info},       {"init", liednet::cli::cmd_init},
      {"forward", liednet::cli::cmd_forward}, {"convert", liednet::cli::cmd_convert},
      {"train", liednet::cli::cmd_train},     {"synth", liednet::cli::cmd_synth},
      {"eval", liednet::cli::cmd_eval},       {"enhance", liednet::cli::cmd_enhance},
      {"explain", liednet::cli::cmd_explain}, {"version", liednet::cli::cmd_version},
  };
  auto it = commands.find(args[0]);
  if (it == commands.end()) {
    std::fprintf(stderr, "liednet: unknown command '%s' (try liednet --help)\n", args[0].c_str());
    return 2;
  }
  // liednet <command> --help (or -h): that command's lines of the usage.
  if (std::find(args.begin() + 1, args.end(), "--help") != args.end() ||
      std::find(args.begin() + 1, args.end(), "-h") != args.end()) {
    std::fputs(command_usage(args[0]).c_str(), stdout);
    return 0;
  }
  try {
    liednet::init_threads_from_env();
    return it->second(std::vector<std::string>(args.begin() + 1, args.end()));
  } catch (const std::exception& e) {
    // Messages that already name the command ("liednet enhance: unknown option ...") keep one prefix.
    std::string message = e.what();
    const std::string prefix = "liednet " + args[0] + ": ";
    if (message.rfind(prefix, 0) == 0) message.erase(0, prefix.size());
    std::fprintf(stderr, "%serror: %s\n", prefix.c_str(), message.c_str());
    return 1;
  }
}
