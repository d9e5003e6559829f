// Host-side helper of the CUDA backward gathers of ops/pad.cpp and
// ops/resize.cpp: the inverse of an index map, so that each gradient element
// can gather its contributions in a fixed order instead of being scattered
// into with atomics. Plain C++17.
#pragma once

#include <cstdint>
#include <vector>

namespace liednet::ops::cuda {

// The inverse of a map from positions q < count to indices map[q] in [0, n),
// appended to `out` as n + 1 starts and then the positions grouped by index,
// ascending within a group -- the order in which the kernels add them.
// Positions and n must fit in int32.
inline void append_inverse(std::vector<int32_t>& out, const int64_t* map, int64_t count, int64_t n) {
  std::vector<int32_t> start(n + 1, 0);
  for (int64_t q = 0; q < count; ++q) ++start[map[q] + 1];
  for (int64_t i = 0; i < n; ++i) start[i + 1] += start[i];
  std::vector<int32_t> list(count), next(start.begin(), start.end() - 1);
  for (int64_t q = 0; q < count; ++q) list[next[map[q]]++] = static_cast<int32_t>(q);
  out.insert(out.end(), start.begin(), start.end());
  out.insert(out.end(), list.begin(), list.end());
}

}  // namespace liednet::ops::cuda
