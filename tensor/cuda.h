// The CUDA device: what the machine offers, device memory and copies.
//
// Device memory comes from a caching allocator: freed blocks are kept by size
// class and reused, so once a training step has run, later steps take nothing
// from the driver. All work goes to one stream per process. Every CUDA call is
// checked; an error names the call, the file and the line.
//
// Without a CUDA build, or without a GPU, there are zero devices, CUDA tensors
// cannot be created and every CUDA test is skipped.
#pragma once

#include <cstddef>
#include <string>

namespace liednet {

bool cuda_built();
// The CUDA code runs on the emulated device of ops/cuda/emu/ (-DLIEDNET_CUDA=EMULATE), not a GPU.
bool cuda_emulated();
int cuda_device_count();
std::string cuda_device_name(int device);

// Device memory (errors when CUDA is not built or no GPU is present).
void* cuda_alloc(size_t bytes);
void cuda_release(void* p, size_t bytes);
void cuda_copy_to_device(void* dst, const void* src_host, size_t bytes);
void cuda_copy_to_host(void* dst_host, const void* src, size_t bytes);
void cuda_copy_on_device(void* dst, const void* src, size_t bytes);
void cuda_zero(void* p, size_t bytes);
void cuda_synchronize();

struct CudaMemoryStats {
  size_t in_use = 0;  // held by tensors
  size_t cached = 0;  // freed, kept for reuse
  size_t peak = 0;    // most ever in use
  size_t driver_allocations = 0;  // cudaMalloc calls so far
};
CudaMemoryStats cuda_memory_stats();
void cuda_reset_peak();  // peak = in_use, to measure one phase
void cuda_empty_cache();

// Host-to-device copies of 256 KiB or more (the training batches) go through
// one page-locked (pinned) staging buffer, so the GPU reads them by DMA; it
// grows to the largest copy and lives until the process ends.
size_t cuda_pinned_staging_bytes();

// Elapsed GPU time between start() and stop_ms() on the stream, from CUDA events.
class CudaTimer {
 public:
  CudaTimer();
  ~CudaTimer();
  CudaTimer(const CudaTimer&) = delete;
  CudaTimer& operator=(const CudaTimer&) = delete;
  void start();
  double stop_ms();  // waits for the stream

 private:
  void* begin_ = nullptr;
  void* end_ = nullptr;
};

// The stream all kernels run on (a cudaStream_t), for the .cu files.
void* cuda_stream();

}  // namespace liednet
