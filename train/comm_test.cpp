// The communicator's pieces that need no MPI: the chunking, the fixed-order
// mean every backend runs on its chunk, and the one-process communicator.
#include <doctest/doctest.h>

#include "train/comm.h"

using namespace liednet;

TEST_SUITE("train") {
  TEST_CASE("chunk_of: K chunks of ceil(n / K) cover [0, n) in rank order, the last ones shorter or empty") {
    for (int64_t n : {0, 1, 2, 7, 1000, 1001}) {
      for (int k : {1, 2, 3, 8}) {
        INFO("n = ", n, ", k = ", k);
        int64_t next = 0;
        for (int r = 0; r < k; ++r) {
          const train::Chunk c = train::chunk_of(n, k, r);
          CHECK(c.begin == next);
          CHECK(c.size >= 0);
          CHECK(c.size <= (n + k - 1) / k);
          next += c.size;
        }
        CHECK(next == n);
      }
    }
    CHECK(train::chunk_of(7, 3, 2).size == 1);  // 3, 3, 1
    CHECK(train::chunk_of(2, 3, 2).size == 0);  // 1, 1, 0
  }

  TEST_CASE("mean_in_rank_order sums the ranks left to right, then divides by K") {
    // Values where the order of a float sum matters: 1e8 + 1 - 1e8 is 0 in
    // float left to right, 1 in another order.
    const float parts[3][2] = {{1e8f, 3.0f}, {1.0f, 4.0f}, {-1e8f, 5.0f}};
    float out[2];
    train::mean_in_rank_order<float>(out, &parts[0][0], 2, 2, 3);
    CHECK(out[0] == ((1e8f + 1.0f) + -1e8f) / 3.0f);
    CHECK(out[0] == 0.0f);
    CHECK(out[1] == 4.0f);
    const double d[2] = {0.1, 0.2};
    double mean = 0;
    train::mean_in_rank_order<double>(&mean, d, 1, 1, 2);
    CHECK(mean == (0.1 + 0.2) / 2);
  }

  TEST_CASE("the one-process communicator: rank 0 of 1, the mean and broadcast leave the buffer as it is") {
    auto comm = train::make_single_process();
    CHECK(comm->rank() == 0);
    CHECK(comm->world_size() == 1);
    CHECK(comm->backend() == "none");
    Tensor t = Tensor::from_vector({3}, {1, 2, 3});
    comm->all_reduce_mean(t);
    comm->broadcast(t, 0);
    comm->barrier();
    CHECK(t.to_vector() == std::vector<double>{1, 2, 3});
  }
}
