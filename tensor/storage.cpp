#include "tensor/storage.h"

#include <atomic>
#include <cstdlib>
#include <new>

#include "tensor/cuda.h"

namespace liednet {

namespace {
std::atomic<size_t> g_in_use{0};
std::atomic<size_t> g_peak{0};
constexpr size_t kAlign = 64;
thread_local uint64_t t_allocated = 0;
}  // namespace

std::shared_ptr<Storage> Storage::allocate(size_t bytes, Device device) {
  t_allocated += bytes;
  if (device == Device::CUDA) return std::shared_ptr<Storage>(new Storage(cuda_alloc(bytes), bytes, device));
  size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
  void* p = nullptr;
  if (rounded > 0) {
    p = std::aligned_alloc(kAlign, rounded);
    if (!p) fail("Storage: out of host memory allocating ", bytes, " bytes");
  }
  size_t now = g_in_use.fetch_add(rounded) + rounded;
  size_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
  return std::shared_ptr<Storage>(new Storage(p, rounded, device));
}

std::shared_ptr<Storage> Storage::wrap(void* data, size_t bytes, Device device, std::function<void()> release) {
  std::shared_ptr<Storage> s(new Storage(data, bytes, device));
  s->release_ = std::move(release);
  return s;
}

Storage::~Storage() {
  if (release_) {
    release_();
    return;
  }
  if (device_ == Device::CUDA) {
    cuda_release(data_, bytes_);
    return;
  }
  std::free(data_);
  g_in_use.fetch_sub(bytes_);
}

size_t host_bytes_in_use() { return g_in_use.load(); }
size_t host_bytes_peak() { return g_peak.load(); }
void reset_host_bytes_peak() { g_peak.store(g_in_use.load()); }
uint64_t thread_bytes_allocated() { return t_allocated; }

}  // namespace liednet
