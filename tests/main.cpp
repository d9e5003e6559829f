// The test runner: doctest's main, after applying LIEDNET_THREADS.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "tensor/parallel.h"

int main(int argc, char** argv) {
  liednet::init_threads_from_env();
  doctest::Context context(argc, argv);
  return context.run();
}
