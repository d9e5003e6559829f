// The MPI communicator (Open MPI): ranks from the launcher, the fixed-order
// mean of train/comm.h over host memory, CUDA buffers handed to NCCL when it is
// built (train/comm_nccl.cpp) or staged through host memory when it is not.
#include "train/comm.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include <sched.h>
#include <vector>

#include "tensor/cuda.h"
#include "tensor/error.h"
#include "train/comm_nccl.h"

#ifdef LIEDNET_HAVE_MPI
#include <mpi.h>
#endif
#ifdef LIEDNET_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace liednet::train {

#ifdef LIEDNET_HAVE_MPI

namespace {

// Message tags of the point-to-point collectives below.
constexpr int kTagData = 7101, kTagBarrier = 7102, kTagKeepAlive = 7103;

// MPI for the whole process: initialised once, finalised at exit (after every
// communicator is gone). Loader threads never call MPI, so FUNNELED suffices.
// After its own set-up, errors are returned to the caller (MPI_ERRORS_RETURN),
// which names the rank it lost, instead of ending the process inside MPI.
struct MpiSession {
  int rank = 0, size = 1, local_rank = 0, local_size = 1;
  std::vector<std::string> hosts;  // each rank's host (MPI_Get_processor_name)
  bool owner = false;

  MpiSession() {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised) {
      int provided = 0;
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
      owner = true;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char name[MPI_MAX_PROCESSOR_NAME] = {};
    int len = 0;
    MPI_Get_processor_name(name, &len);
    std::vector<char> names(static_cast<size_t>(size) * MPI_MAX_PROCESSOR_NAME);
    MPI_Allgather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, names.data(), MPI_MAX_PROCESSOR_NAME, MPI_CHAR,
                  MPI_COMM_WORLD);
    for (int r = 0; r < size; ++r) {
      const char* n = names.data() + static_cast<size_t>(r) * MPI_MAX_PROCESSOR_NAME;
      hosts.emplace_back(n, strnlen(n, MPI_MAX_PROCESSOR_NAME));
    }
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &local_rank);
    MPI_Comm_size(local, &local_size);
    MPI_Comm_free(&local);
    // From here on errors come back (the communicator checks each call it makes).
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  }
  ~MpiSession() {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (owner && !finalised) MPI_Finalize();
  }
};

MpiSession& session() {
  static MpiSession s;
  return s;
}

MPI_Datatype mpi_type(DType t) { return t == DType::F32 ? MPI_FLOAT : MPI_DOUBLE; }

int as_count(int64_t n, const char* what) {
  LIEDNET_CHECK(n <= INT32_MAX, "MPI ", what, ": ", n, " elements exceed MPI's int counts");
  return static_cast<int>(n);
}

std::string mpi_error_text(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(text, static_cast<size_t>(len));
}

// The collectives are point to point (MPI_Isend / MPI_Irecv) and their waits
// poll, so that a rank that waits knows whom it waits for: a peer that sends
// nothing for comm_timeout() seconds (no data, no keep-alive), or whose
// connection fails, stops the run with an error naming that rank and its host.
class Mpi final : public Communicator {
 public:
  Mpi() : s_(session()), timeout_(comm_timeout()), last_heard_(s_.size) {}
  int rank() const override { return s_.rank; }
  int world_size() const override { return s_.size; }
  int local_rank() const override { return s_.local_rank; }
  int local_size() const override { return s_.local_size; }
  std::string backend() const override { return "mpi"; }

  void all_reduce_mean(Tensor& flat) override {
    if (flat.device() == Device::CUDA) {
      // Without NCCL: through host memory, the same fixed-order mean.
      if (!staging_.defined() || staging_.numel() != flat.numel() || staging_.dtype() != flat.dtype())
        staging_ = Tensor::empty({flat.numel()}, flat.dtype());
      cuda_copy_to_host(staging_.raw_data(), flat.raw_data(), flat.numel() * dtype_size(flat.dtype()));
      reduce_host(staging_);
      cuda_copy_to_device(flat.raw_data(), staging_.raw_data(), flat.numel() * dtype_size(flat.dtype()));
      return;
    }
    reduce_host(flat);
  }

  void broadcast(Tensor& t, int root) override {
    std::vector<char> host;
    char* p = static_cast<char*>(t.raw_data());
    const int64_t bytes = t.numel() * static_cast<int64_t>(dtype_size(t.dtype()));
    if (t.device() == Device::CUDA) {
      host.resize(bytes);
      if (rank() == root) cuda_copy_to_host(host.data(), p, bytes);
      p = host.data();
    }
    constexpr int64_t kPiece = int64_t{1} << 30;  // MPI counts are ints
    for (int64_t off = 0; off < bytes; off += kPiece) {
      const int count = static_cast<int>(std::min(kPiece, bytes - off));
      begin();
      if (rank() == root) {
        for (int j = 0; j < world_size(); ++j)
          if (j != root) send(p + off, count, MPI_BYTE, j, kTagData);
      } else {
        receive(p + off, count, MPI_BYTE, root, kTagData);
      }
      wait("broadcast");
    }
    if (t.device() == Device::CUDA && rank() != root) cuda_copy_to_device(t.raw_data(), host.data(), bytes);
  }

  // Every rank tells rank 0 it is here; rank 0 then tells every rank to go on.
  void barrier() override {
    begin();
    if (rank() == 0) {
      for (int j = 1; j < world_size(); ++j) receive(nullptr, 0, MPI_BYTE, j, kTagBarrier);
      wait("barrier");
      begin();
      for (int j = 1; j < world_size(); ++j) send(nullptr, 0, MPI_BYTE, j, kTagBarrier);
    } else {
      send(nullptr, 0, MPI_BYTE, 0, kTagBarrier);
      receive(nullptr, 0, MPI_BYTE, 0, kTagBarrier);
    }
    wait("barrier");
  }

  [[noreturn]] void abort(int exit_code) override { mpi_abort_all(exit_code); }

  void keep_alive() override {
    const auto now = std::chrono::steady_clock::now();
    if (world_size() == 1 || now - last_keep_alive_ < std::chrono::milliseconds(250)) return;
    last_keep_alive_ = now;
    static const char byte = 0;  // outlives the freed requests
    for (int j = 0; j < world_size(); ++j) {
      if (j == rank()) continue;
      MPI_Request q;
      if (MPI_Isend(&byte, 1, MPI_CHAR, j, kTagKeepAlive, MPI_COMM_WORLD, &q) == MPI_SUCCESS) MPI_Request_free(&q);
    }
  }

 private:
  using Clock = std::chrono::steady_clock;

  std::string who(int r) const {
    return "rank " + std::to_string(r) + " (host " + (r < static_cast<int>(s_.hosts.size()) ? s_.hosts[r] : "?") + ")";
  }

  void begin() {
    requests_.clear();
    peers_.clear();
  }
  void send(const void* p, int count, MPI_Datatype type, int to, int tag) {
    requests_.emplace_back();
    peers_.push_back(to);
    check(MPI_Isend(p, count, type, to, tag, MPI_COMM_WORLD, &requests_.back()), to, "send to");
  }
  void receive(void* p, int count, MPI_Datatype type, int from, int tag) {
    requests_.emplace_back();
    peers_.push_back(from);
    check(MPI_Irecv(p, count, type, from, tag, MPI_COMM_WORLD, &requests_.back()), from, "receive from");
  }
  void check(int code, int peer, const char* what) {
    if (code != MPI_SUCCESS) fail("lost contact with ", who(peer), ": ", what, " failed: ", mpi_error_text(code));
  }

  // Keep-alives that arrived from any rank: their senders are alive.
  void drain_keep_alives(Clock::time_point now) {
    for (;;) {
      int flag = 0;
      MPI_Status st;
      if (MPI_Iprobe(MPI_ANY_SOURCE, kTagKeepAlive, MPI_COMM_WORLD, &flag, &st) != MPI_SUCCESS || !flag) return;
      char byte;
      MPI_Recv(&byte, 1, MPI_CHAR, st.MPI_SOURCE, kTagKeepAlive, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      last_heard_[st.MPI_SOURCE] = now;
    }
  }

  // Waits for the requests of begin()..now, polling: MPI moves the data only
  // inside its calls. After the first 50 ms it also reads keep-alives, checks
  // the timeout and yields the core between polls.
  void wait(const char* what) {
    const auto start = Clock::now();
    for (int p : peers_) last_heard_[p] = std::max(last_heard_[p], start);
    std::vector<int> done(requests_.size());
    std::vector<MPI_Status> status(requests_.size());
    for (;;) {
      int n = 0;
      const int code = MPI_Testsome(static_cast<int>(requests_.size()), requests_.data(), &n, done.data(),
                                    status.data());
      const auto now = Clock::now();
      if (code != MPI_SUCCESS) {
        std::string lost;
        for (int i = 0; i < (code == MPI_ERR_IN_STATUS ? n : 0); ++i)
          if (status[i].MPI_ERROR != MPI_SUCCESS) lost += (lost.empty() ? "" : ", ") + who(peers_[done[i]]);
        if (lost.empty()) lost = pending(now, 0);
        fail("lost contact with ", lost, " in the ", what, ": ", mpi_error_text(code));
      }
      if (n == MPI_UNDEFINED) return;  // every request done
      for (int i = 0; i < n; ++i) last_heard_[peers_[done[i]]] = now;
      if (now - start < std::chrono::milliseconds(50)) continue;
      drain_keep_alives(now);
      if (timeout_ > 0) {
        const std::string silent = pending(now, timeout_);
        if (!silent.empty())
          fail(silent, " sent nothing for ", timeout_, " s in the ", what, " (LIEDNET_COMM_TIMEOUT): it stopped, hangs ",
               "or cannot be reached");
      }
      sched_yield();  // polls as fast as a blocking MPI call would (a sleep here would throttle the transfer)
    }
  }

  // The peers of unfinished requests not heard from for more than `seconds`.
  std::string pending(Clock::time_point now, double seconds) const {
    std::vector<bool> named(s_.size, false);
    std::string out;
    for (size_t i = 0; i < requests_.size(); ++i) {
      const int p = peers_[i];
      if (requests_[i] == MPI_REQUEST_NULL || named[p]) continue;
      if (std::chrono::duration<double>(now - last_heard_[p]).count() <= seconds) continue;
      named[p] = true;
      out += (out.empty() ? "" : ", ") + who(p);
    }
    return out;
  }

  // The chunks to their owners, the mean of this rank's chunk in rank order,
  // the means back to every rank: see train/comm.h.
  void reduce_host(Tensor& flat) {
    const int k = world_size(), r = rank();
    const int64_t n = flat.numel();
    const size_t es = dtype_size(flat.dtype());
    const Chunk mine = chunk_of(n, k, r);
    const size_t scratch_bytes = static_cast<size_t>(k) * mine.size * es;
    if (scratch_.size() < scratch_bytes) scratch_.resize(scratch_bytes);  // grows once, then reused
    const MPI_Datatype type = mpi_type(flat.dtype());
    char* data = static_cast<char*>(flat.raw_data());
    begin();
    for (int j = 0; j < k; ++j) {
      if (j == r) continue;
      const Chunk c = chunk_of(n, k, j);
      receive(scratch_.data() + j * mine.size * es, as_count(mine.size, "all-reduce"), type, j, kTagData);
      send(data + c.begin * es, as_count(c.size, "all-reduce"), type, j, kTagData);
    }
    if (mine.size) std::memcpy(scratch_.data() + r * mine.size * es, data + mine.begin * es, mine.size * es);
    wait("all-reduce");
    LIEDNET_DISPATCH(flat.dtype(), T, {
      mean_in_rank_order<T>(reinterpret_cast<T*>(data) + mine.begin, reinterpret_cast<const T*>(scratch_.data()),
                            mine.size, mine.size, k);
    });
    begin();
    for (int j = 0; j < k; ++j) {
      if (j == r) continue;
      const Chunk c = chunk_of(n, k, j);
      receive(data + c.begin * es, as_count(c.size, "all-reduce"), type, j, kTagData);
      send(data + mine.begin * es, as_count(mine.size, "all-reduce"), type, j, kTagData);
    }
    wait("all-reduce");
  }

  MpiSession& s_;
  double timeout_;
  std::vector<Clock::time_point> last_heard_;  // per rank: its last message or keep-alive
  Clock::time_point last_keep_alive_{};
  std::vector<MPI_Request> requests_;
  std::vector<int> peers_;        // the rank on the other end of each request
  std::vector<char> scratch_;     // (K, chunk): every rank's copy of this rank's chunk
  Tensor staging_;                // host copy of a CUDA buffer (no NCCL)
};

}  // namespace

bool mpi_built() { return true; }
void require_mpi() {}

std::string mpi_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(text, &len);
  std::string s(text, static_cast<size_t>(len));
  const size_t cut = s.find_first_of(",\n");
  return cut == std::string::npos ? s : s.substr(0, cut);
}

bool mpi_started(int* rank, int* world_size) {
  int initialised = 0, finalised = 0;
  MPI_Initialized(&initialised);
  MPI_Finalized(&finalised);
  if (!initialised || finalised) return false;
  MPI_Comm_rank(MPI_COMM_WORLD, rank);
  MPI_Comm_size(MPI_COMM_WORLD, world_size);
  return true;
}

void mpi_abort_all(int exit_code) {
  std::fflush(stdout);
  std::fflush(stderr);
  int rank = 0, size = 0;
  if (mpi_started(&rank, &size)) MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);
}

std::unique_ptr<Communicator> make_mpi(Device device) {
  auto mpi = std::make_unique<Mpi>();
  // For the test of a set-up error on one rank (tests/cli/mpi_faults_test.sh).
  if (const char* f = std::getenv("LIEDNET_FAULT_SETUP_RANK"); f && std::atoi(f) == mpi->rank())
    fail("set-up failure injected by LIEDNET_FAULT_SETUP_RANK=", f);
  if (device != Device::CUDA) return mpi;
#ifdef LIEDNET_HAVE_CUDA
  // One GPU per rank on each machine, chosen before anything touches the device.
  const int gpus = cuda_device_count();
  LIEDNET_CHECK(mpi->local_size() <= gpus, "--launcher mpi --device cuda: ", mpi->local_size(),
                " ranks on this machine but ", gpus, " GPUs (one rank per GPU)");
  const cudaError_t err = cudaSetDevice(mpi->local_rank());
  LIEDNET_CHECK(err == cudaSuccess, "cudaSetDevice(", mpi->local_rank(), ") failed: ", cudaGetErrorString(err));
#endif
  if (nccl_built()) return make_nccl(std::move(mpi));
  return mpi;
}

#else  // no MPI in this build

bool mpi_built() { return false; }
std::string mpi_version() { return "not built"; }

void require_mpi() {
  fail("--launcher mpi: this liednet was built without MPI (install libopenmpi-dev and configure with "
       "-DLIEDNET_MPI=ON)");
}

std::unique_ptr<Communicator> make_mpi(Device) {
  require_mpi();
  return nullptr;  // not reached
}

bool mpi_started(int*, int*) { return false; }
void mpi_abort_all(int exit_code) { std::_Exit(exit_code); }

#endif

}  // namespace liednet::train
