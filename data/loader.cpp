#include "data/loader.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <new>
#include <system_error>

#include "tensor/error.h"

namespace liednet::data {

namespace {

// splitmix64's output function: a bijection that spreads every input bit.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Distinct tags keep the permutation's and the augmentations' streams apart.
constexpr uint64_t kOrderTag = 0x6f72646572000000ULL;    // "order"
constexpr uint64_t kAugmentTag = 0x6175676d656e7400ULL;  // "augment"

}  // namespace

uint64_t epoch_seed(uint64_t seed, int64_t epoch) { return mix(mix(seed ^ kOrderTag) + static_cast<uint64_t>(epoch)); }

uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t position) {
  return mix(mix(mix(seed ^ kAugmentTag) + static_cast<uint64_t>(epoch)) + static_cast<uint64_t>(position));
}

std::vector<int64_t> epoch_order(int64_t n, bool shuffle, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  if (!shuffle) return order;
  Generator rng(epoch_seed(seed, epoch));
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng.below(static_cast<uint64_t>(i + 1))]);
  return order;
}

// A bad pair replaced under skip_bad: its index and why it failed.
struct Skip {
  int64_t pair;
  std::string reason;
};

struct TrainLoader::Slot {
  std::vector<Sample> samples;          // B, filled by the workers in any order
  std::vector<std::string> errors;      // per sample, empty when it loaded
  std::vector<std::vector<Skip>> skips;  // per sample, the bad pairs passed over
  int64_t filled = 0;
  bool ready = false;  // batch or error below is final
  Batch batch;
  std::vector<Skip> batch_skips;  // every sample's, in sample order
  std::string error;
};

TrainLoader::TrainLoader(std::vector<Pair> pairs, LoaderOptions opt)
    : pairs_(std::move(pairs)),
      opt_(std::move(opt)),
      per_epoch_(data::batches_per_epoch(size(), opt_)) {
  LIEDNET_CHECK(opt_.batch > 0, "TrainLoader: the batch size must be positive, got ", opt_.batch);
  LIEDNET_CHECK(opt_.shards >= 1 && opt_.shard >= 0 && opt_.shard < opt_.shards, "TrainLoader: shard ", opt_.shard,
                " of ", opt_.shards, " does not exist");
  LIEDNET_CHECK(opt_.workers >= 0, "TrainLoader: workers must be 0 or more, got ", opt_.workers);
  LIEDNET_CHECK(opt_.prefetch >= 1, "TrainLoader: prefetch must be at least 1, got ", opt_.prefetch);
  LIEDNET_CHECK(opt_.augment.crop >= 0, "TrainLoader: the crop size must be 0 (whole images) or positive, got ",
                opt_.augment.crop);
  LIEDNET_CHECK(per_epoch_ > 0, "TrainLoader: ", size(), " pairs do not make one batch of ", opt_.batch,
                opt_.shards > 1 ? " per rank on " + std::to_string(opt_.shards) + " ranks" : std::string());
  for (int i = 0; i < opt_.workers; ++i) {
    try {
      threads_.emplace_back([this] { worker_loop(); });
    } catch (const std::system_error& e) {  // the system refused a thread: stop the ones started, then say so
      const size_t started = threads_.size();
      {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
      }
      work_cv_.notify_all();
      for (std::thread& t : threads_) t.join();
      threads_.clear();
      fail("TrainLoader: cannot start loader thread ", started + 1, " of ", opt_.workers, " (", e.what(),
           "); ask for fewer workers (num_worker_per_gpu)");
    }
  }
}

TrainLoader::~TrainLoader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

int64_t TrainLoader::batches_per_epoch() const { return per_epoch_; }

int64_t TrainLoader::position(int64_t b, int64_t k) const {
  return (b % per_epoch_) * opt_.batch * opt_.shards + opt_.shard + k * opt_.shards;
}

int64_t batches_per_epoch(int64_t pairs, const LoaderOptions& opt) {
  if (opt.batch <= 0 || opt.shards <= 0) return 0;
  const int64_t global = opt.batch * opt.shards;
  return pairs / global + (opt.keep_last && pairs % global >= opt.shards ? 1 : 0);
}

int64_t TrainLoader::batch_size(int64_t b) const {
  const int64_t first = (b % per_epoch_) * opt_.batch * opt_.shards + opt_.shard;  // position of sample 0
  const int64_t left = size() - first;
  return left <= 0 ? 0 : std::min(opt_.batch, (left + opt_.shards - 1) / opt_.shards);
}

TrainLoader::State TrainLoader::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {deliver_ / per_epoch_, deliver_ % per_epoch_};
}

void TrainLoader::restore(const State& s) {
  LIEDNET_CHECK(s.epoch >= 0 && s.cursor >= 0 && s.cursor < per_epoch_, "TrainLoader::restore: state (epoch ", s.epoch,
                ", cursor ", s.cursor, ") is outside the epoch's ", per_epoch_, " batches");
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++generation_;
    slots_.clear();
    orders_.clear();
    skipped_.clear();
    deliver_ = s.epoch * per_epoch_ + s.cursor;
    next_sample_ = deliver_ * opt_.batch;
  }
  work_cv_.notify_all();
}

std::shared_ptr<const std::vector<int64_t>> TrainLoader::order_for(int64_t epoch) {
  auto it = orders_.find(epoch);
  if (it != orders_.end()) return it->second;
  auto order = std::make_shared<const std::vector<int64_t>>(epoch_order(size(), opt_.shuffle, opt_.seed, epoch));
  orders_[epoch] = order;
  return order;
}

namespace {

// The sample at `position` of the epoch, loaded; throws what load_pair throws.
// With skip_bad, a pair that fails is recorded in `skips` and the next pair in
// the order is tried with the same generator seed.
Sample load_position(const std::vector<Pair>& pairs, const std::vector<int64_t>& order, const LoaderOptions& opt,
                     int64_t epoch, int64_t position, std::vector<Skip>& skips) {
  const int64_t n = static_cast<int64_t>(order.size());
  for (int64_t k = 0; k < n; ++k) {
    const int64_t index = order[(position + k) % n];
    const Pair& p = pairs[index];
    Generator rng(sample_seed(opt.seed, epoch, position));
    std::string reason;
    try {
      return load_pair(p, opt.augment, rng);
    } catch (const Error& e) {
      if (!opt.skip_bad) throw;
      reason = e.what();
    } catch (const std::exception& e) {
      reason = "pair " + p.name + " (" + p.lq_path + ", " + p.gt_path + "): " + e.what();
      if (!opt.skip_bad) throw Error(reason);
    }
    skips.push_back({index, reason});
  }
  fail("skip_bad: all ", n, " pairs failed to load; the first: ", skips.front().reason);
}

// Stacks the samples into (B, 3, h, w) tensors; an error naming the first file
// whose size differs from the first sample's. `position(k)`: sample k's position in `order`.
template <typename Position>
TrainLoader::Batch stack(const std::vector<Sample>& samples, const std::vector<Pair>& pairs,
                         const std::vector<int64_t>& order, const Position& position, const AugmentOptions& a) {
  const Shape& shape = samples[0].lq.shape();
  const int64_t B = static_cast<int64_t>(samples.size());
  for (int64_t k = 1; k < B; ++k) {
    if (samples[k].lq.shape() == shape) continue;
    const std::string& odd = pairs[order[position(k)]].lq_path;
    const std::string& first = pairs[order[position(0)]].lq_path;
    fail(odd, ": its sample is ", samples[k].lq.size(1), "x", samples[k].lq.size(2), " but ", first, "'s is ",
         shape[1], "x", shape[2], " (H x W) in the same batch; with crop 0 every image must have one size",
         a.rot ? " and be square (rot transposes)" : "", " (or set a crop)");
  }
  TrainLoader::Batch out;
  out.lq = Tensor::empty({B, shape[0], shape[1], shape[2]});
  out.gt = Tensor::empty({B, shape[0], shape[1], shape[2]});
  const int64_t n = shape.numel();
  for (int64_t k = 0; k < B; ++k) {
    std::memcpy(out.lq.data<float>() + k * n, samples[k].lq.data<float>(), n * sizeof(float));
    std::memcpy(out.gt.data<float>() + k * n, samples[k].gt.data<float>(), n * sizeof(float));
    out.names.push_back(samples[k].name);
  }
  return out;
}

}  // namespace

// Loader test hook: requests still to fail in the workers' bookkeeping (outside
// a sample's load), as an allocation failure would.
static std::atomic<int> g_failing_worker_steps{0};

void detail::loader_fail_worker_steps(int n) { g_failing_worker_steps.store(n); }

// An exception that leaves a thread's function ends the program: whatever the
// bookkeeping throws (a failed allocation) stops this worker and is reported by
// next() on the caller's thread, as a batch's error is.
void TrainLoader::worker_loop() {
  std::string failure;
  try {
    worker_steps();
    return;
  } catch (const std::exception& e) {
    failure = std::string("TrainLoader: a loader worker failed: ") + e.what();
  } catch (...) {
    failure = "TrainLoader: a loader worker failed with an unknown error";
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (worker_failure_.empty()) worker_failure_ = failure;
  }
  ready_cv_.notify_all();
}

void TrainLoader::worker_steps() {
  const int64_t B = opt_.batch;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [&] { return stop_ || next_sample_ / B < deliver_ + opt_.prefetch; });
    if (stop_) return;
    if (g_failing_worker_steps.load(std::memory_order_relaxed) > 0 && g_failing_worker_steps.fetch_sub(1) > 0)
      throw std::bad_alloc();
    const int64_t s = next_sample_++;
    const int64_t b = s / B, k = s % B, epoch = b / per_epoch_;
    const int64_t pos = position(b, k);
    const uint64_t generation = generation_;
    std::shared_ptr<Slot>& entry = slots_[b];
    if (!entry) {
      entry = std::make_shared<Slot>();
      entry->samples.resize(B);
      entry->errors.resize(B);
      entry->skips.resize(B);
    }
    std::shared_ptr<Slot> slot = entry;
    std::shared_ptr<const std::vector<int64_t>> order = order_for(epoch);
    lock.unlock();

    Sample sample;
    std::string error;
    std::vector<Skip> skips;
    const int64_t count = batch_size(b);  // the epoch's last batch may be smaller (keep_last)
    try {
      if (k < count) sample = load_position(pairs_, *order, opt_, epoch, pos, skips);
    } catch (const std::exception& e) {
      error = e.what();
    } catch (...) {
      error = "pair " + pairs_[(*order)[pos]].name + ": unknown error while loading";
    }

    lock.lock();
    if (generation != generation_) continue;  // restore() dropped this batch
    slot->samples[k] = std::move(sample);
    slot->errors[k] = std::move(error);
    slot->skips[k] = std::move(skips);
    if (++slot->filled < B) continue;
    // The last sample in assembles the batch; no other worker touches this slot now.
    lock.unlock();
    Batch batch;
    std::string batch_error;
    slot->samples.resize(count);  // the absent samples are the batch's last
    for (const std::string& e : slot->errors)
      if (!e.empty()) {
        batch_error = e;  // the first failing sample's, whatever the timing
        break;
      }
    if (batch_error.empty()) {
      try {
        batch = stack(slot->samples, pairs_, *order, [&](int64_t j) { return position(b, j); }, opt_.augment);
      } catch (const std::exception& e) {
        batch_error = e.what();
      }
    }
    slot->samples.clear();
    std::vector<Skip> batch_skips;
    for (std::vector<Skip>& sk : slot->skips) batch_skips.insert(batch_skips.end(), sk.begin(), sk.end());
    lock.lock();
    if (generation != generation_) continue;
    slot->batch = std::move(batch);
    slot->batch_skips = std::move(batch_skips);
    slot->error = std::move(batch_error);
    slot->ready = true;
    ready_cv_.notify_all();
  }
}

TrainLoader::Batch TrainLoader::build_inline(int64_t b, std::vector<Skip>& skips) {
  const int64_t B = opt_.batch, epoch = b / per_epoch_;
  std::shared_ptr<const std::vector<int64_t>> order = order_for(epoch);
  std::vector<Sample> samples;
  for (int64_t k = 0; k < std::min(B, batch_size(b)); ++k)
    samples.push_back(load_position(pairs_, *order, opt_, epoch, position(b, k), skips));
  return stack(samples, pairs_, *order, [&](int64_t j) { return position(b, j); }, opt_.augment);
}

void TrainLoader::report_skips(const std::vector<Skip>& skips, Batch& batch) {
  for (const Skip& s : skips)
    if (skipped_.insert(s.pair).second) batch.skipped.push_back(s.reason);
}

int64_t TrainLoader::skipped_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(skipped_.size());
}

TrainLoader::Batch TrainLoader::next() {
  std::unique_lock<std::mutex> lock(mu_);
  Batch out;
  if (opt_.workers == 0) {
    std::vector<Skip> skips;
    out = build_inline(deliver_, skips);  // throws without advancing: the same error again on the next call
    report_skips(skips, out);
  } else {
    ready_cv_.wait(lock, [&] {
      auto it = slots_.find(deliver_);
      return (it != slots_.end() && it->second->ready) || !worker_failure_.empty();
    });
    if (!worker_failure_.empty()) throw Error(worker_failure_);
    auto it = slots_.find(deliver_);
    if (!it->second->error.empty()) throw Error(it->second->error);
    out = std::move(it->second->batch);
    report_skips(it->second->batch_skips, out);
    slots_.erase(it);
  }
  ++deliver_;
  // An epoch's order is no longer needed once its last batch is out.
  orders_.erase(orders_.begin(), orders_.lower_bound(deliver_ / per_epoch_));
  lock.unlock();
  work_cv_.notify_all();
  return out;
}

}  // namespace liednet::data
