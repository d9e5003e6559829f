// The training loader: endless batches of augmented pairs, decoded ahead of
// time by background threads and delivered strictly in order.
//
// Every random choice is a pure function of (seed, epoch, position): epoch e's
// order is a permutation drawn from Generator(epoch_seed(seed, e)); the sample
// at position p of epoch e is augmented with Generator(sample_seed(seed, e, p)).
// So the batch sequence does not depend on the number of workers or on
// timing, and restore(state()) on a fresh loader continues bit-identically.
//
// Sharding (data-parallel training): with `shards` = K loaders, loader
// `shard` = r delivers, of each global batch of K * batch consecutive positions
// of the epoch's order, positions r, r + K, r + 2K, ... So K shards of batch B
// together see exactly the samples (and augmentations) one loader of batch
// K * B sees, and batches_per_epoch is pairs / (K * B) for every shard.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "data/augment.h"
#include "data/dataset.h"

namespace liednet::data {

struct LoaderOptions {
  int64_t batch = 8;
  bool shuffle = true;
  uint64_t seed = 10;
  int workers = 2;   // decoding threads; 0 decodes in next() itself
  int prefetch = 4;  // batches decoded ahead of the one next() delivers
  AugmentOptions augment;
  // A pair that fails to load (unreadable, corrupt or truncated file, sizes
  // that differ, smaller than the crop) is replaced by the next pair in the
  // epoch's order that loads, augmented as the bad one would have been; the
  // batches stay a function of the seed and the position (and of which files
  // are bad). Off: the first bad pair is an error.
  bool skip_bad = false;
  int shard = 0, shards = 1;  // this loader's share of each global batch (see above)
  // The epoch's last incomplete global batch is delivered too (upstream's
  // drop_last=False in the low-light recipe), smaller: each shard gets the
  // positions of it that fall to it. With several shards it is kept only when
  // every shard gets at least one sample (a remainder of at least `shards`).
  bool keep_last = false;
};

// The seeds, exposed for tests and for anyone who wants to reproduce a sample.
uint64_t epoch_seed(uint64_t seed, int64_t epoch);
uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t position);
// Epoch `epoch`'s order of n pairs: identity without shuffle, else a
// Fisher-Yates permutation drawn from Generator(epoch_seed(seed, epoch)).
std::vector<int64_t> epoch_order(int64_t n, bool shuffle, uint64_t seed, int64_t epoch);

// Batches per epoch of `pairs` pairs under `opt` (batch, shards, keep_last), as TrainLoader counts them.
int64_t batches_per_epoch(int64_t pairs, const LoaderOptions& opt);

struct Skip;  // a bad pair passed over under skip_bad (loader.cpp)

namespace detail {
// Test hook: the next n steps of the loader's workers fail outside a sample's
// load (where an allocation could), as std::bad_alloc.
void loader_fail_worker_steps(int n);
}  // namespace detail

class TrainLoader {
 public:
  TrainLoader(std::vector<Pair> pairs, LoaderOptions opt);
  ~TrainLoader();  // stops and joins the workers (also after an error)
  TrainLoader(const TrainLoader&) = delete;
  TrainLoader& operator=(const TrainLoader&) = delete;

  struct Batch {
    Tensor lq, gt;  // (B, 3, h, w) f32 in [-1, 1]
    std::vector<std::string> names;
    // With skip_bad: why each pair replaced in this batch failed, for pairs
    // met for the first time (in delivery order) since construction or restore.
    std::vector<std::string> skipped;
  };
  // The next batch; endless (epochs follow each other). A sample that failed
  // to load (unreadable file, size mismatch, smaller than the crop, or with
  // crop 0 a size different from the batch's first image) is a liednet::Error
  // naming the file, thrown here, and again on every later call; with
  // skip_bad only the last case is (and every pair failing).
  Batch next();

  // With skip_bad: how many different pairs were skipped in the batches
  // delivered so far (since construction or restore).
  int64_t skipped_count() const;

  struct State {
    int64_t epoch = 0, cursor = 0;  // the next batch to deliver: (global) batch `cursor` of epoch `epoch`
  };
  State state() const;
  void restore(const State& s);  // continue exactly from there (drops batches decoded ahead)

  // pairs / (batch * shards); the last incomplete batch is dropped unless keep_last.
  int64_t batches_per_epoch() const;
  int64_t batch_size(int64_t b) const;  // samples of (global) batch b this loader delivers
  int64_t size() const { return static_cast<int64_t>(pairs_.size()); }
  const LoaderOptions& options() const { return opt_; }

 private:
  struct Slot;  // one batch being assembled or ready
  void worker_loop();
  void worker_steps();  // worker_loop's body; worker_loop carries what it throws to next()
  // Decodes sample k of global batch b into its slot; the last sample in stacks the batch.
  void load_sample(int64_t b, int64_t k, const std::shared_ptr<Slot>& slot);
  std::shared_ptr<const std::vector<int64_t>> order_for(int64_t epoch);  // under mu_
  void assemble(int64_t b, Slot& slot);
  int64_t position(int64_t b, int64_t k) const;  // of sample k of batch b in its epoch's order
  Batch build_inline(int64_t b, std::vector<Skip>& skips);
  void report_skips(const std::vector<Skip>& skips, Batch& batch);  // under mu_

  const std::vector<Pair> pairs_;
  const LoaderOptions opt_;
  const int64_t per_epoch_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_, ready_cv_;
  bool stop_ = false;
  std::string worker_failure_;  // an error outside a sample's load (an allocation): next() throws it
  int64_t deliver_ = 0;      // global index (epoch * per_epoch + cursor) of the next batch next() returns
  int64_t next_sample_ = 0;  // global sample index (batch * B + k) the next idle worker takes
  uint64_t generation_ = 0;  // bumped by restore: work from an older generation is dropped
  std::map<int64_t, std::shared_ptr<Slot>> slots_;
  std::map<int64_t, std::shared_ptr<const std::vector<int64_t>>> orders_;
  std::set<int64_t> skipped_;  // pairs (indices) reported in a delivered batch's `skipped`
  std::vector<std::thread> threads_;
};

}  // namespace liednet::data
