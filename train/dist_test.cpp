// Data-parallel training on 2 ranks (the `dist` suite; ctest runs it as
// `mpirun -np 2 liednet_tests --test-suite=dist`, and once more on 1 rank for
// the NCCL-equals-one-process case). Every rank runs every case; the cases
// are skipped when the process was not started by an MPI launcher with the
// world size they need, or this build has no MPI.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include "data/image.h"
#include "data/loader.h"
#include "dist_util.h"
#include "parity.h"
#include "tensor/cuda.h"
#include "train/comm.h"
#include "train/trainer.h"
#include "train_configs.h"

using namespace liednet;
namespace fs = std::filesystem;

namespace {

using testing::Pairs;
using testing::from_rank0;
using testing::global_total;
using testing::launched_ranks;
using testing::loader_options;
using testing::rel_l2;
using testing::same_bits;
using testing::weights;
const auto tiny_config = testing::tiny_train_config;
const bool kNotTwoRanks = !train::mpi_built() || launched_ranks() != 2;

// 2 ranks x batch 1 against 1 process x batch 2 (each rank runs the latter
// itself), `steps` steps from the same weights.
void compare_with_one_process(DType dtype, double loss_tol, double weight_tol) {
  auto comm = train::make_mpi(Device::CPU);
  Pairs d;
  data::TrainLoader whole(d.pairs, loader_options(2, 0, 1));
  data::TrainLoader part(d.pairs, loader_options(1, comm->rank(), 2));
  train::Trainer single(tiny_config(dtype));
  train::Trainer ranked(tiny_config(dtype), comm.get());
  ranked.broadcast_state(0);
  double worst_loss = 0;
  for (int i = 0; i < 5; ++i) {  // crosses an epoch boundary (4 global batches per epoch)
    const auto a = whole.next(), b = part.next();
    const double ref = single.step(a.lq.to(dtype), a.gt.to(dtype)).total;
    const double ours = global_total(*comm, ranked.step(b.lq.to(dtype), b.gt.to(dtype)));
    worst_loss = std::max(worst_loss, std::abs(ours - ref) / std::abs(ref));
  }
  double worst_weight = 0;
  const std::vector<Tensor> w1 = weights(single), w2 = weights(ranked);
  for (size_t i = 0; i < w1.size(); ++i) worst_weight = std::max(worst_weight, rel_l2(w2[i], w1[i]));
  if (comm->rank() == 0)
    std::printf("[dist] %s: 2 ranks x batch 1 vs 1 process x batch 2, 5 steps: worst loss rel error %.2e, worst "
                "weight tensor rel L2 %.2e\n", dtype_name(dtype), worst_loss, worst_weight);
  CHECK(worst_loss <= loss_tol);
  CHECK(worst_weight <= weight_tol);
  CHECK(same_bits(w2, from_rank0(*comm, w2)));  // both ranks hold the same weights
}

}  // namespace

TEST_SUITE("dist") {
  TEST_CASE("all_reduce_mean: (a + b) / 2 element for element, the same bits on both ranks; broadcast" *
            doctest::skip(kNotTwoRanks)) {
    auto comm = train::make_mpi(Device::CPU);
    REQUIRE(comm->world_size() == 2);
    CHECK(comm->backend() == "mpi");
    for (DType dt : {DType::F32, DType::F64}) {
      for (int64_t n : {int64_t{1}, int64_t{2}, int64_t{1001}}) {  // odd sizes: uneven and empty chunks
        INFO(dtype_name(dt), " n = ", n);
        Generator g0(1), g1(2);
        const Tensor a = Tensor::randn({n}, g0, dt), b = Tensor::randn({n}, g1, dt);
        Tensor mine = (comm->rank() == 0 ? a : b).clone();
        comm->all_reduce_mean(mine);
        Tensor expected = Tensor::empty({n}, dt);
        LIEDNET_DISPATCH(dt, T, {
          for (int64_t i = 0; i < n; ++i)
            expected.data<T>()[i] = (a.data<T>()[i] + b.data<T>()[i]) / static_cast<T>(2);
        });
        CHECK(mine.to_vector() == expected.to_vector());
      }
    }
    Tensor t = Tensor::full({5}, comm->rank() + 1.0);
    comm->broadcast(t, 1);
    CHECK(t.to_vector() == std::vector<double>(5, 2.0));
  }

  TEST_CASE("all_gather_strings: every rank's bytes on every rank (empty, zero bytes, bytes >= 128); barrier" *
            doctest::skip(kNotTwoRanks)) {
    auto comm = train::make_mpi(Device::CPU);
    const std::string zero_and_high("a\0b\xff\x80 z", 7);
    const std::vector<std::vector<std::string>> cases = {
        {"", ""}, {"pair 3: corrupt PNG", ""}, {"", zero_and_high}, {std::string(1000, 'x'), "short"}};
    for (const std::vector<std::string>& c : cases) {
      const std::vector<std::string> all = train::all_gather_strings(*comm, c[comm->rank()]);
      CHECK(all == c);
    }
    comm->barrier();
    comm->barrier();
  }

  TEST_CASE("2 ranks x batch 1 train as 1 process x batch 2: losses within 1e-5, weights within 1e-4 (f32)" *
            doctest::skip(kNotTwoRanks)) {
    compare_with_one_process(DType::F32, 1e-5, 1e-4);
  }

  TEST_CASE("2 ranks x batch 1 train as 1 process x batch 2 in f64: within 1e-12" * doctest::skip(kNotTwoRanks)) {
    compare_with_one_process(DType::F64, 1e-12, 1e-12);
  }

  TEST_CASE("2-rank training is bit-identical run to run, and resumes exactly from rank 0's checkpoint" *
            doctest::skip(kNotTwoRanks)) {
    auto comm = train::make_mpi(Device::CPU);
    Pairs d;
    const auto run = [&](int steps, train::Trainer& t, data::TrainLoader& loader) {
      for (int i = 0; i < steps; ++i) {
        const auto b = loader.next();
        t.step(b.lq, b.gt);
      }
    };
    // Rank 1 starts from other weights: the broadcast must replace them.
    train::TrainConfig other = tiny_config(DType::F32);
    other.manual_seed = 11 + comm->rank();
    std::vector<Tensor> first, second, resumed;
    for (std::vector<Tensor>* out : {&first, &second}) {
      train::Trainer t(other, comm.get());
      t.broadcast_state(0);
      data::TrainLoader loader(d.pairs, loader_options(1, comm->rank(), 2));
      run(6, t, loader);
      *out = weights(t);
    }
    CHECK(same_bits(first, second));
    CHECK(same_bits(first, from_rank0(*comm, first)));

    // 3 steps, rank 0 writes a checkpoint, fresh trainers resume from it on both ranks.
    const std::string ckpt = (d.dir / "ckpt.safetensors").string();
    {
      train::Trainer t(other, comm.get());
      t.broadcast_state(0);
      data::TrainLoader loader(d.pairs, loader_options(1, comm->rank(), 2));
      run(3, t, loader);
      const auto s = loader.state();
      if (comm->rank() == 0) t.save_checkpoint(ckpt, {s.epoch, s.cursor, 2, {}});
      comm->barrier();
    }
    train::TrainConfig third = tiny_config(DType::F32);
    third.manual_seed = 99;
    train::Trainer t(third, comm.get());
    train::RunPosition pos;
    if (comm->rank() == 0) pos = t.load_checkpoint(ckpt);
    t.broadcast_state(0);
    Tensor where = Tensor::from_vector({2}, {static_cast<double>(pos.epoch), static_cast<double>(pos.cursor)}, DType::F64);
    comm->broadcast(where, 0);
    CHECK(t.iter() == 3);
    data::TrainLoader loader(d.pairs, loader_options(1, comm->rank(), 2));
    loader.restore({static_cast<int64_t>(where.at({0})), static_cast<int64_t>(where.at({1}))});
    run(3, t, loader);
    resumed = weights(t);
    CHECK(same_bits(resumed, first));
  }
}
