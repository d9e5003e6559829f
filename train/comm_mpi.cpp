// The MPI communicator (Open MPI): ranks from the launcher, the fixed-order
// mean of train/comm.h over host memory, CUDA buffers handed to NCCL when it is
// built (train/comm_nccl.cpp) or staged through host memory when it is not.
#include "train/comm.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
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

// MPI for the whole process: initialised once, finalised at exit (after every
// communicator is gone). Loader threads never call MPI, so FUNNELED suffices.
struct MpiSession {
  int rank = 0, size = 1, local_rank = 0, local_size = 1;
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
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &local_rank);
    MPI_Comm_size(local, &local_size);
    MPI_Comm_free(&local);
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

class Mpi final : public Communicator {
 public:
  Mpi() : s_(session()) {}
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
    for (int64_t off = 0; off < bytes; off += kPiece)
      MPI_Bcast(p + off, static_cast<int>(std::min(kPiece, bytes - off)), MPI_BYTE, root, MPI_COMM_WORLD);
    if (t.device() == Device::CUDA && rank() != root) cuda_copy_to_device(t.raw_data(), host.data(), bytes);
  }

  void barrier() override { MPI_Barrier(MPI_COMM_WORLD); }

  [[noreturn]] void abort(int exit_code) override {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::_Exit(exit_code);
  }

 private:
  // All-to-all of the chunks, the mean of this rank's chunk in rank order,
  // all-gather of the means: see train/comm.h.
  void reduce_host(Tensor& flat) {
    const int k = world_size(), r = rank();
    const int64_t n = flat.numel();
    const size_t es = dtype_size(flat.dtype());
    const Chunk mine = chunk_of(n, k, r);
    const size_t scratch_bytes = static_cast<size_t>(k) * mine.size * es;
    if (scratch_.size() < scratch_bytes) scratch_.resize(scratch_bytes);  // grows once, then reused
    std::vector<int> send_count(k), send_at(k), recv_count(k), recv_at(k);
    for (int j = 0; j < k; ++j) {
      const Chunk c = chunk_of(n, k, j);
      send_count[j] = as_count(c.size, "all-to-all");
      send_at[j] = as_count(c.begin, "all-to-all");
      recv_count[j] = as_count(mine.size, "all-to-all");
      recv_at[j] = as_count(j * mine.size, "all-to-all");
    }
    const MPI_Datatype type = mpi_type(flat.dtype());
    char* data = static_cast<char*>(flat.raw_data());
    MPI_Alltoallv(data, send_count.data(), send_at.data(), type, scratch_.data(), recv_count.data(), recv_at.data(),
                  type, MPI_COMM_WORLD);
    LIEDNET_DISPATCH(flat.dtype(), T, {
      mean_in_rank_order<T>(reinterpret_cast<T*>(data) + mine.begin, reinterpret_cast<const T*>(scratch_.data()),
                            mine.size, mine.size, k);
    });
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data, send_count.data(), send_at.data(), type, MPI_COMM_WORLD);
  }

  MpiSession& s_;
  std::vector<char> scratch_;  // (K, chunk): every rank's copy of this rank's chunk
  Tensor staging_;             // host copy of a CUDA buffer (no NCCL)
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

std::unique_ptr<Communicator> make_mpi(Device device) {
  auto mpi = std::make_unique<Mpi>();
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

#endif

}  // namespace liednet::train
