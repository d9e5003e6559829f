// safetensors files (the hub's standard tensor format): an 8-byte little-endian
// header length, a JSON header {"name": {"dtype", "shape", "data_offsets"}, ...,
// "__metadata__": {...}}, then the raw little-endian data.
//
// Reading keeps F32 and F64 as they are and converts F16 and BF16 to f32.
// Writing goes to a temporary file that is renamed into place.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tensor/atomic_file.h"  // write_file_atomically, which save_safetensors uses
#include "tensor/tensor.h"

namespace liednet {

struct SafetensorsContents {
  std::vector<std::pair<std::string, Tensor>> tensors;  // in file order
  std::map<std::string, std::string> metadata;

  // The tensor under `key`; an error naming the file and the key if absent.
  const Tensor& at(const std::string& key) const;
  bool contains(const std::string& key) const;
  std::string path;
};

// Every error names the file: truncated, not safetensors, a header that is not
// JSON or lacks a field, a shape that overflows, data offsets outside the file
// or overlapping another tensor's, a size that disagrees with the shape.
SafetensorsContents load_safetensors(const std::string& path);
// The same from bytes in memory; `name` stands for the file in messages.
SafetensorsContents parse_safetensors(const std::string& bytes, const std::string& name);

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace liednet
