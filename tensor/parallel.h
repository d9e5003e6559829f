// Threads: OpenMP over the outermost independent loop. LIEDNET_THREADS (or
// OMP_NUM_THREADS) sets the count. Nested calls run serially.
// An exception thrown by the body on any thread (an allocation that fails, a
// check) does not leave the parallel region, which would end the program: the
// first one is kept, the remaining iterations are skipped, and it is rethrown
// on the calling thread once the region ends.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>

#include <omp.h>

namespace liednet {

namespace detail {
// The first exception thrown inside a parallel region, carried out of it.
class RegionError {
 public:
  bool failed() const { return failed_.load(std::memory_order_relaxed); }
  void capture() {
#pragma omp critical(liednet_region_error)
    if (!error_) {
      error_ = std::current_exception();
      failed_.store(true, std::memory_order_relaxed);
    }
  }
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::exception_ptr error_;
  std::atomic<bool> failed_{false};
};
}  // namespace detail

int num_threads();
void set_num_threads(int n);
// Applies LIEDNET_THREADS if set; OpenMP itself honours OMP_NUM_THREADS.
void init_threads_from_env();

// f(i) for i in [begin, end), split across threads when there are more than `grain` items.
template <typename F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, F&& f) {
  if (end - begin <= grain || omp_in_parallel() || omp_get_max_threads() == 1) {
    for (int64_t i = begin; i < end; ++i) f(i);
    return;
  }
  detail::RegionError error;
#pragma omp parallel for schedule(static)
  for (int64_t i = begin; i < end; ++i) {
    if (error.failed()) continue;
    try {
      f(i);
    } catch (...) {
      error.capture();
    }
  }
  error.rethrow();
}

// f(lo, hi) over contiguous chunks of [0, n) of at least `min_chunk` items, one
// or more chunks per thread, so the body can be a vectorisable inner loop.
template <typename F>
void parallel_chunks(int64_t n, int64_t min_chunk, F&& f) {
  int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  int64_t chunks = n / (min_chunk > 0 ? min_chunk : 1);
  if (chunks > threads) chunks = threads;
  if (chunks <= 1) {
    if (n > 0) f(int64_t{0}, n);
    return;
  }
  detail::RegionError error;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    if (error.failed()) continue;
    try {
      f(n * c / chunks, n * (c + 1) / chunks);
    } catch (...) {
      error.capture();
    }
  }
  error.rethrow();
}

}  // namespace liednet
