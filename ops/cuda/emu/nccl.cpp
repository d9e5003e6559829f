// The emulated NCCL (see nccl.h) over MPI: each rank's "device" buffers are
// host memory of its own process, so NCCL's collectives are MPI's.
#include "ops/cuda/emu/nccl.h"

#include <mpi.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

struct ncclComm {
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0, size = 0;
};

namespace {

struct Pending {
  bool send;
  void* buf;
  size_t bytes;
  int peer;
  ncclComm_t comm;
};
int g_group_depth = 0;
std::vector<Pending> g_group;

size_t type_size(ncclDataType_t t) {
  switch (t) {
    case ncclInt8:
    case ncclUint8: return 1;
    case ncclInt32:
    case ncclFloat32: return 4;
    case ncclFloat64: return 8;
  }
  return 0;
}

// memcheck: a NCCL buffer must be device memory.
ncclResult_t check_buffer(const char* call, const void* p, size_t bytes) {
  if (bytes == 0) return ncclSuccess;
  const auto* last = static_cast<const char*>(p) + bytes - 1;
  if (liednet::emu::is_device_pointer(p) && liednet::emu::is_device_pointer(last) && p) return ncclSuccess;
  std::fprintf(stderr, "liednet emulated NCCL: memcheck: %s: %zu bytes at %p are not inside a live device allocation\n",
               call, bytes, p);
  return ncclInvalidArgument;
}

ncclResult_t mpi_result(int rc) { return rc == MPI_SUCCESS ? ncclSuccess : ncclSystemError; }

ncclResult_t exchange(const std::vector<Pending>& ops) {
  std::vector<MPI_Request> reqs(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    const Pending& o = ops[i];
    const int n = static_cast<int>(o.bytes);
    const int rc = o.send ? MPI_Isend(o.buf, n, MPI_BYTE, o.peer, 0, o.comm->comm, &reqs[i])
                          : MPI_Irecv(o.buf, n, MPI_BYTE, o.peer, 0, o.comm->comm, &reqs[i]);
    if (rc != MPI_SUCCESS) return ncclSystemError;
  }
  return mpi_result(MPI_Waitall(static_cast<int>(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE));
}

ncclResult_t point_to_point(bool send, void* buf, size_t count, ncclDataType_t type, int peer, ncclComm_t comm) {
  if (!comm) return ncclInvalidArgument;
  if (peer < 0 || peer >= comm->size) return ncclInvalidArgument;
  const size_t bytes = count * type_size(type);
  if (const ncclResult_t r = check_buffer(send ? "ncclSend" : "ncclRecv", buf, bytes); r != ncclSuccess) return r;
  Pending p{send, buf, bytes, peer, comm};
  if (g_group_depth > 0) {
    g_group.push_back(p);
    return ncclSuccess;
  }
  return exchange({p});
}

}  // namespace

const char* ncclGetErrorString(ncclResult_t r) {
  switch (r) {
    case ncclSuccess: return "no error";
    case ncclUnhandledCudaError: return "unhandled cuda error";
    case ncclSystemError: return "unhandled system error (an MPI call failed)";
    case ncclInternalError: return "internal error";
    case ncclInvalidArgument: return "invalid argument (a buffer not in device memory, or a bad peer)";
    case ncclInvalidUsage: return "invalid usage";
  }
  return "unknown result";
}

ncclResult_t ncclGetVersion(int* version) {
  *version = 0;  // prints as 0.0.0: the emulation, no NCCL library
  return ncclSuccess;
}

ncclResult_t ncclGetUniqueId(ncclUniqueId* id) {
  std::random_device rd;
  for (char& c : id->internal) c = static_cast<char>(rd());
  return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId, int rank) {
  int size = 0, me = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm_rank(MPI_COMM_WORLD, &me);
  if (size != nranks || me != rank) return ncclInvalidArgument;
  auto* c = new ncclComm();
  if (MPI_Comm_dup(MPI_COMM_WORLD, &c->comm) != MPI_SUCCESS) {
    delete c;
    return ncclSystemError;
  }
  c->rank = rank;
  c->size = nranks;
  *comm = c;
  return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  if (!comm) return ncclInvalidArgument;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Comm_free(&comm->comm);
  delete comm;
  return ncclSuccess;
}

ncclResult_t ncclCommAbort(ncclComm_t comm) {
  delete comm;  // MPI_Abort, by the host communicator, ends the ranks
  return ncclSuccess;
}

ncclResult_t ncclGroupStart() {
  ++g_group_depth;
  return ncclSuccess;
}

ncclResult_t ncclGroupEnd() {
  if (g_group_depth == 0) return ncclInvalidUsage;
  if (--g_group_depth > 0) return ncclSuccess;
  std::vector<Pending> ops;
  ops.swap(g_group);
  return exchange(ops);
}

ncclResult_t ncclSend(const void* buf, size_t count, ncclDataType_t type, int peer, ncclComm_t comm, cudaStream_t) {
  return point_to_point(true, const_cast<void*>(buf), count, type, peer, comm);
}

ncclResult_t ncclRecv(void* buf, size_t count, ncclDataType_t type, int peer, ncclComm_t comm, cudaStream_t) {
  return point_to_point(false, buf, count, type, peer, comm);
}

ncclResult_t ncclAllGather(const void* send, void* recv, size_t count, ncclDataType_t type, ncclComm_t comm,
                           cudaStream_t) {
  if (!comm || g_group_depth > 0) return ncclInvalidUsage;
  const size_t bytes = count * type_size(type);
  if (const ncclResult_t r = check_buffer("ncclAllGather", send, bytes); r != ncclSuccess) return r;
  if (const ncclResult_t r = check_buffer("ncclAllGather", recv, bytes * comm->size); r != ncclSuccess) return r;
  const int n = static_cast<int>(bytes);
  if (send == static_cast<char*>(recv) + bytes * comm->rank)
    return mpi_result(MPI_Allgather(MPI_IN_PLACE, 0, MPI_BYTE, recv, n, MPI_BYTE, comm->comm));
  return mpi_result(MPI_Allgather(send, n, MPI_BYTE, recv, n, MPI_BYTE, comm->comm));
}

ncclResult_t ncclBroadcast(const void* send, void* recv, size_t count, ncclDataType_t type, int root, ncclComm_t comm,
                           cudaStream_t) {
  if (!comm || g_group_depth > 0) return ncclInvalidUsage;
  const size_t bytes = count * type_size(type);
  if (const ncclResult_t r = check_buffer("ncclBroadcast", recv, bytes); r != ncclSuccess) return r;
  if (comm->rank == root && send != recv) {
    if (const ncclResult_t r = check_buffer("ncclBroadcast", send, bytes); r != ncclSuccess) return r;
    std::memmove(recv, send, bytes);
  }
  return mpi_result(MPI_Bcast(recv, static_cast<int>(bytes), MPI_BYTE, root, comm->comm));
}
