// libFuzzer target: the training config reader (yaml-cpp and our key
// checks) on arbitrary text. Any input must give a config or a liednet::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "tensor/error.h"
#include "train/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    liednet::train::parse_train_config(std::string(reinterpret_cast<const char*>(data), size), "fuzz.yml");
  } catch (const liednet::Error&) {
  }
  return 0;
}
