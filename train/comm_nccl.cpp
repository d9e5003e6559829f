// The NCCL communicator: the fixed-order mean of train/comm.h over CUDA
// buffers (grouped ncclSend/ncclRecv for the all-to-all, our kernel for the
// mean, ncclAllGather), on liednet's one CUDA stream so it is ordered after
// the backward and before Adam without events. Host buffers, the barrier and
// abort go through MPI. Compiled to "not built" stubs without NCCL.
#include "train/comm_nccl.h"

#include <cstdlib>
#include <cstring>

#include "tensor/cuda.h"
#include "tensor/error.h"

#ifdef LIEDNET_HAVE_NCCL
#include <nccl.h>

#include "train/comm_kernels.h"
#endif

namespace liednet::train {

#ifdef LIEDNET_HAVE_NCCL

namespace {

#define LIEDNET_NCCL_CALL(expr)                                                      \
  do {                                                                               \
    const ncclResult_t r_ = (expr);                                                  \
    if (r_ != ncclSuccess) ::liednet::fail(#expr, " failed: ", ncclGetErrorString(r_)); \
  } while (0)

class Nccl final : public Communicator {
 public:
  explicit Nccl(std::unique_ptr<Communicator> host) : host_(std::move(host)) {
    ncclUniqueId id;
    if (host_->rank() == 0) LIEDNET_NCCL_CALL(ncclGetUniqueId(&id));
    static_assert(sizeof(ncclUniqueId) % 4 == 0);
    Tensor bytes = Tensor::empty({static_cast<int64_t>(sizeof id / 4)});  // broadcast bit for bit
    std::memcpy(bytes.raw_data(), &id, sizeof id);
    host_->broadcast(bytes, 0);
    std::memcpy(&id, bytes.raw_data(), sizeof id);
    LIEDNET_NCCL_CALL(ncclCommInitRank(&comm_, host_->world_size(), id, host_->rank()));
  }
  ~Nccl() override {
    if (comm_) ncclCommDestroy(comm_);
  }

  int rank() const override { return host_->rank(); }
  int world_size() const override { return host_->world_size(); }
  int local_rank() const override { return host_->local_rank(); }
  int local_size() const override { return host_->local_size(); }
  std::string backend() const override { return "mpi+nccl"; }

  void all_reduce_mean(Tensor& flat) override {
    if (flat.device() != Device::CUDA) return host_->all_reduce_mean(flat);
    LIEDNET_CHECK(flat.dtype() == DType::F32, "NCCL all-reduce: CUDA buffers are f32, got ", flat.str());
    const int k = world_size(), r = rank();
    const int64_t n = flat.numel(), per = (n + k - 1) / k;
    if (!recv_.defined() || recv_.numel() != k * per) {  // once: the gradient buffer keeps its size
      recv_ = Tensor::empty({k * per}, DType::F32, Device::CUDA);
      gathered_ = Tensor::empty({k * per}, DType::F32, Device::CUDA);
    }
    float* data = flat.data<float>();
    float* recv = recv_.data<float>();      // (K, per): every rank's copy of this rank's chunk
    float* gathered = gathered_.data<float>();  // (K, per): every rank's mean chunk
    const Chunk mine = chunk_of(n, k, r);
    auto stream = static_cast<cudaStream_t>(cuda_stream());
    LIEDNET_NCCL_CALL(ncclGroupStart());
    for (int j = 0; j < k; ++j) {
      if (j == r) continue;
      const Chunk c = chunk_of(n, k, j);
      if (c.size > 0) LIEDNET_NCCL_CALL(ncclSend(data + c.begin, c.size, ncclFloat, j, comm_, stream));
      if (mine.size > 0) LIEDNET_NCCL_CALL(ncclRecv(recv + j * per, mine.size, ncclFloat, j, comm_, stream));
    }
    LIEDNET_NCCL_CALL(ncclGroupEnd());
    if (mine.size > 0) cuda_copy_on_device(recv + r * per, data + mine.begin, mine.size * sizeof(float));
    cuda::mean_in_rank_order_f32(gathered + r * per, recv, mine.size, per, k, stream);
    LIEDNET_NCCL_CALL(ncclAllGather(gathered + r * per, gathered, per, ncclFloat, comm_, stream));
    cuda_copy_on_device(data, gathered, n * sizeof(float));
  }

  void broadcast(Tensor& t, int root) override {
    if (t.device() != Device::CUDA) return host_->broadcast(t, root);
    const size_t bytes = t.numel() * dtype_size(t.dtype());
    LIEDNET_NCCL_CALL(ncclBroadcast(t.raw_data(), t.raw_data(), bytes, ncclUint8, root, comm_,
                                    static_cast<cudaStream_t>(cuda_stream())));
  }

  void barrier() override {
    cuda_synchronize();
    host_->barrier();
  }

  void keep_alive() override { host_->keep_alive(); }

  [[noreturn]] void abort(int exit_code) override {
    ncclCommAbort(comm_);
    comm_ = nullptr;
    host_->abort(exit_code);
    std::_Exit(exit_code);  // not reached; GCC does not carry [[noreturn]] through the virtual call
  }

 private:
  std::unique_ptr<Communicator> host_;
  ncclComm_t comm_ = nullptr;
  Tensor recv_, gathered_;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl(std::unique_ptr<Communicator> host) {
  return std::make_unique<Nccl>(std::move(host));
}

bool nccl_built() { return true; }

std::string nccl_version() {
  int v = 0;
  if (ncclGetVersion(&v) != ncclSuccess) return "unknown";
  return std::to_string(v / 10000) + "." + std::to_string(v % 10000 / 100) + "." + std::to_string(v % 100);
}

#else  // no NCCL in this build

std::unique_ptr<Communicator> make_nccl(std::unique_ptr<Communicator>) {
  fail("NCCL: this liednet was built without NCCL (configure with -DLIEDNET_NCCL=ON, CUDA and MPI)");
}

bool nccl_built() { return false; }
std::string nccl_version() { return "not built"; }

#endif

}  // namespace liednet::train
