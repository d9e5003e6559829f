// Data-parallel training with NCCL on GPUs (the `dist` suite, like train/dist_test.cpp):
// run under an MPI launcher, `mpirun -np 1` on one GPU or `-np 2` on two; skipped
// otherwise, and in builds without NCCL.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "dist_util.h"
#include "parity.h"
#include "tensor/cuda.h"
#include "train_configs.h"

using namespace liednet;
using testing::Pairs;
using testing::global_total;
using testing::launched_ranks;
using testing::loader_options;
using testing::rel_l2;
using testing::same_bits;
using testing::weights;

namespace {
const auto tiny_config = testing::tiny_train_config;
const bool kNoNcclOneGpu = !train::nccl_built() || launched_ranks() != 1 || cuda_device_count() < 1;
const bool kNoNcclTwoGpus = !train::nccl_built() || launched_ranks() != 2 || cuda_device_count() < 2;
}  // namespace

TEST_SUITE("dist") {
  TEST_CASE("NCCL: 1 rank on one GPU trains exactly as one process" * doctest::skip(kNoNcclOneGpu)) {
    auto comm = train::make_mpi(Device::CUDA);
    CHECK(comm->backend() == "mpi+nccl");
    Pairs d;
    train::TrainConfig c = tiny_config(DType::F32);
    c.device = Device::CUDA;
    train::Trainer single(c), ranked(c, comm.get());
    data::TrainLoader loader(d.pairs, loader_options(2, 0, 1));
    for (int i = 0; i < 3; ++i) {
      const auto b = loader.next();
      single.step(b.lq, b.gt);
      ranked.step(b.lq, b.gt);
    }
    CHECK(same_bits(weights(single), weights(ranked)));
  }

  TEST_CASE("NCCL: 2 ranks on two GPUs: the fixed-order mean, and 2 x batch 1 as 1 x batch 2" *
            doctest::skip(kNoNcclTwoGpus)) {
    auto comm = train::make_mpi(Device::CUDA);
    Generator g0(1), g1(2);
    const Tensor a = Tensor::randn({1001}, g0), b = Tensor::randn({1001}, g1);
    Tensor mine = (comm->rank() == 0 ? a : b).to(Device::CUDA);
    comm->all_reduce_mean(mine);
    std::vector<double> expected(1001);
    for (int64_t i = 0; i < 1001; ++i) expected[i] = (a.data<float>()[i] + b.data<float>()[i]) / 2.0f;
    CHECK(mine.to(Device::CPU).to_vector() == expected);

    Pairs d;
    train::TrainConfig c = tiny_config(DType::F32);
    c.device = Device::CUDA;
    train::Trainer single(c), ranked(c, comm.get());
    ranked.broadcast_state(0);
    data::TrainLoader whole(d.pairs, loader_options(2, 0, 1));
    data::TrainLoader part(d.pairs, loader_options(1, comm->rank(), 2));
    double worst_loss = 0;
    for (int i = 0; i < 5; ++i) {
      const auto x = whole.next(), y = part.next();
      const double ref = single.step(x.lq, x.gt).total;
      const double ours = global_total(*comm, ranked.step(y.lq, y.gt));
      worst_loss = std::max(worst_loss, std::abs(ours - ref) / std::abs(ref));
    }
    CHECK(worst_loss <= 1e-5);
    const std::vector<Tensor> w1 = weights(single), w2 = weights(ranked);
    for (size_t i = 0; i < w1.size(); ++i) CHECK(rel_l2(w2[i], w1[i]) <= 1e-4);
  }
}
