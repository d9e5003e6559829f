// Errors: every failure is a liednet::Error whose message names the op, the
// shapes, the file or the key. The CLI prints it on one line and exits non-zero.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace liednet {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Concatenates its arguments with operator<< and throws an Error.
template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  std::ostringstream s;
  (s << ... << args);
  throw Error(s.str());
}

}  // namespace liednet

// LIEDNET_CHECK(cond, "op: ", shape, ...): the message parts are only
// formatted when the check fails.
#define LIEDNET_CHECK(cond, ...)                 \
  do {                                           \
    if (!(cond)) ::liednet::fail(__VA_ARGS__);   \
  } while (0)
