#include "tensor/storage.h"

#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>

#include "tensor/cuda.h"

namespace liednet {

namespace {
std::atomic<size_t> g_in_use{0};
std::atomic<size_t> g_peak{0};
constexpr size_t kAlign = 64;
thread_local uint64_t t_allocated = 0;

// Blocks of at least kMapped bytes are mapped pages of their own, not heap
// memory: freed, they go back to the system, so a training step's peak RSS is
// the tensors it holds, not that plus the heap's holes (glibc keeps freed heap
// chunks below its mmap threshold, which grows to 32 MiB, and a step frees and
// allocates thousands of them in many sizes: 0.4 GiB of holes at 2x3x256x256).
// So that a step does not fault in fresh pages for each of them, freed blocks
// up to kCacheBytes in all are kept and handed out again to a request of the
// same size (a step asks for the same sizes, block after block and step after
// step); beyond that the oldest kept block is unmapped.
#if defined(__SANITIZE_ADDRESS__)
constexpr size_t kMapped = SIZE_MAX;  // under ASan every block is heap memory, which ASan guards
#else
constexpr size_t kMapped = size_t(1) << 20;
#endif
constexpr size_t kPage = 4096;
constexpr size_t kCacheBytes = size_t(256) << 20;

class MappedCache {
 public:
  void* take(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = by_size_.find(bytes);
      if (it != by_size_.end()) {
        void* p = it->second.first;
        by_age_.erase(it->second.second);  // by its age
        by_size_.erase(it);
        cached_ -= bytes;
        return p;
      }
    }
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
  }
  void give(void* p, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (bytes > kCacheBytes) {
      munmap(p, bytes);
      return;
    }
    while (cached_ + bytes > kCacheBytes) {  // unmap the oldest kept blocks
      auto oldest = by_age_.begin();
      auto it = oldest->second;
      munmap(it->second.first, it->first);
      cached_ -= it->first;
      by_size_.erase(it);
      by_age_.erase(oldest);
    }
    const uint64_t age = ++clock_;
    by_age_.emplace(age, by_size_.emplace(bytes, std::make_pair(p, age)));
    cached_ += bytes;
  }

 private:
  using BySize = std::multimap<size_t, std::pair<void*, uint64_t>>;  // size -> (block, age)
  std::mutex mutex_;
  BySize by_size_;
  std::map<uint64_t, BySize::iterator> by_age_;
  size_t cached_ = 0;
  uint64_t clock_ = 0;
};

MappedCache& mapped_cache() {
  static MappedCache* cache = new MappedCache;  // never destroyed: storages may outlive static destructors
  return *cache;
}
}  // namespace

std::shared_ptr<Storage> Storage::allocate(size_t bytes, Device device) {
  t_allocated += bytes;
  if (device == Device::CUDA) return std::shared_ptr<Storage>(new Storage(cuda_alloc(bytes), bytes, device));
  size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
  void* p = nullptr;
  if (rounded >= kMapped) {
    rounded = (rounded + kPage - 1) / kPage * kPage;
    p = mapped_cache().take(rounded);
    if (!p) fail("Storage: out of host memory allocating ", bytes, " bytes");
  } else if (rounded > 0) {
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
  if (bytes_ >= kMapped) mapped_cache().give(data_, bytes_);
  else std::free(data_);
  g_in_use.fetch_sub(bytes_);
}

size_t host_bytes_in_use() { return g_in_use.load(); }
size_t host_bytes_peak() { return g_peak.load(); }
void reset_host_bytes_peak() { g_peak.store(g_in_use.load()); }
uint64_t thread_bytes_allocated() { return t_allocated; }

}  // namespace liednet
