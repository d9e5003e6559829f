#include "data/input_range.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "data/image.h"
#include "tensor/error.h"

namespace liednet::data {

InputRange parse_input_range(const std::string& text, const std::string& what) {
  std::string t;
  for (char c : text)
    if (c != ' ' && c != '[' && c != ']') t += c;
  if (t == "0,1") return InputRange::Unit;
  if (t == "-1,1") return InputRange::Signed;
  fail(what, ": the input range must be 0,1 or -1,1, got '", text, "'");
}

std::string input_range_text(InputRange r) { return r == InputRange::Unit ? "0,1" : "-1,1"; }

WeightsRange weights_input_range(const std::string& path) {
  WeightsRange w;
  std::ifstream in(path, std::ios::binary);
  unsigned char len[8] = {};
  uint64_t n = 0;
  if (in && in.read(reinterpret_cast<char*>(len), 8))
    for (int i = 7; i >= 0; --i) n = (n << 8) | len[i];
  std::string header;
  if (n > 0 && n < (uint64_t{100} << 20)) {
    header.resize(n);
    if (!in.read(header.data(), static_cast<std::streamsize>(n))) header.clear();
  }
  nlohmann::json j = nlohmann::json::parse(header, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("__metadata__") && j["__metadata__"].is_object() &&
      j["__metadata__"].contains("input_range") && j["__metadata__"]["input_range"].is_string()) {
    w.range = parse_input_range(j["__metadata__"]["input_range"].get<std::string>(), path + " (metadata input_range)");
    w.recorded = true;
    w.note = path + ": input range [" + (w.range == InputRange::Unit ? "0, 1" : "-1, 1") + "] (recorded in the weights)";
  } else {
    w.note = path + ": no input range recorded in the weights; assuming [-1, 1] (the LOL-Blur recipe's); weights "
                    "of the low-light recipe need `liednet convert --input-range 0,1`";
  }
  return w;
}

Tensor to_network_range(const Tensor& image01, InputRange r) {
  return r == InputRange::Unit ? image01.clone() : to_model_range(image01);
}

Tensor from_network_range(const Tensor& out, InputRange r) {
  if (r == InputRange::Signed) return to_unit_range(out);
  Tensor c = Tensor::empty(out.shape(), out.dtype());
  LIEDNET_DISPATCH(out.dtype(), T, {
    const T* s = out.data<T>();
    T* d = c.data<T>();
    for (int64_t i = 0; i < c.numel(); ++i) d[i] = std::min(std::max(s[i], T(0)), T(1));
  });
  return c;
}

}  // namespace liednet::data
