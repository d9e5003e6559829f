// Whole training is bit-identical for any thread count: the loader (with its
// decoding workers), the forward and backward of LIEDNet and VGG19, the loss
// and Adam, three steps with 1 and with 2 threads, weights compared bit for bit.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>

#include <unistd.h>

#include "data/dataset.h"
#include "data/image.h"
#include "data/loader.h"
#include "liednet/vgg.h"
#include "nn/state_dict.h"
#include "tensor/parallel.h"
#include "train/trainer.h"

using namespace liednet;
namespace fs = std::filesystem;

namespace {

// Every parameter's bits after `steps` steps on `threads` threads.
std::vector<uint32_t> train_bits(int threads, int steps, const std::vector<data::Pair>& pairs, const std::string& vgg) {
  const int before = num_threads();
  set_num_threads(threads);
  train::TrainConfig c;
  c.path = "thread invariance";
  c.network = {8, {1, 1, 1}, 1, "dim8"};
  c.adam.lr = 1e-3;
  c.total_iter = 10;
  c.periods = {10};
  c.vgg_weights = vgg;  // the perceptual loss on, as upstream's recipe has it
  train::Trainer t(c);
  data::LoaderOptions lo;
  lo.batch = 2;
  lo.seed = 4;
  lo.workers = 2;
  lo.augment = {64, true, true};  // the side output (H/8) must survive VGG19's three poolings
  data::TrainLoader loader(pairs, lo);
  for (int i = 0; i < steps; ++i) {
    const data::TrainLoader::Batch b = loader.next();
    t.step(b.lq, b.gt);
  }
  std::vector<uint32_t> bits;
  for (auto& [name, p] : t.model().named_parameters()) {
    const size_t at = bits.size();
    bits.resize(at + p.numel());
    std::memcpy(bits.data() + at, p.data<float>(), p.numel() * sizeof(float));
  }
  set_num_threads(before);
  return bits;
}

}  // namespace

TEST_SUITE("train") {
  TEST_CASE("three training steps give bit-identical weights with 1 and 2 threads") {
    const fs::path dir = fs::temp_directory_path() / ("liednet_threads_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    Generator g(9);
    for (int i = 0; i < 4; ++i)
      for (const char* side : {"lq", "gt"})
        data::write_png((dir / side / (std::to_string(i) + ".png")).string(), Tensor::uniform({3, 72, 80}, 0, 1, g));
    const std::string vgg = (dir / "vgg19.safetensors").string();
    nn::save_weights(net::VGG19Features(g), vgg);
    const auto pairs = data::pair_folders({(dir / "lq").string(), (dir / "gt").string()});

    const std::vector<uint32_t> one = train_bits(1, 3, pairs, vgg), two = train_bits(2, 3, pairs, vgg);
    REQUIRE(one.size() == two.size());
    size_t differ = 0;
    for (size_t i = 0; i < one.size(); ++i) differ += one[i] != two[i];
    CHECK_MESSAGE(differ == 0, differ, " of ", one.size(), " weights differ between 1 and 2 threads");
    // And the steps did change the weights (the comparison is not of two untouched copies).
    CHECK(train_bits(1, 0, pairs, vgg) != one);
    fs::remove_all(dir);
  }
}
