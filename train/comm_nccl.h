// The NCCL communicator (train/comm_nccl.cpp): CUDA buffers through NCCL,
// host buffers and the bootstrap through `host` (MPI). Built only with NCCL.
#pragma once

#include <memory>

#include "train/comm.h"

namespace liednet::train {

// Rank 0 makes NCCL's unique id, `host` broadcasts it, and every rank joins
// one NCCL communicator on its current CUDA device. An error without NCCL.
std::unique_ptr<Communicator> make_nccl(std::unique_ptr<Communicator> host);

}  // namespace liednet::train
