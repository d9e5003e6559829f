// Upstream's own training config, verbatim (tests/upstream/train_LOLBlur.yml,
// from the authors' repository), with only its four data paths changed, as the
// README tells a user to do: it is read without an unknown key, it stops with
// a clear message while VGG19 weights are missing, and with them it builds the
// loader and the trainer and trains.
#include <doctest/doctest.h>

#include "test_util.h"

#include <cmath>
#include <filesystem>

#include <unistd.h>

#include "data/dataset.h"
#include "data/image.h"
#include "data/loader.h"
#include "liednet/vgg.h"
#include "nn/state_dict.h"
#include "train/config.h"
#include "train/run.h"
#include "train/trainer.h"

using namespace liednet;
namespace fs = std::filesystem;
using liednet::testing::has;

namespace {

std::string upstream_text() {
  const std::string text = testing::read_file(std::string(LIEDNET_SOURCE_DIR) + "/tests/upstream/train_LOLBlur.yml");
  REQUIRE_MESSAGE(!text.empty(), "tests/upstream/train_LOLBlur.yml is missing");
  return text;
}

// Upstream's text with its data root replaced by `root`: the four dataroot_* lines.
std::string with_data_root(std::string text, const std::string& root) {
  const std::string theirs = "/data/lowlight_data/LL_Blur/LOLBlur_Dataset";
  int replaced = 0;
  for (size_t at = text.find(theirs); at != std::string::npos; at = text.find(theirs, at + root.size()), ++replaced)
    text.replace(at, theirs.size(), root);
  CHECK(replaced == 4);
  return text;
}

// LOL-Blur's layout under `root`: `n` 256x256 pairs in train/, one in test/.
void make_lolblur(const fs::path& root, int n) {
  Generator g(3);
  for (const char* split : {"train", "test"})
    for (int i = 0; i < (std::string(split) == "train" ? n : 1); ++i)
      for (const char* side : {"low_blur_noise", "high_sharp_scaled"})
        data::write_png((root / split / side / "0001" / (std::to_string(i) + ".png")).string(),
                        Tensor::uniform({3, 256, 256}, 0, 1, g));
}

}  // namespace

TEST_SUITE("train") {
  TEST_CASE("upstream's train_LOLBlur.yml, verbatim but for its data paths, is read with upstream's values") {
    const train::TrainConfig c = train::parse_train_config(with_data_root(upstream_text(), "/d"), "train_LOLBlur.yml");
    for (const std::string& w : c.warnings) CHECK_MESSAGE(w.find("unknown key") == std::string::npos, w);
    CHECK(c.name == "LIEDNet_LOLBlur");
    CHECK(c.manual_seed == 10);
    CHECK(c.train.dataroot_lq == "/d/train/low_blur_noise");
    CHECK(c.train.dataroot_gt == "/d/train/high_sharp_scaled");
    REQUIRE(c.val.has_value());
    CHECK(c.val->dataroot_lq == "/d/test/low_blur_noise");
    CHECK(c.train.batch_size == 8);  // through the anchor &bsz
    CHECK(c.train.crop_size == 256);
    CHECK(c.train.use_flip);
    CHECK(c.train.use_rot);
    CHECK(c.train.workers == 4);
    CHECK(c.train.prefetch == 4);
    CHECK(c.adam.lr == 1e-4);
    CHECK(c.adam.beta1 == 0.9);
    CHECK(c.adam.beta2 == 0.99);
    CHECK(c.scheduler == "CosineAnnealingRestartLR");
    CHECK(c.periods == std::vector<int64_t>{500000});
    CHECK(c.eta_min == 1e-7);
    CHECK(c.total_iter == 500000);
    CHECK(c.warmup_iter == -1);
    CHECK(c.loss.pixel_weight == 1.0);
    CHECK(c.loss.perceptual_weight == 0.01);
    CHECK(c.loss.layer_weights == std::array<double, 4>{1, 1, 1, 1});
    CHECK(c.loss.use_side);
    CHECK(c.loss.side_weight == 0.8);
    CHECK(c.val_freq == 20000);
    CHECK(c.print_freq == 100);
    CHECK(c.save_checkpoint_freq == 20000);
    CHECK(c.vgg_weights.empty());
  }

  TEST_CASE("upstream's train_LOLBlur.yml stops on missing VGG19 weights, and trains once they are given") {
    const fs::path root = fs::temp_directory_path() / ("liednet_upstream_" + std::to_string(::getpid()));
    fs::remove_all(root);
    make_lolblur(root, 8);
    const std::string text = with_data_root(upstream_text(), root.string());
    CHECK_THROWS_WITH(train::Trainer(train::parse_train_config(text, "train_LOLBlur.yml")),
                      has("train_LOLBlur.yml: the perceptual loss needs VGG19 weights: set "
                          "train.perceptual_opt.vgg_weights"));
    CHECK_THROWS_WITH(train::Trainer(train::parse_train_config(text, "train_LOLBlur.yml")),
                      has("or set perceptual_weight: 0 to train without it"));

    // The one line a user adds: VGG19 weights (random ones here, in torchvision's layout).
    Generator g(1);
    const std::string vgg = (root / "vgg19.safetensors").string();
    nn::save_weights(net::VGG19Features(g), vgg);
    std::string with_vgg = text;
    const std::string anchor = "    criterion: l1\n";
    REQUIRE(with_vgg.find(anchor) != std::string::npos);
    with_vgg.insert(with_vgg.find(anchor) + anchor.size(), "    vgg_weights: " + vgg + "\n");
    const train::TrainConfig c = train::parse_train_config(with_vgg, "train_LOLBlur.yml");

    // The loader as `liednet train` builds it from the config: upstream's batch of 8 crops of 256.
    data::TrainLoader loader(data::pair_folders({c.train.dataroot_lq, c.train.dataroot_gt}), train::loader_options(c));
    const data::TrainLoader::Batch batch = loader.next();
    CHECK(batch.lq.shape() == Shape{8, 3, 256, 256});

    // A whole upstream iteration needs about 12 GB here; the test steps on a
    // 64x64 corner of the batch's first sample, with everything else upstream's.
    train::Trainer t(c);
    auto corner = [](const Tensor& b) {
      Tensor out = Tensor::empty({1, 3, 64, 64});
      for (int64_t ch = 0; ch < 3; ++ch)
        for (int64_t y = 0; y < 64; ++y)
          for (int64_t x = 0; x < 64; ++x) out.data<float>()[(ch * 64 + y) * 64 + x] = b.data<float>()[(ch * 256 + y) * 256 + x];
      return out;
    };
    const train::StepReport r = t.step(corner(batch.lq), corner(batch.gt));
    CHECK(r.iter == 1);
    CHECK(r.lr == 1e-4);
    CHECK(std::isfinite(r.total));
    CHECK(r.l_percep > 0);
    CHECK(r.l_side_percep > 0);
    fs::remove_all(root);
  }
}
