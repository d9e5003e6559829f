// Threads: OpenMP over the outermost independent loop. LIEDNET_THREADS (or
// OMP_NUM_THREADS) sets the count. Nested calls run serially.
#pragma once

#include <cstdint>

#include <omp.h>

namespace liednet {

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
#pragma omp parallel for schedule(static)
  for (int64_t i = begin; i < end; ++i) f(i);
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
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) f(n * c / chunks, n * (c + 1) / chunks);
}

}  // namespace liednet
