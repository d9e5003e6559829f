// A per-thread buffer kept across calls, so a warm training step allocates no
// scratch memory. Each (thread, element type, tag) holds one buffer; a caller
// must not hold two buffers of the same tag at once.
#pragma once

#include <cstdint>
#include <vector>

namespace liednet::ops {

template <typename T, int Tag = 0>
T* scratch(int64_t elements) {
  thread_local std::vector<T> buffer;
  if (static_cast<int64_t>(buffer.size()) < elements) buffer.resize(elements);
  return buffer.data();
}

}  // namespace liednet::ops
