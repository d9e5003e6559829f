#include "tensor/parallel.h"

#include <cstdlib>
#include <string>

#include "tensor/error.h"

namespace liednet {

int num_threads() { return omp_get_max_threads(); }

void set_num_threads(int n) {
  LIEDNET_CHECK(n >= 1, "set_num_threads: thread count must be at least 1, got ", n);
  omp_set_num_threads(n);
}

void init_threads_from_env() {
  const char* v = std::getenv("LIEDNET_THREADS");
  if (!v || !*v) return;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  LIEDNET_CHECK(end && *end == '\0' && n >= 1, "LIEDNET_THREADS: expected a positive integer, got '", v, "'");
  set_num_threads(static_cast<int>(n));
}

}  // namespace liednet
