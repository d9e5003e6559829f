#include <doctest/doctest.h>

#include <cmath>

#include "autograd/autograd.h"
#include "liednet/explain.h"
#include "ops/activation.h"
#include "ops/channels.h"
#include "ops/elementwise.h"
#include "test_util.h"

using namespace liednet;

namespace {
double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const std::vector<double> x = a.to_vector(), y = b.to_vector();
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

// A small network in f64 (dim 8, one block per level, one refinement block).
std::unique_ptr<net::LIEDNet> tiny_net(uint64_t seed, std::array<int64_t, 3> blocks = {1, 1, 1}, int64_t refinement = 1) {
  Generator g(seed);
  auto m = std::make_unique<net::LIEDNet>(net::LIEDNetConfig{8, blocks, refinement, "tiny"}, g);
  m->to(DType::F64);
  return m;
}
}  // namespace

TEST_SUITE("nn") {
  TEST_CASE("explain: the four scan directions sum to SS2D's scan and rebuild the block's SS2D output") {
    Generator g(31);
    net::LocalMambaBlock block(8, g);
    block.to(DType::F64);
    const Tensor x = Tensor::randn({2, 8, 5, 7}, g, DType::F64);
    const std::array<Tensor, 4> ys = net::scan_directions(block, x);
    autograd::NoGradGuard no_grad;
    Tensor y = ys[0];
    for (int k = 1; k < 4; ++k) {
      CHECK(ys[k].shape() == Shape{2, 16, 5, 7});
      y = ops::add(y, ys[k]);
    }
    const net::SS2D& s = *block.op;
    const Tensor n = block.norm->forward(x);
    const Tensor z = ops::silu(ops::slice_channels(s.in_proj->forward(n), s.d_inner, 2 * s.d_inner));
    const Tensor rebuilt = s.out_proj->forward(ops::mul(s.out_norm->forward(y), z));
    CHECK(max_abs_diff(rebuilt, s.forward(n)) < 1e-12);
    // The directions are different scans, not copies of one.
    CHECK(max_abs_diff(ys[0], ys[2]) > 1e-3);
    CHECK(max_abs_diff(ys[1], ys[3]) > 1e-3);
  }

  TEST_CASE("explain: SS2D keeping one direction is out_proj(out_norm(y_j) * z) with that direction's scan alone") {
    Generator g(41);
    net::LocalMambaBlock block(8, g);
    block.to(DType::F64);
    const Tensor x = Tensor::randn({1, 8, 5, 6}, g, DType::F64);
    const std::array<Tensor, 4> ys = net::scan_directions(block, x);
    net::SS2D& s = *block.op;
    autograd::NoGradGuard no_grad;
    const Tensor n = block.norm->forward(x);
    const Tensor z = ops::silu(ops::slice_channels(s.in_proj->forward(n), s.d_inner, 2 * s.d_inner));
    for (int j = 0; j < 4; ++j) {
      s.only_direction = j;
      const Tensor rebuilt = s.out_proj->forward(ops::mul(s.out_norm->forward(ys[j]), z));
      CHECK_MESSAGE(max_abs_diff(rebuilt, s.forward(n)) < 1e-12, "direction ", j);
    }
    s.only_direction = 4;
    CHECK_THROWS_WITH(s.forward(n), testing::has("only_direction must be -1 or 0..3"));
    s.only_direction = -1;
  }

  TEST_CASE("explain: the LFM's channel weights reproduce the LFM's output") {
    Generator g(32);
    net::LocalMambaBlock block(8, g);
    block.to(DType::F64);
    const Tensor x = Tensor::randn({3, 8, 4, 6}, g, DType::F64);
    const Tensor w = net::lfm_channel_weights(block, x);
    CHECK(w.shape() == Shape{3, 8});
    for (double v : w.to_vector()) CHECK((v > 0 && v < 1));
    autograd::NoGradGuard no_grad;
    const Tensor n = block.norm->forward(x);
    CHECK(max_abs_diff(ops::mul_channel(n, w), block.local->forward(n)) < 1e-14);
  }

  TEST_CASE("explain: mass radii around (H/2, W/2)") {
    Tensor m = Tensor::zeros({9, 12}, DType::F64);
    CHECK(net::mass_radii(m) == std::array<double, 3>{0, 0, 0});
    m.set({4, 6}, 2.0);  // the centre
    CHECK(net::mass_radii(m) == std::array<double, 3>{0, 0, 0});
    m.set({4, 9}, 1.0);  // 3 to the right: a third of the mass
    CHECK(net::mass_radii(m) == std::array<double, 3>{0, 0, 3});
    m.set({4, 6}, 1.0);  // half at the centre, half at 3: 50% is reached at the centre
    CHECK(net::mass_radii(m) == std::array<double, 3>{0, 0, 3});
    m.set({4, 6}, 0.0);
    m.set({0, 2}, 1.0);  // (-4, -4): distance sqrt(32)
    CHECK(net::mass_radii(m) == std::array<double, 3>{3, 3, std::sqrt(32.0)});
    CHECK_THROWS_WITH(net::mass_radii(Tensor::zeros({3})), testing::has("must be (H, W)"));
  }

  TEST_CASE("explain: patch_embed's ERF is exactly the 2x2 patch under its centre pixel; only the input gets gradients") {
    auto m = tiny_net(33);
    Generator g(34);
    const Tensor x = Tensor::uniform({2, 3, 16, 24}, -1, 1, g, DType::F64);
    const std::vector<net::StageERF> erf = net::effective_receptive_fields(*m, x);
    REQUIRE(erf.size() == net::erf_stages().size());
    CHECK(erf[0].stage == "patch_embed");
    CHECK(erf[0].shape == Shape{8, 8, 12});
    // The centre pixel (4, 6) of the stride-2 patch embedding reads input rows 8..9, columns 12..13.
    for (int64_t y = 0; y < 16; ++y)
      for (int64_t xx = 0; xx < 24; ++xx) {
        const bool inside = (y == 8 || y == 9) && (xx == 12 || xx == 13);
        CHECK_MESSAGE((erf[0].map.at({y, xx}) > 0) == inside, "pixel ", y, ", ", xx);
      }
    // Deeper stages see further; the final output sees the whole 16 x 24 input (SS2D and the LFM are global).
    CHECK(erf.back().stage == "output");
    CHECK(erf.back().radius[2] > erf[1].radius[2]);
    for (double v : erf.back().map.to_vector()) CHECK(v > 0);
    for (const auto& [name, p] : m->named_parameters()) {
      CHECK_MESSAGE(p.requires_grad(), name);
      CHECK_MESSAGE(!p.grad().defined(), name);
    }
    // One image at a time or both at once: the same maps (images are independent).
    const std::vector<net::StageERF> erf2 = net::effective_receptive_fields(*m, x, 2);
    for (size_t i = 0; i < erf.size(); ++i) CHECK(max_abs_diff(erf[i].map, erf2[i].map) < 1e-14);
  }

  TEST_CASE("explain: the whole analysis, and the model comes back unchanged") {
    auto m = tiny_net(35, {1, 2, 2}, 2);
    Generator g(36);
    const Tensor x = Tensor::uniform({2, 3, 16, 16}, -1, 1, g, DType::F64);
    net::ExplainOptions opt;
    opt.without_ss2d = true;
    opt.scan_blocks = {"encoder_level2.1"};
    std::vector<std::string> progress;
    opt.progress = [&](const std::string& pass, int64_t done, int64_t total) {
      progress.push_back(pass + " " + std::to_string(done) + "/" + std::to_string(total));
    };
    const net::Explanation e = net::explain(*m, x, opt);
    CHECK(e.images == 2);
    CHECK(progress == std::vector<std::string>{"network 1/2", "network 2/2", "without SS2D 1/2", "without SS2D 2/2",
                                               "directions of encoder_level1.0 2/2", "directions of encoder_level2.1 2/2",
                                               "directions of encoder_level3.0 2/2", "directions of decoder_level2.0 2/2",
                                               "directions of decoder_level1.0 2/2", "directions of refinement.0 2/2"});
    // Per-direction ERFs of the same blocks, input-sized; the four directions see differently.
    REQUIRE(e.erf_dir.size() == 6);
    CHECK(e.erf_dir[1].first == "encoder_level2.1");
    for (const auto& [block, maps] : e.erf_dir)
      for (int k = 0; k < 4; ++k) CHECK_MESSAGE((maps[k].shape() == Shape{16, 16}), block);
    CHECK(max_abs_diff(e.erf_dir[0].second[0], e.erf_dir[0].second[2]) > 1e-9);
    CHECK(max_abs_diff(e.erf_dir[0].second[1], e.erf_dir[0].second[3]) > 1e-9);
    for (const auto& [name, b] : m->named_blocks()) CHECK_MESSAGE(b->op->only_direction == -1, name);
    REQUIRE(e.erf_without_ss2d.size() == e.erf.size());
    // Nothing before the first block has an SS2D; every later stage depends on it.
    CHECK(max_abs_diff(e.erf[0].map, e.erf_without_ss2d[0].map) == 0);
    CHECK(max_abs_diff(e.erf.back().map, e.erf_without_ss2d.back().map) > 1e-6);
    std::vector<std::string> scanned;
    for (const auto& [block, maps] : e.scan) scanned.push_back(block);
    CHECK(scanned == std::vector<std::string>{"encoder_level1.0", "encoder_level2.1", "encoder_level3.0",
                                              "decoder_level2.0", "decoder_level1.0", "refinement.0"});
    CHECK(e.scan[1].second[0].shape() == Shape{4, 4});
    CHECK(e.lfm.size() == 10);
    CHECK(e.lfm[2].first == "encoder_level2.1");
    CHECK(e.lfm[2].second.shape() == Shape{16});
    REQUIRE(e.features.size() == 7);
    CHECK(e.features[0].maps.shape() == Shape{8, 8, 8});   // patch_embed has 8 channels: all of them
    CHECK(e.features[6].maps.shape() == Shape{16, 8, 8});  // refinement: 16 channels
    CHECK(e.output.shape() == Shape{2, 3, 16, 16});
    CHECK(e.side.shape() == Shape{2, 3, 2, 2});
    // The model as it was: the SS2D switches off, no observers, parameters trainable.
    for (const auto& [name, b] : m->named_blocks()) CHECK_MESSAGE(!b->without_ss2d, name);
    CHECK(!m->observer);
    CHECK(!m->block_input_observer);
    for (const auto& [name, p] : m->named_parameters()) CHECK_MESSAGE(p.requires_grad(), name);

    CHECK_THROWS_WITH(net::explain(*m, x, {.scan_blocks = {"encoder_level2.7"}}), testing::has("no block 'encoder_level2.7'"));
    CHECK_THROWS_WITH(net::explain(*m, Tensor::zeros({1, 3, 12, 16}, DType::F64)), testing::has("multiples of 8"));
    CHECK_THROWS_WITH(net::explain(*m, Tensor::zeros({1, 3, 16, 16})), testing::has("must have one dtype"));
    autograd::NoGradGuard no_grad;
    CHECK_THROWS_WITH(net::explain(*m, x), testing::has("NoGradGuard"));
  }

  TEST_CASE("explain: the SS2D switch replaces the global branch by zeros") {
    Generator g(37);
    net::LocalMambaBlock block(8, g);
    const Tensor x = Tensor::randn({1, 8, 4, 5}, g);
    autograd::NoGradGuard no_grad;
    const Tensor with = block.forward(x);
    block.without_ss2d = true;
    const Tensor without = block.forward(x);
    // By hand: fusion(cat(0, LFM(norm x))) + x, then the FFN's residual.
    const Tensor n = block.norm->forward(x);
    const Tensor y = ops::add(block.fusion->forward(ops::concat_channels({Tensor::zeros(n.shape()), block.local->forward(n)})), x);
    const Tensor expected = ops::add(block.ffn->forward(block.norm2->forward(y)), y);
    CHECK(max_abs_diff(without, expected) == 0);
    CHECK(max_abs_diff(with, without) > 1e-4);
  }
}
