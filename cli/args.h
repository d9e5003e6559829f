// Command-line options: `--name value` pairs, `--flag` switches and positional
// arguments, checked against what the command accepts. Unknown options and
// missing values are errors that name them.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace liednet::cli {

class Args {
 public:
  // `valued`: options that take a value ("--weights"); `flags`: switches ("--side").
  Args(const std::string& command, const std::vector<std::string>& argv, const std::set<std::string>& valued,
       const std::set<std::string>& flags, size_t max_positional = 0);

  bool has(const std::string& name) const { return values_.count(name) > 0; }
  bool flag(const std::string& name) const { return flags_.count(name) > 0; }
  // The option's value; an error naming it when absent.
  const std::string& get(const std::string& name) const;
  std::string get_or(const std::string& name, const std::string& fallback) const;
  int64_t get_int(const std::string& name, int64_t fallback) const;
  std::vector<int64_t> get_ints(const std::string& name) const;  // "--size H W": the value and following numbers
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::string command_;
  std::map<std::string, std::vector<std::string>> values_;
  std::set<std::string> flags_;
  std::vector<std::string> positional_;
};

// --device cpu|cuda (default cpu); cuda needs a CUDA build and a GPU. The
// --tf32 switch (CUDA only) lets cuBLAS round GEMM inputs to TF32 on tensor cores.
Device device_option(const Args& args, const std::string& command);

// --profile: turns the op profiler on (autograd/profiler.h); its table is
// printed at exit and written as CSV ($LIEDNET_PROFILE_CSV or ./liednet_profile.csv).
void profile_option(const Args& args);

}  // namespace liednet::cli
