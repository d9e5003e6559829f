// Commands that process many files (enhance, eval) go on past a bad input and
// report every bad one at the end, after writing the results of the others.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "tensor/error.h"

namespace liednet::cli {

// The error thrown at the end: its message counts the bad inputs, `errors`
// holds each one's message (also printed on stderr, one line each).
class BadInputs : public Error {
 public:
  BadInputs(const std::string& what, std::vector<std::string> errors) : Error(what), errors(std::move(errors)) {}
  std::vector<std::string> errors;
};

// Nothing when `errors` is empty. Otherwise prints one line per error on
// stderr ("liednet <command>: <error>") and throws BadInputs:
// "2 of 5 inputs failed (listed above); 3 were <done>". With a
// single input, its error is thrown as it is (one line).
void report_bad_inputs(const std::string& command, const std::vector<std::string>& errors, size_t total,
                       const std::string& done);

}  // namespace liednet::cli
