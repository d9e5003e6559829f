// The liednet commands. Each takes its arguments (after the command name),
// prints to stdout, and returns the exit status; errors are exceptions.
#pragma once

#include <string>
#include <vector>

namespace liednet::cli {

int cmd_info(const std::vector<std::string>& args);
int cmd_init(const std::vector<std::string>& args);
int cmd_forward(const std::vector<std::string>& args);
int cmd_convert(const std::vector<std::string>& args);
int cmd_train(const std::vector<std::string>& args);
int cmd_synth(const std::vector<std::string>& args);
int cmd_eval(const std::vector<std::string>& args);
int cmd_enhance(const std::vector<std::string>& args);
int cmd_explain(const std::vector<std::string>& args);
int cmd_version(const std::vector<std::string>& args);

}  // namespace liednet::cli
