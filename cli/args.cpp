#include "cli/args.h"

#include <cstdlib>

#include "autograd/profiler.h"
#include "ops/conv2d.h"
#include "tensor/cuda.h"
#include "tensor/error.h"

namespace liednet::cli {

namespace {
bool is_number(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  std::strtoll(s.c_str(), &end, 10);
  return *end == '\0';
}
}  // namespace

Args::Args(const std::string& command, const std::vector<std::string>& argv, const std::set<std::string>& valued,
           const std::set<std::string>& flags, size_t max_positional)
    : command_(command) {
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a.rfind("--", 0) == 0) {
      if (flags.count(a)) {
        flags_.insert(a);
      } else if (valued.count(a)) {
        LIEDNET_CHECK(i + 1 < argv.size(), "liednet ", command, ": option ", a, " needs a value");
        std::vector<std::string>& v = values_[a];
        v.push_back(argv[++i]);
        while (i + 1 < argv.size() && is_number(argv[i + 1]) && a == "--size") v.push_back(argv[++i]);
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
  LIEDNET_CHECK(is_number(v), "liednet ", command_, ": ", name, " expects an integer, got '", v, "'");
  return std::strtoll(v.c_str(), nullptr, 10);
}

std::vector<int64_t> Args::get_ints(const std::string& name) const {
  std::vector<int64_t> out;
  auto it = values_.find(name);
  if (it == values_.end()) return out;
  for (const std::string& v : it->second) {
    LIEDNET_CHECK(is_number(v), "liednet ", command_, ": ", name, " expects integers, got '", v, "'");
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
