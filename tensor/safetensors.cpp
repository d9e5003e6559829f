#include "tensor/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <unistd.h>

namespace liednet {

namespace {
// Safetensors files are little-endian; so is every machine we build for.
static_assert(std::endian::native == std::endian::little, "safetensors IO assumes a little-endian host");

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while (!(mant & 0x400)) {
        mant <<= 1;
        --exp;
      }
      bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
    }
  } else if (exp == 0x1f) {
    // Infinity, or NaN made quiet, as a float conversion on x86 does.
    bits = sign | 0x7f800000 | (mant << 13) | (mant ? 0x00400000u : 0u);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bf16_to_float(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu)) bits |= 0x00400000u;  // quiet NaN
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

struct StoredType {
  DType dtype;   // what we hold in memory
  size_t bytes;  // per element on disk
};

StoredType stored_type(const std::string& name, const std::string& path, const std::string& key) {
  if (name == "F32") return {DType::F32, 4};
  if (name == "F64") return {DType::F64, 8};
  if (name == "F16" || name == "BF16") return {DType::F32, 2};
  fail(path, ": tensor '", key, "' has dtype ", name, "; only F32, F64, F16 and BF16 are supported");
}
}  // namespace

const Tensor& SafetensorsContents::at(const std::string& key) const {
  for (const auto& [k, t] : tensors)
    if (k == key) return t;
  fail(path, ": no tensor named '", key, "'");
}

bool SafetensorsContents::contains(const std::string& key) const {
  for (const auto& kv : tensors)
    if (kv.first == key) return true;
  return false;
}

SafetensorsContents load_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  LIEDNET_CHECK(in, path, ": cannot open for reading");
  in.seekg(0, std::ios::end);
  const uint64_t file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  LIEDNET_CHECK(file_size >= 8, path, ": not a safetensors file (", file_size, " bytes, shorter than its header length)");
  uint64_t header_len = 0;
  in.read(reinterpret_cast<char*>(&header_len), 8);
  LIEDNET_CHECK(header_len <= file_size - 8, path, ": truncated or not a safetensors file (header of ", header_len,
                " bytes in a file of ", file_size, ")");
  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  LIEDNET_CHECK(in, path, ": could not read the header");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(header);
  } catch (const std::exception& e) {
    fail(path, ": header is not valid JSON (", e.what(), ")");
  }
  LIEDNET_CHECK(j.is_object(), path, ": header is not a JSON object");
  const uint64_t data_size = file_size - 8 - header_len;

  SafetensorsContents out;
  out.path = path;
  std::vector<std::pair<uint64_t, std::string>> order;  // file order = data offset order
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      for (auto m = it->begin(); m != it->end(); ++m)
        out.metadata[m.key()] = m->is_string() ? m->get<std::string>() : m->dump();
      continue;
    }
    const auto& e = it.value();
    LIEDNET_CHECK(e.is_object() && e.contains("dtype") && e.contains("shape") && e.contains("data_offsets"), path,
                  ": tensor '", it.key(), "' lacks dtype, shape or data_offsets");
    order.push_back({e["data_offsets"].at(0).get<uint64_t>(), it.key()});
  }
  std::sort(order.begin(), order.end());

  for (const auto& [offset, key] : order) {
    const auto& e = j[key];
    const StoredType st = stored_type(e["dtype"].get<std::string>(), path, key);
    std::vector<int64_t> dims = e["shape"].get<std::vector<int64_t>>();
    Shape shape(dims);
    const uint64_t begin = e["data_offsets"].at(0).get<uint64_t>();
    const uint64_t end = e["data_offsets"].at(1).get<uint64_t>();
    LIEDNET_CHECK(begin <= end && end <= data_size, path, ": tensor '", key, "' data [", begin, ", ", end,
                  ") lies outside the file's ", data_size, " data bytes (truncated file?)");
    LIEDNET_CHECK(end - begin == static_cast<uint64_t>(shape.numel()) * st.bytes, path, ": tensor '", key,
                  "' has ", end - begin, " bytes but shape ", shape, " needs ", shape.numel() * st.bytes);
    std::string raw(end - begin, '\0');
    in.seekg(static_cast<std::streamoff>(8 + header_len + begin));
    in.read(raw.data(), static_cast<std::streamsize>(raw.size()));
    LIEDNET_CHECK(in, path, ": could not read tensor '", key, "'");
    Tensor t = Tensor::empty(shape, st.dtype);
    const std::string dt = e["dtype"].get<std::string>();
    if (dt == "F16" || dt == "BF16") {
      float* p = t.data<float>();
      for (int64_t i = 0; i < shape.numel(); ++i) {
        uint16_t h;
        std::memcpy(&h, raw.data() + 2 * i, 2);
        p[i] = dt == "F16" ? half_to_float(h) : bf16_to_float(h);
      }
    } else if (!raw.empty()) {  // an empty tensor has no data (and maybe no buffer)
      std::memcpy(t.raw_data(), raw.data(), raw.size());
    }
    out.tensors.push_back({key, t});
  }
  return out;
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header;
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [key, t] : tensors) {
    LIEDNET_CHECK(t.defined(), path, ": tensor '", key, "' is undefined");
    LIEDNET_CHECK(t.device() == Device::CPU, path, ": tensor '", key, "' is ", t.str(), "; copy it to the CPU first");
    LIEDNET_CHECK(!header.contains(key), path, ": duplicate tensor name '", key, "'");
    const uint64_t bytes = t.numel() * dtype_size(t.dtype());
    header[key] = {{"dtype", t.dtype() == DType::F32 ? "F32" : "F64"},
                   {"shape", t.shape().vec()},
                   {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  std::string bytes;
  bytes.reserve(8 + h.size() + offset);
  const uint64_t len = h.size();
  bytes.append(reinterpret_cast<const char*>(&len), 8);
  bytes += h;
  for (const auto& kv : tensors)
    bytes.append(static_cast<const char*>(kv.second.raw_data()), kv.second.numel() * dtype_size(kv.second.dtype()));
  write_file_atomically(path, bytes);
}

void write_file_atomically(const std::string& path, const std::string& bytes) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  LIEDNET_CHECK(f, path, ": cannot open '", tmp, "' for writing");
  const bool written = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size() && std::fflush(f) == 0 &&
                       ::fsync(::fileno(f)) == 0;
  const bool closed = std::fclose(f) == 0;
  if (!written || !closed) {
    std::remove(tmp.c_str());
    fail(path, ": write failed (disk full?)");
  }
  std::error_code ec;
  fs::rename(tmp, target, ec);
  if (ec) {
    std::remove(tmp.c_str());
    fail(path, ": cannot rename the temporary file into place (", ec.message(), ")");
  }
}

}  // namespace liednet
