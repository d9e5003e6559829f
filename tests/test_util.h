// Small helpers for the doctest suites.
#pragma once

#include <doctest/doctest.h>

#include <string>

namespace liednet::testing {

// doctest::Contains takes a C string; error messages are built as std::string.
inline doctest::Contains has(const std::string& s) { return doctest::Contains(s.c_str()); }

}  // namespace liednet::testing
