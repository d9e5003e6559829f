// Storage: one allocation of raw bytes on one device, shared by tensors that
// view it (reshape, detach). Host memory is 64-byte aligned for SIMD.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "tensor/dtype.h"

namespace liednet {

class Storage {
 public:
  static std::shared_ptr<Storage> allocate(size_t bytes, Device device);
  // Memory owned by someone else (a NumPy array, a DLPack producer: the Python
  // module's zero-copy views); `release` runs when the last tensor viewing it
  // is gone. Not counted by host_bytes_in_use.
  static std::shared_ptr<Storage> wrap(void* data, size_t bytes, Device device, std::function<void()> release);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  Storage(void* data, size_t bytes, Device device) : data_(data), bytes_(bytes), device_(device) {}
  void* data_;
  size_t bytes_;
  Device device_;
  std::function<void()> release_;  // set for wrapped memory only
};

// Bytes currently held by host storages, and the most ever held (for memory benchmarks).
size_t host_bytes_in_use();
size_t host_bytes_peak();
void reset_host_bytes_peak();
// Bytes of storage (host and device) this thread has allocated since it started;
// the op profiler charges the difference to the op that was running.
uint64_t thread_bytes_allocated();

}  // namespace liednet
