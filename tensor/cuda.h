// What the machine offers for the CUDA backend. Without a CUDA build, or with
// no GPU, there are zero devices and every CUDA test is skipped.
#pragma once

#include <string>

namespace liednet {

bool cuda_built();
int cuda_device_count();
std::string cuda_device_name(int device);

}  // namespace liednet
