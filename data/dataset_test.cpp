#include <doctest/doctest.h>

#include "test_util.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "data/dataset.h"
#include "tensor/error.h"

using namespace liednet;
namespace fs = std::filesystem;

namespace {

using testing::has;

// A fresh folder under the temporary directory, removed at the end of the test.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag) {
    path = fs::temp_directory_path() / ("liednet_dataset_test_" + std::to_string(getpid()) + "_" + tag);
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string str() const { return path.string(); }
};

// Pairing looks at names only: the files need not be real images.
void touch(const fs::path& root, const std::string& rel) {
  fs::create_directories((root / rel).parent_path());
  std::ofstream(root / rel) << "x";
}

std::vector<std::string> names(const std::vector<data::Pair>& pairs) {
  std::vector<std::string> out;
  for (const auto& p : pairs) out.push_back(p.name);
  return out;
}

}  // namespace

TEST_SUITE("data") {
  TEST_CASE("pair_folders pairs nested folders by relative path, sorted") {
    TempDir d("nested");
    for (const char* rel : {"0002/0001.png", "0001/0002.png", "0001/0001.png", "0010/deep/x.PNG"}) {
      touch(d.path / "low", rel);
      touch(d.path / "high", rel);
    }
    touch(d.path / "low", "0001/notes.txt");  // not an image: ignored
    touch(d.path / "high", ".DS_Store");
    touch(d.path / "high", "0001/._0003.png");  // macOS resource fork: ignored
    const auto pairs = data::pair_folders({(d.path / "low").string(), (d.path / "high").string()});
    CHECK(names(pairs) == std::vector<std::string>{"0001/0001.png", "0001/0002.png", "0002/0001.png", "0010/deep/x.PNG"});
    CHECK(pairs[1].lq_path == (d.path / "low" / "0001/0002.png").string());
    CHECK(pairs[1].gt_path == (d.path / "high" / "0001/0002.png").string());
  }

  TEST_CASE("pair_folders never pairs files whose relative paths differ, unlike sorted-name pairing") {
    // Upstream zips the two sorted lists and compares base names: here both
    // folders hold two files named 0001.png, so it would pair low/b/0001.png
    // with high/c/0001.png without a word.
    TempDir d("mispair");
    touch(d.path / "low", "a/0001.png");
    touch(d.path / "low", "b/0001.png");
    touch(d.path / "high", "a/0001.png");
    touch(d.path / "high", "c/0001.png");
    const std::string low = (d.path / "low").string(), high = (d.path / "high").string();
    CHECK_THROWS_WITH_AS(data::pair_folders({low, high}), doctest::Contains("2 images without a partner"), Error);
    CHECK_THROWS_WITH(data::pair_folders({low, high}), has("1 only in the lq folder " + low + " (b/0001.png)"));
    CHECK_THROWS_WITH(data::pair_folders({low, high}), has("1 only in the gt folder " + high + " (c/0001.png)"));
    std::string warning;
    const auto pairs = data::pair_folders({low, high, true}, &warning);
    CHECK(names(pairs) == std::vector<std::string>{"a/0001.png"});
    CHECK(warning.find("skipped 2 unpaired images") != std::string::npos);
    CHECK(warning.find("b/0001.png") != std::string::npos);
    CHECK(warning.find("c/0001.png") != std::string::npos);
  }

  TEST_CASE("pair_folders lists every unpaired file in one error, the first ten per side and a count") {
    TempDir d("unpaired");
    for (int i = 0; i < 5; ++i) {
      touch(d.path / "lq", "v/" + std::to_string(100 + i) + ".png");
      touch(d.path / "gt", "v/" + std::to_string(100 + i) + ".png");
    }
    for (int i = 0; i < 13; ++i) touch(d.path / "lq", "extra/" + std::to_string(200 + i) + ".png");
    touch(d.path / "gt", "v/999.png");
    touch(d.path / "gt", "v/100.jpg");  // another extension is another file
    const std::string lq = (d.path / "lq").string(), gt = (d.path / "gt").string();
    std::string message;
    try {
      data::pair_folders({lq, gt});
    } catch (const Error& e) {
      message = e.what();
    }
    INFO(message);
    CHECK(message.find("15 images without a partner") != std::string::npos);
    CHECK(message.find("13 only in the lq folder " + lq) != std::string::npos);
    CHECK(message.find("extra/200.png, extra/201.png") != std::string::npos);
    CHECK(message.find("extra/209.png ... and 3 more") != std::string::npos);
    CHECK(message.find("extra/210.png") == std::string::npos);
    CHECK(message.find("2 only in the gt folder " + gt + " (v/100.jpg, v/999.png)") != std::string::npos);

    std::string warning;
    const auto pairs = data::pair_folders({lq, gt, true}, &warning);
    CHECK(pairs.size() == 5);
    CHECK(warning.rfind("skipped 15 unpaired images: 13 only in the lq folder", 0) == 0);
    CHECK(warning.find('\n') == std::string::npos);
    CHECK_NOTHROW(data::pair_folders({lq, gt, true}));  // the warning is optional
  }

  TEST_CASE("pair_folders: missing, empty and fully unpaired folders are clear errors") {
    TempDir d("missing");
    touch(d.path / "gt", "a.png");
    fs::create_directories(d.path / "empty");
    touch(d.path / "empty", "readme.txt");
    const std::string gt = (d.path / "gt").string();
    CHECK_THROWS_WITH(data::pair_folders({"/nonexistent/lq", gt}), "lq folder /nonexistent/lq does not exist");
    CHECK_THROWS_WITH(data::pair_folders({gt, "/nonexistent/gt"}), "gt folder /nonexistent/gt does not exist");
    CHECK_THROWS_WITH(data::pair_folders({(d.path / "empty").string(), gt}),
                      has("lq folder " + (d.path / "empty").string() + " holds no images"));
    CHECK_THROWS_WITH(data::pair_folders({(d.path / "gt" / "a.png").string(), gt}), doctest::Contains("is not a folder"));
    CHECK_THROWS_WITH(data::pair_folders({"", gt}), doctest::Contains("lq folder not given"));
    touch(d.path / "other", "b.png");
    CHECK_THROWS_WITH(data::pair_folders({(d.path / "other").string(), gt, true}),
                      doctest::Contains("no image has the same relative path in both"));
    data::PairedFolders roles{(d.path / "other").string(), gt};
    roles.lq_role = "pred";
    CHECK_THROWS_WITH(data::pair_folders(roles), doctest::Contains("1 only in the pred folder"));
  }

  TEST_CASE("list_images: recursive, sorted by relative path, extensions in any case") {
    TempDir d("list");
    for (const char* rel : {"b.JPG", "a/z.bmp", "a/y.jpeg", "c.png", "d.gif", "e.png.txt"}) touch(d.path, rel);
    CHECK(data::list_image_names(d.str()) == std::vector<std::string>{"a/y.jpeg", "a/z.bmp", "b.JPG", "c.png"});
    const auto full = data::list_images(d.str());
    REQUIRE(full.size() == 4);
    CHECK(full[0] == (d.path / "a/y.jpeg").string());
    CHECK(data::is_image_file("/x/y/IMG.Png"));
    CHECK_FALSE(data::is_image_file("/x/y/IMG.tiff"));
    CHECK_FALSE(data::is_image_file("/x/y/.hidden.png"));
    CHECK_THROWS_WITH(data::list_images("/nonexistent/images"), "image folder /nonexistent/images does not exist");
  }

  TEST_CASE("walk_images: each problem named, the walk goes on past it") {
    TempDir d("walk");
    for (const char* rel : {"a.png", "sub/b.png", "sub/deeper/c.jpg", "locked/d.png"}) touch(d.path, rel);
    fs::create_directory_symlink(d.path, d.path / "sub" / "up");          // a loop back to the root
    fs::create_symlink(d.path / "gone.png", d.path / "sub" / "dangling.png");  // an image name pointing nowhere
    fs::create_directory_symlink(d.path / "sub" / "deeper", d.path / "alias");  // a link to a folder: followed
    fs::permissions(d.path / "locked", fs::perms::none);
    const bool root = ::geteuid() == 0;  // root reads any folder
    std::vector<std::string> problems;
    const std::vector<std::string> found = data::walk_images(d.str(), &problems);
    fs::permissions(d.path / "locked", fs::perms::owner_all);
    std::vector<std::string> expected{"a.png", "alias/c.jpg", "sub/b.png", "sub/deeper/c.jpg"};
    if (root) expected.insert(expected.begin() + 2, "locked/d.png");
    CHECK(found == expected);
    std::sort(problems.begin(), problems.end());
    std::vector<std::string> said{(d.path / "sub" / "dangling.png").string() + ": a link to " +
                                      (d.path / "gone.png").string() + ", which does not exist",
                                  (d.path / "sub" / "up").string() + ": a link back to " +
                                      fs::canonical(d.path).string() + " (a loop), not followed"};
    if (!root) said.insert(said.begin(), (d.path / "locked").string() + ": cannot read this folder (Permission denied)");
    CHECK(problems == said);
    // Without a list for them, the first problem is the error, naming the folder and the count.
    CHECK_THROWS_WITH(data::list_image_names(d.str()), has("image folder " + d.str() + ": "));
    // A folder to skip is not entered (synth's output inside its input).
    problems.clear();
    CHECK(data::walk_images(d.str(), &problems, (d.path / "sub").string()) ==
          std::vector<std::string>{"a.png", "alias/c.jpg", "locked/d.png"});
  }
}
