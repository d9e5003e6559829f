#include "cli/args.h"

#include <cerrno>
#include <cstdlib>

#include "autograd/profiler.h"
#include "ops/conv2d.h"
#include "tensor/cuda.h"
#include "tensor/error.h"

namespace liednet::cli {

namespace {
// An integer, all of `s`, that fits in 64 bits.
bool is_number(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  std::strtoll(s.c_str(), &end, 10);
  return *end == '\0' && errno == 0;
}

// Digits (with a sign) too many for 64 bits: said as such, not as "not an integer".
bool overflows(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  std::strtoll(s.c_str(), &end, 10);
  return *end == '\0' && errno == ERANGE;
}

std::string integer_error(const std::string& command, const std::string& name, const std::string& v, bool plural) {
  return "liednet " + command + ": " + name + (plural ? " expects integers" : " expects an integer") + ", got '" + v +
         "'" + (overflows(v) ? " (out of range)" : "");
}
}  // namespace

Args::Args(const std::string& command, const std::vector<std::string>& argv, const std::set<std::string>& valued,
           const std::set<std::string>& flags, size_t max_positional)
    : command_(command) {
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a.rfind("--", 0) == 0) {
      // Given twice, the second would be silently lost (or the first): an error.
      LIEDNET_CHECK(!flags_.count(a) && !values_.count(a), "liednet ", command, ": option ", a, " is given twice");
      if (flags.count(a)) {
        flags_.insert(a);
      } else if (valued.count(a)) {
        LIEDNET_CHECK(i + 1 < argv.size(), "liednet ", command, ": option ", a, " needs a value");
        std::vector<std::string>& v = values_[a];
        v.push_back(argv[++i]);
        while (i + 1 < argv.size() && (is_number(argv[i + 1]) || overflows(argv[i + 1])) && a == "--size") v.push_back(argv[++i]);
      } else {
        fail("liednet ", command, ": unknown option ", a);
      }
    } else {
      LIEDNET_CHECK(positional_.size() < max_positional, "liednet ", command, ": unexpected argument '", a, "'");
      positional_.push_back(a);
    }
  }
}

const std::string& Args::get(const std::string& name) const {
  auto it = values_.find(name);
  LIEDNET_CHECK(it != values_.end(), "liednet ", command_, ": missing ", name);
  return it->second.front();
}

std::string Args::get_or(const std::string& name, const std::string& fallback) const {
  return has(name) ? get(name) : fallback;
}

int64_t Args::get_int(const std::string& name, int64_t fallback) const {
  if (!has(name)) return fallback;
  const std::string& v = get(name);
  if (!is_number(v)) fail(integer_error(command_, name, v, false));
  return std::strtoll(v.c_str(), nullptr, 10);
}

std::vector<int64_t> Args::get_ints(const std::string& name) const {
  std::vector<int64_t> out;
  auto it = values_.find(name);
  if (it == values_.end()) return out;
  for (const std::string& v : it->second) {
    if (!is_number(v)) fail(integer_error(command_, name, v, true));
    out.push_back(std::strtoll(v.c_str(), nullptr, 10));
  }
  return out;
}

Device device_option(const Args& args, const std::string& command) {
  const std::string d = args.get_or("--device", "cpu");
  LIEDNET_CHECK(d == "cpu" || d == "cuda", "liednet ", command, ": --device must be cpu or cuda, got '", d, "'");
  LIEDNET_CHECK(d == "cuda" || !args.flag("--tf32"), "liednet ", command, ": --tf32 needs --device cuda");
  if (d == "cpu") return Device::CPU;
  LIEDNET_CHECK(cuda_device_count() > 0, "liednet ", command, ": --device cuda: ",
                cuda_built() ? "no GPU on this machine" : "this build has no CUDA backend");
  ops::set_cuda_tf32(args.flag("--tf32"));
  return Device::CUDA;
}

void profile_option(const Args& args) {
  if (args.flag("--profile")) profiler::enable_with_exit_report();
}

}  // namespace liednet::cli
