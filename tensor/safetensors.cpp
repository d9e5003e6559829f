#include "tensor/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

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

namespace {

// A header larger than this is not a tensor file (the hub's readers refuse
// above 100 MB too); it would otherwise be read into memory whole.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct Entry {
  std::string key, dtype;
  Shape shape;
  uint64_t begin = 0, end = 0;  // byte range in the data section
};

struct Header {
  std::vector<Entry> entries;  // sorted by data offset: file order
  std::map<std::string, std::string> metadata;
};

// Reads `v` as a non-negative integer that fits in 63 bits; false otherwise.
bool as_count(const nlohmann::json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
  } else if (v.is_number_integer()) {
    if (v.get<int64_t>() < 0) return false;
    *out = static_cast<uint64_t>(v.get<int64_t>());
  } else {
    return false;
  }
  return *out <= static_cast<uint64_t>(INT64_MAX);
}

Entry parse_entry(const std::string& key, const nlohmann::json& e, uint64_t data_size, const std::string& path) {
  Entry out;
  out.key = key;
  LIEDNET_CHECK(e.is_object() && e.contains("dtype") && e.contains("shape") && e.contains("data_offsets"), path,
                ": tensor '", key, "' lacks dtype, shape or data_offsets");
  LIEDNET_CHECK(e["dtype"].is_string(), path, ": tensor '", key, "': dtype must be a string, got ", e["dtype"].dump());
  out.dtype = e["dtype"].get<std::string>();
  const StoredType st = stored_type(out.dtype, path, key);

  const nlohmann::json& shape = e["shape"];
  LIEDNET_CHECK(shape.is_array() && shape.size() <= static_cast<size_t>(Shape::kMaxDims), path, ": tensor '", key,
                "': shape must be a list of at most ", Shape::kMaxDims, " sizes, got ", shape.dump());
  std::vector<int64_t> dims;
  uint64_t bytes = st.bytes;  // checked for overflow at every factor
  for (const nlohmann::json& d : shape) {
    uint64_t n = 0;
    LIEDNET_CHECK(as_count(d, &n), path, ": tensor '", key, "': shape ", shape.dump(),
                  " holds something other than a size (a whole number from 0 to 2^63 - 1)");
    LIEDNET_CHECK(!__builtin_mul_overflow(bytes, n, &bytes) && bytes <= static_cast<uint64_t>(INT64_MAX), path,
                  ": tensor '", key, "': shape ", shape.dump(), " overflows (more bytes than 2^63)");
    dims.push_back(static_cast<int64_t>(n));
  }
  out.shape = Shape(dims);

  const nlohmann::json& offsets = e["data_offsets"];
  LIEDNET_CHECK(offsets.is_array() && offsets.size() == 2 && as_count(offsets[0], &out.begin) &&
                    as_count(offsets[1], &out.end),
                path, ": tensor '", key, "': data_offsets must be [begin, end] in bytes, got ", offsets.dump());
  LIEDNET_CHECK(out.begin <= out.end && out.end <= data_size, path, ": tensor '", key, "' data [", out.begin, ", ",
                out.end, ") lies outside the file's ", data_size, " data bytes (truncated file?)");
  LIEDNET_CHECK(out.end - out.begin == bytes, path, ": tensor '", key, "' has ", out.end - out.begin,
                " bytes but shape ", out.shape, " needs ", bytes);
  return out;
}

// The JSON header, every entry checked against the data section's size and
// against each other (no two tensors share a byte).
Header parse_header(const std::string& text, uint64_t data_size, const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    fail(path, ": header is not valid JSON (", e.what(), ")");
  }
  LIEDNET_CHECK(j.is_object(), path, ": header is not a JSON object");
  Header h;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      LIEDNET_CHECK(it->is_object(), path, ": __metadata__ must be a JSON object, got ", it->dump());
      for (auto m = it->begin(); m != it->end(); ++m)
        h.metadata[m.key()] = m->is_string() ? m->get<std::string>() : m->dump();
      continue;
    }
    try {
      h.entries.push_back(parse_entry(it.key(), it.value(), data_size, path));
    } catch (const nlohmann::json::exception& e) {  // a case the checks above missed: still name the file
      fail(path, ": tensor '", it.key(), "': ", e.what());
    }
  }
  std::sort(h.entries.begin(), h.entries.end(),
            [](const Entry& a, const Entry& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  const Entry* last = nullptr;  // the last non-empty entry
  for (const Entry& e : h.entries) {
    if (e.begin == e.end) continue;
    LIEDNET_CHECK(!last || e.begin >= last->end, path, ": tensors '", last ? last->key : "", "' [", last ? last->begin : 0,
                  ", ", last ? last->end : 0, ") and '", e.key, "' [", e.begin, ", ", e.end, ") overlap in the data");
    last = &e;
  }
  return h;
}

// Converts the raw bytes of one entry into its tensor; `read(offset, out, n)`
// fills n bytes from the data section.
template <typename Read>
Tensor read_entry(const Entry& e, Read&& read) {
  const bool half = e.dtype == "F16" || e.dtype == "BF16";
  Tensor t = Tensor::empty(e.shape, e.dtype == "F64" ? DType::F64 : DType::F32);
  const uint64_t n = e.end - e.begin;
  if (n == 0) return t;  // an empty tensor has no data (and maybe no buffer)
  if (!half) {
    read(e.begin, static_cast<char*>(t.raw_data()), n);
    return t;
  }
  std::vector<uint16_t> raw(n / 2);
  read(e.begin, reinterpret_cast<char*>(raw.data()), n);
  float* p = t.data<float>();
  for (size_t i = 0; i < raw.size(); ++i) p[i] = e.dtype == "F16" ? half_to_float(raw[i]) : bf16_to_float(raw[i]);
  return t;
}

uint64_t header_length(const char first8[8], uint64_t file_size, const std::string& path) {
  uint64_t header_len = 0;
  std::memcpy(&header_len, first8, 8);
  LIEDNET_CHECK(header_len <= file_size - 8, path, ": truncated or not a safetensors file (header of ", header_len,
                " bytes in a file of ", file_size, ")");
  LIEDNET_CHECK(header_len <= kMaxHeaderBytes, path, ": not a safetensors file (a header of ", header_len,
                " bytes; at most ", kMaxHeaderBytes, " are accepted)");
  return header_len;
}
}  // namespace

SafetensorsContents load_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  LIEDNET_CHECK(in, path, ": cannot open for reading");
  in.seekg(0, std::ios::end);
  const auto end = in.tellg();
  LIEDNET_CHECK(end >= 0, path, ": cannot tell the file's size (not a regular file?)");
  const uint64_t file_size = static_cast<uint64_t>(end);
  in.seekg(0);
  LIEDNET_CHECK(file_size >= 8, path, ": not a safetensors file (", file_size, " bytes, shorter than its header length)");
  char first8[8];
  in.read(first8, 8);
  LIEDNET_CHECK(in, path, ": could not read the header length");
  const uint64_t header_len = header_length(first8, file_size, path);
  std::string text(header_len, '\0');
  in.read(text.data(), static_cast<std::streamsize>(header_len));
  LIEDNET_CHECK(in, path, ": could not read the header");
  const Header h = parse_header(text, file_size - 8 - header_len, path);

  SafetensorsContents out;
  out.path = path;
  out.metadata = h.metadata;
  for (const Entry& e : h.entries) {
    out.tensors.push_back({e.key, read_entry(e, [&](uint64_t offset, char* dst, uint64_t n) {
                             in.seekg(static_cast<std::streamoff>(8 + header_len + offset));
                             in.read(dst, static_cast<std::streamsize>(n));
                             LIEDNET_CHECK(in, path, ": could not read tensor '", e.key, "'");
                           })});
  }
  return out;
}

SafetensorsContents parse_safetensors(const std::string& bytes, const std::string& name) {
  LIEDNET_CHECK(bytes.size() >= 8, name, ": not a safetensors file (", bytes.size(),
                " bytes, shorter than its header length)");
  const uint64_t header_len = header_length(bytes.data(), bytes.size(), name);
  const Header h = parse_header(bytes.substr(8, header_len), bytes.size() - 8 - header_len, name);
  SafetensorsContents out;
  out.path = name;
  out.metadata = h.metadata;
  const char* data = bytes.data() + 8 + header_len;
  for (const Entry& e : h.entries)
    out.tensors.push_back({e.key, read_entry(e, [&](uint64_t offset, char* dst, uint64_t n) {
                             std::memcpy(dst, data + offset, n);
                           })});
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

}  // namespace liednet
