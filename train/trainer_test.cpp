#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "tensor/safetensors.h"
#include "train/trainer.h"
#include "train_configs.h"

using namespace liednet;

namespace {
const auto tiny_config = [] { return testing::tiny_train_config(); };

struct Batches {
  std::vector<Tensor> lq, gt;
};

// Fixed data: gt smooth random images, lq a darkened noisy copy.
Batches make_batches(int n, int64_t size) {
  Generator g(42);
  Batches b;
  for (int i = 0; i < n; ++i) {
    Tensor gt = Tensor::uniform({2, 3, size, size}, -0.8, 0.8, g);
    Tensor lq = Tensor::empty(gt.shape());
    for (int64_t k = 0; k < gt.numel(); ++k)
      lq.data<float>()[k] = static_cast<float>(0.3 * gt.data<float>()[k] - 0.6 + 0.02 * g.normal());
    b.lq.push_back(lq);
    b.gt.push_back(gt);
  }
  return b;
}

std::vector<double> all_weights(train::Trainer& t) {
  std::vector<double> out;
  for (auto& [k, p] : t.model().named_parameters()) {
    auto v = p.to_vector();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}
}  // namespace

TEST_SUITE("train") {
  TEST_CASE("a resumed run continues exactly: 2n steps == n steps + checkpoint + resume + n steps") {
    namespace fs = std::filesystem;
    const Batches data = make_batches(6, 32);
    const std::string ckpt = (fs::temp_directory_path() / "liednet_resume_test.safetensors").string();
    train::Trainer straight(tiny_config());
    for (int i = 0; i < 6; ++i) straight.step(data.lq[i], data.gt[i]);

    {
      train::Trainer first(tiny_config());
      for (int i = 0; i < 3; ++i) first.step(data.lq[i], data.gt[i]);
      first.save_checkpoint(ckpt, {7, 3});
    }
    train::TrainConfig other = tiny_config();
    other.manual_seed = 999;  // different initial weights: the checkpoint must override them
    train::Trainer resumed(other);
    train::RunPosition pos = resumed.load_checkpoint(ckpt);
    CHECK(pos.epoch == 7);
    CHECK(pos.cursor == 3);
    CHECK(resumed.iter() == 3);
    for (int i = 3; i < 6; ++i) resumed.step(data.lq[i], data.gt[i]);
    CHECK(resumed.iter() == 6);
    CHECK(all_weights(resumed) == all_weights(straight));  // bit-identical
    fs::remove(ckpt);
  }

  TEST_CASE("corrupt, partial and foreign checkpoints are clear errors") {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / "liednet_ckpt_errors";
    fs::create_directories(dir);
    train::Trainer t(tiny_config());
    const std::string good = (dir / "good.safetensors").string();
    t.save_checkpoint(good, {});
    std::string bytes;
    {
      std::ifstream in(good, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    const std::string cut = (dir / "cut.safetensors").string();
    std::ofstream(cut, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
    CHECK_THROWS_WITH(t.load_checkpoint(cut), doctest::Contains("cut.safetensors"));
    const std::string weights_only = (dir / "weights.safetensors").string();
    save_safetensors(weights_only, {{"x", Tensor::zeros({2})}});
    CHECK_THROWS_WITH(t.load_checkpoint(weights_only), doctest::Contains("weights.safetensors: not a liednet training checkpoint"));
    train::TrainConfig bigger = tiny_config();
    bigger.network.dim = 8;
    train::Trainer other(bigger);
    CHECK_THROWS_WITH(other.load_checkpoint(good), doctest::Contains("the checkpoint is of dim 4"));
    fs::remove_all(dir);
  }

  TEST_CASE("a non-finite loss stops before the update, naming the iteration and the term") {
    const Batches data = make_batches(2, 16);
    train::Trainer t(tiny_config());
    t.step(data.lq[0], data.gt[0]);
    const std::vector<double> before = all_weights(t);
    Tensor bad = data.gt[1].clone();
    bad.data<float>()[5] = std::nanf("");
    CHECK_THROWS_WITH(t.step(data.lq[1], bad), doctest::Contains("iteration 2: loss term l_pix is nan"));
    CHECK(t.iter() == 1);
    CHECK(all_weights(t) == before);
  }

  TEST_CASE("memory does not grow over steps: each step's graph is freed") {
    const Batches data = make_batches(1, 32);
    train::Trainer t(tiny_config());
    t.step(data.lq[0], data.gt[0]);  // Adam's moments exist from here on
    const size_t held = host_bytes_in_use();
    for (int i = 0; i < 5; ++i) {
      t.step(data.lq[0], data.gt[0]);
      CHECK(host_bytes_in_use() == held);
    }
  }

  TEST_CASE("training lowers the loss on a tiny fixed set") {
    const Batches data = make_batches(2, 32);
    train::TrainConfig c = tiny_config();
    c.network = {8, {1, 1, 1}, 1, "small"};
    train::Trainer t(c);
    const double first = t.step(data.lq[0], data.gt[0]).total;
    double last = 0;
    for (int i = 1; i < 40; ++i) last = t.step(data.lq[i % 2], data.gt[i % 2]).total;
    MESSAGE("loss ", first, " -> ", last, " in 40 steps");
    CHECK(last < 0.6 * first);
  }

  TEST_CASE("the learning rate follows BasicSR's iteration convention") {
    train::TrainConfig c = tiny_config();
    train::Trainer t(c);
    CHECK(t.lr_for(1) == doctest::Approx(1e-3));  // iteration 1 uses lr(0) = base
    CHECK(t.lr_for(51) == doctest::Approx(1e-6 + 0.5 * (1e-3 - 1e-6)));
    c.warmup_iter = 10;
    train::Trainer w(c);
    CHECK(w.lr_for(5) == doctest::Approx(0.5e-3));
  }
}
