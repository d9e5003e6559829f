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
#include "parity.h"
#include "tensor/cuda.h"
#include "train/comm.h"
#include "train/trainer.h"
#include "train_configs.h"

using namespace liednet;
namespace fs = std::filesystem;

namespace {

// The world size the launcher announced (Open MPI, or PMI under Slurm); 0 outside a launcher.
int launched_ranks() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
    if (const char* s = std::getenv(v)) return std::atoi(s);
  return 0;
}
const bool kNotTwoRanks = !train::mpi_built() || launched_ranks() != 2;
const bool kNoNcclOneGpu = !train::nccl_built() || launched_ranks() != 1 || cuda_device_count() < 1;
const bool kNoNcclTwoGpus = !train::nccl_built() || launched_ranks() != 2 || cuda_device_count() < 2;

using testing::rel_l2;
const auto tiny_config = testing::tiny_train_config;


// 9 random 16x16 pairs in this process's own folder (both ranks make the same ones).
struct Pairs {
  fs::path dir;
  std::vector<data::Pair> pairs;
  Pairs() {
    dir = fs::temp_directory_path() / ("liednet_dist_test_" + std::to_string(getpid()));
    Generator gen(7);
    for (int i = 0; i < 9; ++i) {
      const std::string name = std::string("p").append(std::to_string(i)).append(".png");  // GCC 12: no false -Wrestrict
      for (const char* side : {"lq", "gt"}) {
        fs::create_directories(dir / side);
        data::write_png((dir / side / name).string(), Tensor::uniform({3, 16, 16}, 0.0, 1.0, gen));
      }
    }
    pairs = data::pair_folders({(dir / "lq").string(), (dir / "gt").string()});
  }
  ~Pairs() { fs::remove_all(dir); }
};

// Shuffled, no augmentation (whole 16x16 images): batch `batch` of shard `shard` of `shards`.
data::LoaderOptions loader_options(int64_t batch, int shard, int shards) {
  data::LoaderOptions o;
  o.batch = batch;
  o.seed = 5;
  o.workers = 0;
  o.augment = {};
  o.shard = shard;
  o.shards = shards;
  return o;
}

std::vector<Tensor> weights(train::Trainer& t) {
  std::vector<Tensor> out;
  for (auto& [k, p] : t.model().named_parameters()) out.push_back(p.clone());
  return out;
}

bool same_bits(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].to_vector() != b[i].to_vector()) return false;
  return true;
}

// Rank 0's copy of `mine` on every rank, to compare the ranks bit for bit.
std::vector<Tensor> from_rank0(train::Communicator& comm, const std::vector<Tensor>& mine) {
  std::vector<Tensor> out;
  for (const Tensor& t : mine) {
    Tensor c = t.clone();
    comm.broadcast(c, 0);
    out.push_back(c);
  }
  return out;
}

// Global-mean loss terms of a step, as run_training logs them.
double global_total(train::Communicator& comm, const train::StepReport& r) {
  Tensor s = Tensor::from_vector({1}, {r.total}, DType::F64);
  comm.all_reduce_mean(s);
  return s.at({0});
}

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
