#include "cli/bad_inputs.h"

#include <cstdio>

namespace liednet::cli {

void report_bad_inputs(const std::string& command, const std::vector<std::string>& errors, size_t total,
                       const std::string& done) {
  if (errors.empty()) return;
  if (total == 1) throw Error(errors[0]);
  std::fflush(stdout);  // the results' lines first
  for (const std::string& e : errors) std::fprintf(stderr, "liednet %s: %s\n", command.c_str(), e.c_str());
  const size_t good = total - errors.size();
  throw BadInputs(std::to_string(errors.size()) + " of " + std::to_string(total) + " inputs failed (listed above); " +
                      std::to_string(good) + (good == 1 ? " was " : " were ") + done,
                  errors);
}

}  // namespace liednet::cli
