// liednet init --output W.safetensors [--preset P] [--seed S]: fresh weights, upstream's initialisation.
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/format.h"
#include "liednet/liednet.h"
#include "nn/state_dict.h"

namespace liednet::cli {

int cmd_init(const std::vector<std::string>& argv) {
  Args args("init", argv, {"--preset", "--seed", "--output"}, {});
  const std::string out = args.get("--output");
  Generator gen(static_cast<uint64_t>(args.get_int("--seed", 10)));
  net::LIEDNet model(net::preset(args.get_or("--preset", "liednet")), gen);
  nn::save_weights(model, out, {{"preset", model.config.name}, {"format", "pt"}});
  std::printf("wrote %s: %s, %s parameters in %zu tensors\n", out.c_str(), model.config.name.c_str(),
              with_commas(model.parameter_count()).c_str(), model.named_parameters().size());
  return 0;
}

}  // namespace liednet::cli
