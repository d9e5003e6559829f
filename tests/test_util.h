// Small helpers for the doctest suites.
#pragma once

#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <string>

namespace liednet::testing {

// doctest::Contains takes a C string; error messages are built as std::string.
inline doctest::Contains has(const std::string& s) { return doctest::Contains(s.c_str()); }

// A whole file's bytes ("" when it cannot be opened).
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace liednet::testing
