// Replays the fuzzers' inputs through the readers in the normal test run: the
// seed corpora (tests/fuzz/corpus/<reader>/) and every input a fuzzer ever
// found failing (tests/fuzz/regressions/<reader>/, kept once fixed). Each must
// load or fail with a liednet::Error naming the file; a crash here is the bug.
#include <doctest/doctest.h>

#include <filesystem>
#include <functional>

#include "test_util.h"

#include "data/image.h"
#include "nn/torch_checkpoint.h"
#include "tensor/error.h"
#include "tensor/safetensors.h"
#include "train/config.h"
#include "fuzz/yaml_value.h"

using namespace liednet;
namespace fs = std::filesystem;

namespace {

// Runs `read` on every input of the reader; returns how many loaded.
int replay(const std::string& reader, const std::function<void(const fs::path&)>& read) {
  const fs::path root = fs::path(LIEDNET_SOURCE_DIR) / "tests" / "fuzz";
  int inputs = 0, loaded = 0;
  for (const char* set : {"corpus", "regressions"}) {
    if (!fs::is_directory(root / set / reader)) continue;
    for (const auto& e : fs::directory_iterator(root / set / reader)) {
      INFO(e.path().string());
      ++inputs;
      try {
        read(e.path());
        ++loaded;
      } catch (const Error& err) {
        CHECK_MESSAGE(std::string(err.what()).find(e.path().string()) != std::string::npos, std::string(err.what()));  // names it
      } catch (const std::exception& err) {
        FAIL_CHECK("not a liednet::Error: ", err.what());
      }
    }
  }
  CHECK_MESSAGE(inputs >= 3, "the ", reader, " corpus is missing");
  return loaded;
}

}  // namespace

TEST_SUITE("data") {
  TEST_CASE("fuzz inputs replay: each loads or is a liednet::Error naming it") {
    const int images = replay("image", [](const fs::path& p) { data::read_image(p.string()); });
    CHECK(images >= 12);  // the image seeds are valid files of every kind
    replay("safetensors", [](const fs::path& p) { load_safetensors(p.string()); });
    replay("torch_checkpoint", [](const fs::path& p) { nn::load_torch_checkpoint(p.string()); });
    replay("yaml_config", [](const fs::path& p) { train::parse_train_config(testing::read_file(p.string()), p.string()); });
    // Config values: each must read as an error naming the file, or as a sane config (tests/fuzz/yaml_value.h).
    replay("yaml_value", [](const fs::path& p) {
      const std::string bytes = testing::read_file(p.string());
      const std::string yaml =
          fuzz::config_with_value(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      CHECK_MESSAGE(fuzz::value_reads_sanely(yaml, p.string()), yaml);
      train::check_losses(train::parse_train_config(yaml, p.string()));  // its error names the file for replay()
    });
  }
}
