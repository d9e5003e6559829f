// liednet synth: clean photos to LOL-Blur-style training pairs (docs/synth.md).
#include <chrono>
#include <cstdio>

#include "data/synth.h"
#include "tensor/error.h"
#include "tensor/parallel.h"
#include "cli/args.h"
#include "cli/bad_inputs.h"
#include "cli/commands.h"
#include "cli/overlap.h"

namespace liednet::cli {

int cmd_synth(const std::vector<std::string>& argv) {
  Args args("synth", argv, {"--input", "--output", "--count", "--seed", "--config", "--size"}, {});
  data::SynthTreeOptions o;
  o.input = args.get("--input");
  o.output = args.get("--output");
  // An output folder inside the input is skipped when the photos are listed; the input itself is refused,
  // and so is an input inside the output (its photos would sit among the pairs).
  if (same_or_inside(o.input, o.output))
    fail("--output ", o.output, " holds --input ", o.input, ": refusing to write into an input folder");
  o.count = args.get_int("--count", 0);
  LIEDNET_CHECK(o.count >= 0, "liednet synth: --count must not be negative, got ", o.count);
  const int64_t seed = args.get_int("--seed", 0);
  LIEDNET_CHECK(seed >= 0, "liednet synth: --seed must not be negative, got ", seed);
  o.seed = static_cast<uint64_t>(seed);
  const std::vector<int64_t> size = args.get_ints("--size");
  LIEDNET_CHECK(size.size() <= 2, "liednet synth: --size takes S (square) or H W");
  if (!size.empty()) {
    o.size_h = size[0];
    o.size_w = size.back();
    LIEDNET_CHECK(o.size_h > 0 && o.size_w > 0 && o.size_h <= 16384 && o.size_w <= 16384,
                  "liednet synth: --size must lie in [1, 16384], got ", o.size_h, " ", o.size_w);
  }
  check_outputs_apart({{"--config", args.get_or("--config", "")}}, {"--output", o.output});
  if (args.has("--config")) o.params = data::load_synth_config(args.get("--config"));

  const auto start = std::chrono::steady_clock::now();
  const data::SynthTreeResult r = data::write_synth_tree(o);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("wrote %zu pairs from %lld photos to %s (low_blur_noise/, high_sharp_scaled/, synth_log.tsv), ",
              r.names.size(), static_cast<long long>(r.photos), o.output.c_str());
  if (o.size_h > 0)
    std::printf("%lldx%lld crops, ", static_cast<long long>(o.size_h), static_cast<long long>(o.size_w));
  else
    std::printf("whole images, ");
  std::printf("seed %llu, %.2f s on %d threads\n", static_cast<unsigned long long>(o.seed), seconds, num_threads());
  // Photos that could not be read: listed, and the exit status says so (the log lists what was written).
  report_bad_inputs("synth", r.bad, r.names.size() + r.bad.size(), "written");
  return 0;
}

}  // namespace liednet::cli
