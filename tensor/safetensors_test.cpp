// The safetensors reader against malformed headers: every one an error that
// names the file and, where there is one, the tensor.
#include <doctest/doctest.h>

#include "test_util.h"

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "tensor/error.h"
#include "tensor/safetensors.h"

using namespace liednet;
using liednet::testing::has;

namespace {
// A file with this JSON header (padded to 8 bytes) and `data` bytes of zeros.
std::string file_with(const std::string& header, size_t data) {
  std::string h = header;
  h.append((8 - h.size() % 8) % 8, ' ');
  const uint64_t len = h.size();
  std::string out(reinterpret_cast<const char*>(&len), 8);
  return out + h + std::string(data, '\0');
}

std::string error_of(const std::string& header, size_t data) {
  try {
    parse_safetensors(file_with(header, data), "m.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_SUITE("tensor") {
  TEST_CASE("safetensors: shapes that overflow, offsets that overlap or run past the file are errors") {
    CHECK(error_of(R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})", 24).empty());
    CHECK(error_of(R"({"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8).empty());
    CHECK(error_of(R"({"a":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,0]}})", 0) ==
          "m.safetensors: tensor 'a': shape [1099511627776,1099511627776] overflows (more bytes than 2^63)");
    CHECK(error_of(R"({"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0) ==
          "m.safetensors: tensor 'a': shape [4611686018427387904] overflows (more bytes than 2^63)");
    CHECK(error_of(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0) ==
          "m.safetensors: tensor 'a': shape [-1] holds something other than a size (a whole number from 0 to 2^63 - 1)");
    CHECK(error_of(R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,10]}})", 10) ==
          "m.safetensors: tensor 'a': shape [2.5] holds something other than a size (a whole number from 0 to 2^63 - 1)");
    CHECK(error_of(R"({"a":{"dtype":"F32","shape":[1,1,1,1,1,1],"data_offsets":[0,4]}})", 4) ==
          "m.safetensors: tensor 'a': shape must be a list of at most 5 sizes, got [1,1,1,1,1,1]");
    CHECK(error_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12) ==
          "m.safetensors: tensors 'a' [0, 8) and 'b' [4, 12) overlap in the data");
    CHECK(error_of(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 12) ==
          "m.safetensors: tensor 'a' data [0, 16) lies outside the file's 12 data bytes (truncated file?)");
    CHECK(error_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8) ==
          "m.safetensors: tensor 'a' data [8, 0) lies outside the file's 8 data bytes (truncated file?)");
    CHECK(error_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8) ==
          "m.safetensors: tensor 'a': data_offsets must be [begin, end] in bytes, got [0]");
    CHECK(error_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":["0","8"]}})", 8) ==
          "m.safetensors: tensor 'a': data_offsets must be [begin, end] in bytes, got [\"0\",\"8\"]");
    CHECK(error_of(R"({"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", 8) ==
          "m.safetensors: tensor 'a': dtype must be a string, got 4");
    CHECK(error_of(R"({"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", 8) ==
          "m.safetensors: tensor 'a' has dtype I64; only F32, F64, F16 and BF16 are supported");
    CHECK(error_of(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8) ==
          "m.safetensors: tensor 'a' has 8 bytes but shape (3) needs 12");
    CHECK(error_of(R"({"a":[1,2]})", 0) == "m.safetensors: tensor 'a' lacks dtype, shape or data_offsets");
    CHECK(error_of(R"({"__metadata__":[1]})", 0) == "m.safetensors: __metadata__ must be a JSON object, got [1]");
    CHECK(error_of(R"([1,2])", 0) == "m.safetensors: header is not a JSON object");
    CHECK(error_of(R"({"a":)", 0).rfind("m.safetensors: header is not valid JSON (", 0) == 0);
  }

  TEST_CASE("safetensors: a header above 100 MB is refused before it is read") {
    namespace fs = std::filesystem;
    const fs::path path = fs::temp_directory_path() / ("liednet_big_header_" + std::to_string(::getpid()));
    const uint64_t len = 150'000'000;
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(&len), 8);
    fs::resize_file(path, len + 8);  // sparse: no disk used
    CHECK_THROWS_WITH(load_safetensors(path.string()),
                      has(path.string() + ": not a safetensors file (a header of 150000000 bytes; at most 100000000 are accepted)"));
    fs::remove(path);
  }

  TEST_CASE("safetensors: reading from memory gives what reading the file gives") {
    namespace fs = std::filesystem;
    const fs::path path = fs::temp_directory_path() / ("liednet_memory_" + std::to_string(::getpid()) + ".safetensors");
    Generator g(3);
    save_safetensors(path.string(), {{"a", Tensor::randn({2, 3}, g)}, {"b", Tensor::randn({4}, g, DType::F64)}},
                     {{"k", "v"}});
    const std::string bytes = testing::read_file(path.string());
    const SafetensorsContents a = load_safetensors(path.string()), b = parse_safetensors(bytes, "mem");
    REQUIRE(a.tensors.size() == b.tensors.size());
    for (size_t i = 0; i < a.tensors.size(); ++i) {
      CHECK(a.tensors[i].first == b.tensors[i].first);
      CHECK(a.tensors[i].second.to_vector() == b.tensors[i].second.to_vector());
    }
    CHECK(b.metadata == a.metadata);
    fs::remove(path);
  }
}
