// Text formatting shared by the commands.
#pragma once

#include <cstdint>
#include <string>

namespace liednet::cli {

// 4755554 -> "4,755,554"
inline std::string with_commas(int64_t v) {
  const std::string digits = std::to_string(v);
  std::string s;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0 && digits[i - 1] != '-') s += ',';
    s += digits[i];
  }
  return s;
}

}  // namespace liednet::cli
