// libFuzzer target: the training config's values (not its syntax): one key of
// a valid config gets the fuzzer's bytes as its value (tests/fuzz/yaml_value.h).
// Any value must give a liednet::Error, or a config with finite learning rates
// and values inside their ranges.
#include <cstdlib>

#include "tests/fuzz/yaml_value.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!liednet::fuzz::value_reads_sanely(liednet::fuzz::config_with_value(data, size), "fuzz.yml")) std::abort();
  return 0;
}
