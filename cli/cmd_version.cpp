// liednet version: build configuration and compute resources.
#include <cstdio>

#include <Eigen/Core>

#include "cli/args.h"
#include "cli/commands.h"
#include "tensor/cuda.h"
#include "tensor/parallel.h"
#include "train/comm.h"

namespace liednet::cli {

int cmd_version(const std::vector<std::string>& argv) {
  Args args("version", argv, {}, {});  // no options: any is an error
  std::printf("liednet %s\n", LIEDNET_VERSION);
  std::printf("cpu threads: %d\n", liednet::num_threads());
  std::printf("eigen: %d.%d.%d, SIMD: %s\n", EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION,
              Eigen::SimdInstructionSetsInUse());
  const int gpus = liednet::cuda_device_count();
  std::printf("cuda backend: %s, devices: %d\n", liednet::cuda_built() ? "built" : "not built", gpus);
  for (int i = 0; i < gpus; ++i) std::printf("  cuda:%d %s\n", i, liednet::cuda_device_name(i).c_str());
  // Data-parallel training (--launcher mpi): MPI, and NCCL for CUDA gradients.
  std::printf("mpi: %s\n", liednet::train::mpi_built() ? liednet::train::mpi_version().c_str() : "not built");
  std::printf("nccl: %s\n", liednet::train::nccl_built() ? liednet::train::nccl_version().c_str() : "not built");
  return 0;
}

}  // namespace liednet::cli
