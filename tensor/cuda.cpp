#include "tensor/cuda.h"

#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "tensor/error.h"

#ifdef LIEDNET_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace liednet {

#ifdef LIEDNET_HAVE_CUDA

#define LIEDNET_CUDA_CALL(expr)                                                                        \
  do {                                                                                                 \
    const cudaError_t err_ = (expr);                                                                   \
    if (err_ != cudaSuccess) ::liednet::fail(#expr, " failed: ", cudaGetErrorString(err_), " (", __FILE__, ":", \
                                             __LINE__, ")");                                           \
  } while (0)

namespace {
// Size classes: 512-byte granularity below 1 MiB, 1 MiB above; freed blocks
// wait in per-class lists.
size_t size_class(size_t bytes) {
#ifdef LIEDNET_CUDA_EMULATED
  // Exact sizes on the emulated device: its guard zones then sit right after
  // the tensor, so a kernel writing one element too far is caught.
  return bytes;
#endif
  const size_t step = bytes < (size_t{1} << 20) ? 512 : (size_t{1} << 20);
  return (bytes + step - 1) / step * step;
}

struct Allocator {
  std::mutex mutex;
  std::map<size_t, std::vector<void*>> free_blocks;
  CudaMemoryStats stats;
  cudaStream_t stream = nullptr;
  bool ready = false;

  void init() {
    if (ready) return;
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
      cudaGetLastError();
      fail("CUDA: no GPU is available on this machine");
    }
    LIEDNET_CUDA_CALL(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    ready = true;
  }
};

Allocator& allocator() {
  static Allocator a;
  return a;
}
}  // namespace

bool cuda_built() { return true; }
#ifdef LIEDNET_CUDA_EMULATED
bool cuda_emulated() { return true; }
#else
bool cuda_emulated() { return false; }
#endif

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return n;
}

std::string cuda_device_name(int device) {
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) return "unknown";
  return prop.name;
}

void* cuda_alloc(size_t bytes) {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  a.init();
  const size_t cls = size_class(bytes == 0 ? 1 : bytes);
  void* p = nullptr;
  auto it = a.free_blocks.find(cls);
  if (it != a.free_blocks.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    a.stats.cached -= cls;
  } else {
    cudaError_t err = cudaMalloc(&p, cls);
    if (err == cudaErrorMemoryAllocation) {  // give the cache back and try once more
      cudaGetLastError();
      for (auto& [size, blocks] : a.free_blocks)
        for (void* b : blocks) cudaFree(b);
      a.free_blocks.clear();
      a.stats.cached = 0;
      err = cudaMalloc(&p, cls);
    }
    if (err != cudaSuccess)
      fail("CUDA: out of device memory allocating ", bytes, " bytes (", a.stats.in_use, " in use): ",
           cudaGetErrorString(err));
    ++a.stats.driver_allocations;
  }
  a.stats.in_use += cls;
  a.stats.peak = std::max(a.stats.peak, a.stats.in_use);
#ifdef LIEDNET_CUDA_EMULATED
  // initcheck: a block from the cache reads as NaN too, not as what its last owner left.
  emu::poison(p, cls);
#endif
  return p;
}

void cuda_release(void* p, size_t bytes) {
  if (!p) return;
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  const size_t cls = size_class(bytes == 0 ? 1 : bytes);
  // Kernels on the one stream that still read the block run before any later
  // kernel that reuses it, so the block can be handed out again at once.
  a.free_blocks[cls].push_back(p);
  a.stats.in_use -= cls;
  a.stats.cached += cls;
}

void* cuda_stream() {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  a.init();
  return a.stream;
}

namespace {
constexpr size_t kPinnedThreshold = size_t{256} << 10;

struct PinnedStaging {
  std::mutex mutex;
  void* data = nullptr;
  size_t bytes = 0;
  ~PinnedStaging() {
    if (data) cudaFreeHost(data);
  }
};

PinnedStaging& staging() {
  static PinnedStaging s;
  return s;
}
}  // namespace

void cuda_copy_to_device(void* dst, const void* src, size_t bytes) {
  auto s = static_cast<cudaStream_t>(cuda_stream());
  if (bytes >= kPinnedThreshold) {
    PinnedStaging& p = staging();
    std::lock_guard<std::mutex> lock(p.mutex);
    if (p.bytes < bytes) {
      if (p.data) LIEDNET_CUDA_CALL(cudaFreeHost(p.data));
      p.data = nullptr;
      p.bytes = 0;
      LIEDNET_CUDA_CALL(cudaHostAlloc(&p.data, bytes, cudaHostAllocDefault));
      p.bytes = bytes;
    }
    std::memcpy(p.data, src, bytes);
    LIEDNET_CUDA_CALL(cudaMemcpyAsync(dst, p.data, bytes, cudaMemcpyHostToDevice, s));
    LIEDNET_CUDA_CALL(cudaStreamSynchronize(s));  // the staging buffer is reused by the next copy
    return;
  }
  LIEDNET_CUDA_CALL(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s));
  LIEDNET_CUDA_CALL(cudaStreamSynchronize(s));  // the host buffer may be freed right after
}

size_t cuda_pinned_staging_bytes() {
  PinnedStaging& p = staging();
  std::lock_guard<std::mutex> lock(p.mutex);
  return p.bytes;
}

CudaTimer::CudaTimer() {
  cudaEvent_t b, e;
  LIEDNET_CUDA_CALL(cudaEventCreate(&b));
  LIEDNET_CUDA_CALL(cudaEventCreate(&e));
  begin_ = b;
  end_ = e;
}

CudaTimer::~CudaTimer() {
  cudaEventDestroy(static_cast<cudaEvent_t>(begin_));
  cudaEventDestroy(static_cast<cudaEvent_t>(end_));
}

void CudaTimer::start() {
  LIEDNET_CUDA_CALL(cudaEventRecord(static_cast<cudaEvent_t>(begin_), static_cast<cudaStream_t>(cuda_stream())));
}

double CudaTimer::stop_ms() {
  auto e = static_cast<cudaEvent_t>(end_);
  LIEDNET_CUDA_CALL(cudaEventRecord(e, static_cast<cudaStream_t>(cuda_stream())));
  LIEDNET_CUDA_CALL(cudaEventSynchronize(e));
  float ms = 0;
  LIEDNET_CUDA_CALL(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(begin_), e));
  return ms;
}

void cuda_copy_to_host(void* dst, const void* src, size_t bytes) {
  auto s = static_cast<cudaStream_t>(cuda_stream());
  LIEDNET_CUDA_CALL(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s));
  LIEDNET_CUDA_CALL(cudaStreamSynchronize(s));
}

void cuda_copy_on_device(void* dst, const void* src, size_t bytes) {
  LIEDNET_CUDA_CALL(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, static_cast<cudaStream_t>(cuda_stream())));
}

void cuda_zero(void* p, size_t bytes) {
  LIEDNET_CUDA_CALL(cudaMemsetAsync(p, 0, bytes, static_cast<cudaStream_t>(cuda_stream())));
}

void cuda_synchronize() { LIEDNET_CUDA_CALL(cudaStreamSynchronize(static_cast<cudaStream_t>(cuda_stream()))); }

CudaMemoryStats cuda_memory_stats() {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  return a.stats;
}

void cuda_reset_peak() {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  a.stats.peak = a.stats.in_use;
}

void cuda_empty_cache() {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  if (a.ready) cudaStreamSynchronize(a.stream);
  for (auto& [size, blocks] : a.free_blocks)
    for (void* b : blocks) cudaFree(b);
  a.free_blocks.clear();
  a.stats.cached = 0;
}

#else

namespace {
[[noreturn]] void not_built() { fail("CUDA: this build has no CUDA backend (configure with -DLIEDNET_CUDA=ON on a machine with nvcc)"); }
}  // namespace

bool cuda_built() { return false; }
bool cuda_emulated() { return false; }
int cuda_device_count() { return 0; }
std::string cuda_device_name(int) { return "none"; }
void* cuda_alloc(size_t) { not_built(); }
void cuda_release(void*, size_t) {}
void cuda_copy_to_device(void*, const void*, size_t) { not_built(); }
void cuda_copy_to_host(void*, const void*, size_t) { not_built(); }
void cuda_copy_on_device(void*, const void*, size_t) { not_built(); }
void cuda_zero(void*, size_t) { not_built(); }
void cuda_synchronize() {}
CudaMemoryStats cuda_memory_stats() { return {}; }
void cuda_reset_peak() {}
void cuda_empty_cache() {}
size_t cuda_pinned_staging_bytes() { return 0; }
CudaTimer::CudaTimer() { not_built(); }
CudaTimer::~CudaTimer() = default;
void CudaTimer::start() { not_built(); }
double CudaTimer::stop_ms() { not_built(); }
void* cuda_stream() { not_built(); }

#endif

}  // namespace liednet
