#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "cli/overlap.h"
#include "tensor/error.h"

using namespace liednet;
namespace fs = std::filesystem;

TEST_SUITE("data") {
  TEST_CASE("check_outputs_apart: an output equal to, or inside, an input is refused, however spelled") {
    const fs::path root = fs::temp_directory_path() / "liednet_overlap_test";
    fs::remove_all(root);
    fs::create_directories(root / "in" / "sub");
    std::ofstream(root / "in" / "a.png") << "x";
    fs::create_symlink(root / "in", root / "link");
    const std::string in = (root / "in").string();
    auto refused = [&](const std::string& out) {
      try {
        cli::check_outputs_apart({{"--input", in}, {"--weights", ""}}, {"--output", out});
      } catch (const Error& e) {
        return std::string(e.what());
      }
      return std::string();
    };
    CHECK(refused(in) == "--output " + in + " is --input " + in + ": refusing to write over an input");
    CHECK(refused(in + "/").find("refusing to write over an input") != std::string::npos);
    CHECK(refused((root / "in" / "sub" / ".." / "a.png").string()).find("is inside --input") != std::string::npos);
    CHECK(refused((root / "link" / "new" / "deeper").string()).find("is inside --input") != std::string::npos);
    CHECK(refused((root / "in_results").string()).empty());  // a sibling whose name starts the same
    CHECK(refused((root / "out").string()).empty());
    CHECK(refused(root.string()).empty());  // a parent of the input: nothing written over it
    CHECK(cli::same_or_inside((root / "link" / "a.png").string(), in));
    CHECK(!cli::same_or_inside(in, (root / "in" / "sub").string()));
    // Relative spellings resolve against the working folder.
    const fs::path cwd = fs::current_path();
    fs::current_path(root);
    CHECK(refused("in/./sub").find("is inside --input") != std::string::npos);
    fs::current_path(cwd);
    fs::remove_all(root);
  }
}
