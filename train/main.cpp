// The liednet command line. Every error is printed on one line and exits non-zero.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "tensor/cuda.h"
#include "tensor/error.h"
#include "tensor/parallel.h"

namespace {

void usage() {
  std::puts(
      "usage: liednet <command> [options]\n"
      "commands:\n"
      "  info      build configuration and the machine's compute resources\n");
}

int cmd_info(const std::vector<std::string>&) {
  std::printf("liednet %s\n", LIEDNET_VERSION);
  std::printf("cpu threads: %d (LIEDNET_THREADS or OMP_NUM_THREADS to change)\n", liednet::num_threads());
  std::printf("eigen: %d.%d.%d, SIMD: %s\n", EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION,
              Eigen::SimdInstructionSetsInUse());
  const int gpus = liednet::cuda_device_count();
  std::printf("cuda backend: %s, devices: %d\n", liednet::cuda_built() ? "built" : "not built", gpus);
  for (int i = 0; i < gpus; ++i) std::printf("  cuda:%d %s\n", i, liednet::cuda_device_name(i).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help") {
    usage();
    return args.empty() ? 2 : 0;
  }
  try {
    liednet::init_threads_from_env();
    const std::string cmd = args[0];
    std::vector<std::string> rest(args.begin() + 1, args.end());
    if (cmd == "info") return cmd_info(rest);
    std::fprintf(stderr, "liednet: unknown command '%s' (try liednet --help)\n", cmd.c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "liednet: error: %s\n", e.what());
    return 1;
  }
}
