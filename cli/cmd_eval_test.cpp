// `liednet eval` on a tiny pair of folders: the CSV it writes against the metric functions.
#include <doctest/doctest.h>

#include "test_util.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "data/image.h"
#include "data/metrics.h"
#include "tensor/error.h"
#include "cli/bad_inputs.h"
#include "cli/commands.h"

using namespace liednet;
namespace fs = std::filesystem;

namespace {

using testing::has;

std::vector<std::vector<std::string>> read_csv(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::vector<std::string>> rows;
  for (std::string line; std::getline(f, line);) {
    std::vector<std::string> cells;
    std::stringstream s(line);
    for (std::string cell; std::getline(s, cell, ',');) cells.push_back(cell);
    rows.push_back(cells);
  }
  return rows;
}

struct EvalFolders {
  fs::path dir;
  std::string pred, gt;
  std::vector<std::string> names{"a/1.png", "a/2.png", "b/1.png"};
  EvalFolders() {
    dir = fs::temp_directory_path() / ("liednet_eval_test_" + std::to_string(getpid()));
    fs::remove_all(dir);
    pred = (dir / "pred").string(), gt = (dir / "gt").string();
    Generator gen(5);
    for (size_t i = 0; i < names.size(); ++i) {
      fs::create_directories((dir / "gt" / names[i]).parent_path());
      fs::create_directories((dir / "pred" / names[i]).parent_path());
      Tensor g = Tensor::uniform({3, 14, 18}, 0.0, 1.0, gen);
      data::write_png((dir / "gt" / names[i]).string(), g);
      // The last prediction is exact: PSNR inf.
      Tensor p = i + 1 < names.size() ? Tensor::uniform({3, 14, 18}, 0.0, 1.0, gen) : g;
      if (i == 0) p = g.clone(), p.set({1, 3, 4}, 0.0), p.set({0, 7, 7}, 1.0);
      data::write_png((dir / "pred" / names[i]).string(), p);
    }
  }
  ~EvalFolders() { fs::remove_all(dir); }
  Tensor image(const std::string& side, size_t i) const { return data::read_image((dir / side / names[i]).string()); }
};

double cell(const std::string& s) { return s == "inf" ? INFINITY : std::stod(s); }

// Runs eval expecting cli::BadInputs with this message; returns each bad input's error.
std::vector<std::string> bad_inputs(const std::vector<std::string>& args, const std::string& summary) {
  try {
    cli::cmd_eval(args);
  } catch (const cli::BadInputs& e) {
    CHECK(std::string(e.what()) == summary);
    return e.errors;
  }
  FAIL("liednet eval did not report bad inputs");
  return {};
}

}  // namespace

TEST_SUITE("data") {
  TEST_CASE("liednet eval writes per-image PSNR and SSIM in both conventions, and the mean") {
    EvalFolders f;
    const std::string csv = (f.dir / "metrics.csv").string();
    REQUIRE(cli::cmd_eval({"--pred", f.pred, "--gt", f.gt, "--output", csv}) == 0);
    const auto rows = read_csv(csv);
    REQUIRE(rows.size() == 5);
    CHECK(rows[0] == std::vector<std::string>{"name", "psnr_basicsr", "ssim_basicsr", "psnr_paper", "ssim_paper"});
    std::vector<double> sums(4, 0.0);
    for (size_t i = 0; i < 3; ++i) {
      INFO("image ", f.names[i]);
      REQUIRE(rows[i + 1].size() == 5);
      CHECK(rows[i + 1][0] == f.names[i]);
      const Tensor p = f.image("pred", i), g = f.image("gt", i);
      const double want[4] = {data::psnr_basicsr(p, g), data::ssim_basicsr(p, g), data::psnr_paper(p, g),
                              data::ssim_paper(p, g)};
      for (int c = 0; c < 4; ++c) {
        const double got = cell(rows[i + 1][c + 1]);
        if (std::isinf(want[c])) {
          CHECK(rows[i + 1][c + 1] == "inf");
        } else {
          CHECK(got == doctest::Approx(want[c]).epsilon(1e-6));
        }
        sums[c] += want[c];
      }
    }
    CHECK(rows[4][0] == "mean");
    CHECK(rows[4][1] == "inf");  // the mean of PSNRs with an exact image is inf, as basicsr's
    CHECK(cell(rows[4][2]) == doctest::Approx(sums[1] / 3).epsilon(1e-6));
    CHECK(cell(rows[4][4]) == doctest::Approx(sums[3] / 3).epsilon(1e-6));
    CHECK(cell(rows[2][2]) < 0.2);  // unrelated images
    CHECK(cell(rows[3][2]) == 1.0);
  }

  TEST_CASE("liednet eval --convention picks the columns") {
    EvalFolders f;
    const std::string csv = (f.dir / "basicsr.csv").string();
    REQUIRE(cli::cmd_eval({"--pred", f.pred, "--gt", f.gt, "--convention", "basicsr", "--output", csv}) == 0);
    auto rows = read_csv(csv);
    CHECK(rows[0] == std::vector<std::string>{"name", "psnr", "ssim"});
    CHECK(cell(rows[1][2]) == doctest::Approx(data::ssim_basicsr(f.image("pred", 0), f.image("gt", 0))).epsilon(1e-7));
    REQUIRE(cli::cmd_eval({"--pred", f.pred, "--gt", f.gt, "--convention", "paper-bgr", "--output", csv}) == 0);
    rows = read_csv(csv);
    CHECK(rows[0] == std::vector<std::string>{"name", "psnr", "ssim"});
    CHECK(cell(rows[1][2]) ==
          doctest::Approx(data::ssim_paper(f.image("pred", 0), f.image("gt", 0), data::PaperLuma::upstream_bgr)).epsilon(1e-7));
    CHECK_THROWS_WITH(cli::cmd_eval({"--pred", f.pred, "--gt", f.gt, "--convention", "matlab"}),
                      doctest::Contains("--convention must be basicsr, paper, paper-bgr or both"));
  }

  TEST_CASE("liednet eval errors name the files") {
    EvalFolders f;
    // A prediction of another size: reported at the end, after the good pairs' CSV.
    data::write_png((f.dir / "pred" / "a/2.png").string(), Tensor::zeros({3, 14, 17}));
    const std::string partial = (f.dir / "partial.csv").string();
    const std::vector<std::string> bad = bad_inputs({"--pred", f.pred, "--gt", f.gt, "--output", partial},
                                                    "1 of 3 inputs failed (listed above); 2 were measured");
    REQUIRE(bad.size() == 1);
    CHECK(bad[0].find((f.dir / "pred" / "a/2.png").string() + " is 14x17 but " + (f.dir / "gt" / "a/2.png").string() +
                      " is 14x18") != std::string::npos);
    const auto rows = read_csv(partial);
    REQUIRE(rows.size() == 4);  // header, a/1.png, b/1.png, mean
    CHECK(rows[1][0] == "a/1.png");
    CHECK(rows[2][0] == "b/1.png");
    // A missing prediction: an error unless skipped.
    fs::remove(f.dir / "pred" / "a/2.png");
    CHECK_THROWS_WITH(cli::cmd_eval({"--pred", f.pred, "--gt", f.gt}),
                      has("1 only in the gt folder " + f.gt + " (a/2.png)"));
    const std::string csv = (f.dir / "skip.csv").string();
    CHECK(cli::cmd_eval({"--pred", f.pred, "--gt", f.gt, "--skip-unpaired", "--output", csv}) == 0);
    CHECK(read_csv(csv).size() == 4);
    // Images too small for SSIM's window.
    data::write_png((f.dir / "pred" / "b/1.png").string(), Tensor::zeros({3, 8, 8}));
    data::write_png((f.dir / "gt" / "b/1.png").string(), Tensor::zeros({3, 8, 8}));
    const std::vector<std::string> small = bad_inputs({"--pred", f.pred, "--gt", f.gt, "--skip-unpaired"},
                                                      "1 of 2 inputs failed (listed above); 1 was measured");
    REQUIRE(small.size() == 1);
    CHECK(small[0].find((f.dir / "pred" / "b/1.png").string() + " vs " + (f.dir / "gt" / "b/1.png").string()) !=
          std::string::npos);
    CHECK_THROWS_WITH(cli::cmd_eval({"--gt", f.gt}), doctest::Contains("missing --pred"));
  }
}
