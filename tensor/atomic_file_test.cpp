// The atomic writer's temporary name and the clean-up of a killed writer's
// leftovers. A full disk is tested through the commands on a small tmpfs
// (tests/cli/full_disk_test.sh), which needs root.
#include <doctest/doctest.h>

#include "test_util.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "tensor/atomic_file.h"
#include "tensor/error.h"

using namespace liednet;
using liednet::testing::has;
namespace fs = std::filesystem;

namespace {
std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("liednet_atomic_" + std::to_string(::getpid()));
  TempDir() {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};
}  // namespace

TEST_SUITE("tensor") {
  TEST_CASE("write_file_atomically: the bytes land under the name, no temporary is left, a rewrite replaces") {
    TempDir d;
    const std::string path = (d.path / "sub" / "w.bin").string();
    CHECK(temporary_path(path) == path + ".tmp." + std::to_string(::getpid()));
    write_file_atomically(path, "first");
    write_file_atomically(path, std::string("second\0with a zero", 18));
    CHECK(testing::read_file(path) == std::string("second\0with a zero", 18));
    CHECK(!fs::exists(temporary_path(path)));
    CHECK(names_in(d.path / "sub") == std::vector<std::string>{"w.bin"});
  }

  TEST_CASE("write_file_atomically: an unwritable place is an error naming the file, the old file intact") {
    TempDir d;
    const fs::path blocker = d.path / "not_a_folder";
    write_file_atomically(blocker.string(), "x");
    const std::string inside = (blocker / "w.bin").string();
    CHECK_THROWS_WITH(write_file_atomically(inside, "y"), has(inside + ": cannot create its folder ("));
    CHECK(testing::read_file(blocker.string()) == "x");
  }

  TEST_CASE("temporary names: recognised, and a killed writer's removed at the next start") {
    long pid = 0;
    CHECK(is_temporary_name("ckpt_00000010.safetensors.tmp.1234", &pid));
    CHECK(pid == 1234);
    CHECK(!is_temporary_name("a.tmp.12x"));
    CHECK(!is_temporary_name("a.tmp."));
    CHECK(!is_temporary_name(".tmp.12"));
    CHECK(!is_temporary_name("notes.tmp"));

    TempDir d;
    // 999999999 is above any pid_max (at most 2^22), so no process has it.
    const std::string dead = "net_g_latest.safetensors.tmp.999999999";
    const std::string alive = "curves.svg.tmp." + std::to_string(::getppid());  // the test runner's parent
    for (const std::string& n : {dead, alive, std::string("keep.tmp.txt"), std::string("other.png.tmp.999999998")})
      std::ofstream(d.path / n) << "partial";
    fs::create_directories(d.path / "models");
    std::ofstream(d.path / "models" / dead) << "partial";

    CHECK(remove_stale_temporaries_of({(d.path / "net_g_latest.safetensors").string(), (d.path / "x.png").string()}) ==
          std::vector<std::string>{(d.path / dead).string()});
    CHECK(remove_stale_temporaries(d.path.string()) == std::vector<std::string>{(d.path / "other.png.tmp.999999998").string()});
    // Not recursive; a live process's temporary stays.
    CHECK(names_in(d.path) == std::vector<std::string>{alive, "keep.tmp.txt", "models"});
    CHECK(fs::exists(d.path / "models" / dead));
    CHECK(remove_stale_temporaries((d.path / "absent").string()).empty());
  }

  TEST_CASE("a file name of 250 bytes gets a temporary name within 255 bytes, and its leftovers are found") {
    TempDir d;
    const std::string name = std::string(246, 'n') + ".png";  // 250 bytes: legal, but not with ".tmp.<pid>"
    const std::string path = (d.path / name).string();
    const std::string tmp = fs::path(temporary_path(path)).filename().string();
    CHECK(tmp.size() <= 255);
    CHECK(is_temporary_name(tmp));
    CHECK(temporary_stem(name) != temporary_stem(std::string(245, 'n') + "x.png"));  // the hash tells them apart
    CHECK(temporary_stem("short.png") == "short.png");
    write_file_atomically(path, "bytes");
    CHECK(names_in(d.path) == std::vector<std::string>{name});
    // A killed writer's leftover under the shortened name is removed for this target.
    const std::string dead = temporary_stem(name) + ".tmp.999999997";
    std::ofstream(d.path / dead) << "partial";
    CHECK(remove_stale_temporaries_of({path}) == std::vector<std::string>{(d.path / dead).string()});
  }
}
