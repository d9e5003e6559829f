// Helpers of the data-parallel tests (train/dist_test.cpp, train/cuda_dist_test.cpp):
// the launcher's world size, a small shared data set, loader options, weights.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include "data/image.h"
#include "data/loader.h"
#include "train/comm.h"
#include "train/trainer.h"

namespace liednet::testing {

namespace fs = std::filesystem;

// The world size the launcher announced (Open MPI, or PMI under Slurm); 0 outside a launcher.
inline int launched_ranks() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
    if (const char* s = std::getenv(v)) return std::atoi(s);
  return 0;
}


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
inline data::LoaderOptions loader_options(int64_t batch, int shard, int shards) {
  data::LoaderOptions o;
  o.batch = batch;
  o.seed = 5;
  o.workers = 0;
  o.augment = {};
  o.shard = shard;
  o.shards = shards;
  return o;
}

inline std::vector<Tensor> weights(train::Trainer& t) {
  std::vector<Tensor> out;
  for (auto& [k, p] : t.model().named_parameters()) out.push_back(p.clone());
  return out;
}

inline bool same_bits(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].to_vector() != b[i].to_vector()) return false;
  return true;
}

// Rank 0's copy of `mine` on every rank, to compare the ranks bit for bit.
inline std::vector<Tensor> from_rank0(train::Communicator& comm, const std::vector<Tensor>& mine) {
  std::vector<Tensor> out;
  for (const Tensor& t : mine) {
    Tensor c = t.clone();
    comm.broadcast(c, 0);
    out.push_back(c);
  }
  return out;
}

// Global-mean loss terms of a step, as run_training logs them.
inline double global_total(train::Communicator& comm, const train::StepReport& r) {
  Tensor s = Tensor::from_vector({1}, {r.total}, DType::F64);
  comm.all_reduce_mean(s);
  return s.at({0});
}

}  // namespace liednet::testing
