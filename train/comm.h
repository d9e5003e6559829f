// The training loop's one view of the other processes of a data-parallel run:
// rank, world size, the mean of one flat buffer over all ranks, broadcast,
// barrier and abort. Nothing outside train/ knows about ranks.
//
// Backends:
//   - one process (`--launcher none`): every call is a no-op;
//   - MPI (`--launcher mpi`, Open MPI): host memory; a CUDA buffer without
//     NCCL is staged through host memory;
//   - NCCL: CUDA buffers, bootstrapped through MPI (rank 0 makes the unique id
//     and MPI broadcasts it); host buffers still go through MPI.
//
// all_reduce_mean sums in a fixed order on every backend, so results are
// bit-identical on every rank and from run to run: the buffer is cut into one
// chunk per rank, an all-to-all sends chunk j of every rank to rank j, rank j
// adds the K copies in rank order 0, 1, ..., K-1 and divides by K, and an
// all-gather hands the chunks back (pure data movement, no reduction inside
// the library). That moves 2 (K - 1) / K of the buffer per rank per call, as a
// ring all-reduce does.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace liednet::train {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual int local_rank() const = 0;  // among the ranks on this machine (GPU choice, thread share)
  virtual int local_size() const = 0;
  virtual std::string backend() const = 0;  // "none", "mpi", "mpi+nccl"

  // In place: every element becomes its mean over the ranks (f32 or f64,
  // contiguous, on the CPU or on CUDA), the same bits on every rank.
  virtual void all_reduce_mean(Tensor& flat) = 0;
  // In place: rank `root`'s contents on every rank.
  virtual void broadcast(Tensor& t, int root) = 0;
  virtual void barrier() = 0;
  // Ends every rank of the run with `exit_code` (MPI_Abort); never returns.
  [[noreturn]] virtual void abort(int exit_code) = 0;
  // Tells the other ranks, waiting in a collective, that this rank is alive
  // and busy (rank 0's validation, checkpoint writing): see comm_timeout().
  // At most four messages a second; a no-op in one process.
  virtual void keep_alive() {}
};

// Every rank's `mine`, on every rank, in rank order (a collective: every rank
// calls it). Built on all_reduce_mean (byte values in f64, exact), so it works
// on every backend; meant for rare, short messages (skip_bad's reports).
std::vector<std::string> all_gather_strings(Communicator& comm, const std::string& mine);

// How long (seconds) a rank waits in a collective for another rank that sends
// nothing (no data, no keep-alive) before it stops the run with an error naming
// that rank and its host: LIEDNET_COMM_TIMEOUT, 300 by default, 0 waits forever.
// An error naming the variable when it is not a number >= 0.
double comm_timeout();

// When this process started MPI (make_mpi was called, even if it then failed):
// true, with its rank and the world size. For errors during set-up.
bool mpi_started(int* rank, int* world_size);
// MPI_Abort on every rank of the run; never returns (_Exit without MPI).
[[noreturn]] void mpi_abort_all(int exit_code);

// One process: rank 0 of 1.
std::unique_ptr<Communicator> make_single_process();

// The ranks started by an MPI launcher (mpirun, srun --mpi=pmix). MPI is
// initialised on the first call and finalised when the program exits.
// `device`: where the buffers to reduce live; CUDA selects the GPU
// `local_rank` (error when this machine has fewer GPUs than ranks) and uses
// NCCL when built with it. An error when built without MPI.
std::unique_ptr<Communicator> make_mpi(Device device);

// Nothing when MPI is built in; otherwise the error that says it is not.
void require_mpi();

// What is built in, for `liednet version`: "mpi: Open MPI v4.1.4, ..." and "nccl: 2.28.9" or "not built".
bool mpi_built();
bool nccl_built();
std::string mpi_version();
std::string nccl_version();

// The fixed-order reduction every backend runs on its chunk (the host version;
// exposed for tests): out[i] = (parts[0][i] + parts[1][i] + ... + parts[K-1][i]) / K,
// the sum taken left to right. `parts` holds K rows of `n` elements, `stride` apart.
template <typename T>
void mean_in_rank_order(T* out, const T* parts, int64_t n, int64_t stride, int k);

// The first element of rank r's chunk and its length, for a buffer of n
// elements cut into k chunks of ceil(n / k) (the last ones shorter or empty).
struct Chunk {
  int64_t begin = 0, size = 0;
};
Chunk chunk_of(int64_t n, int k, int r);

}  // namespace liednet::train
