#include <doctest/doctest.h>

#include <atomic>
#include <string>

#include "tensor/error.h"
#include "tensor/parallel.h"

using namespace liednet;

TEST_SUITE("tensor") {
  TEST_CASE("an exception thrown on a worker thread is rethrown on the caller, and the loop stops early") {
    const int saved = num_threads();
    set_num_threads(2);
    for (int run = 0; run < 2; ++run) {
      std::atomic<int> done{0};
      std::string what;
      try {
        if (run == 0)
          parallel_for(0, 1000, 1, [&](int64_t i) {
            if (omp_get_thread_num() == 1) fail("worker ", i, " failed");
            ++done;
          });
        else
          parallel_chunks(1000, 1, [&](int64_t lo, int64_t) {
            if (omp_get_thread_num() == 1) fail("worker chunk ", lo, " failed");
            ++done;
          });
      } catch (const Error& e) {
        what = e.what();
      }
      INFO("run ", run);
      // Static schedule: thread 1 owns the second half, so its first item threw.
      CHECK(what == (run == 0 ? "worker 500 failed" : "worker chunk 500 failed"));
      CHECK(done.load() <= 500);
    }
    // Not a liednet::Error: carried as it is.
    CHECK_THROWS_AS(parallel_for(0, 10, 1, [](int64_t i) {
                      if (i == 9) throw std::bad_alloc();
                    }),
                    std::bad_alloc);
    set_num_threads(saved);
  }
}
