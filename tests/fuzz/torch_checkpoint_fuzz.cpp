// libFuzzer target: the PyTorch checkpoint reader (zip and pickle) on
// arbitrary bytes. The reader takes a path, so each input is written to an
// in-memory file (memfd) and read back through /proc/self/fd. Any input must
// load or fail with a liednet::Error.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <sys/mman.h>
#include <unistd.h>

#include "nn/torch_checkpoint.h"
#include "tensor/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const int fd = memfd_create("fuzz.pth", 0);
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  if (fd < 0 || ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) {
    std::perror("torch_checkpoint_fuzz: memfd");
    std::abort();
  }
  try {
    liednet::nn::load_torch_checkpoint(path);
  } catch (const liednet::Error&) {
  }
  return 0;
}
