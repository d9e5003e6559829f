// libFuzzer target: the image decoder (PNG through libpng, JPEG and BMP
// through their structure checks and stb) on arbitrary bytes. Any input must
// decode or fail with a liednet::Error. Images are capped at 2^20 pixels so
// that a header claiming a large image stays within the fuzzer's memory limit.
#include <cstddef>
#include <cstdint>
#include <string>

#include "data/image.h"
#include "tensor/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    liednet::data::decode_image(std::string(reinterpret_cast<const char*>(data), size), "fuzz.png", nullptr,
                                int64_t{1} << 20);
  } catch (const liednet::Error&) {
  }
  return 0;
}
