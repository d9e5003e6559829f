#include "liednet/liednet.h"

#include "ops/channels.h"
#include "ops/elementwise.h"
#include "ops/pad.h"
#include "ops/shuffle.h"

namespace liednet::net {

namespace {
// Registers `conv` as `<owner>.<path...>`: upstream nests its convs in
// Sequentials (down1_2.body.0, recover.0, patch_embed.proj).
template <typename M>
std::shared_ptr<M> nested(std::shared_ptr<nn::Container> root, const std::vector<std::string>& path,
                          std::shared_ptr<M> leaf) {
  std::shared_ptr<nn::Container> at = root;
  for (size_t i = 0; i + 1 < path.size(); ++i) at = at->add(path[i], std::make_shared<nn::Container>());
  at->add(path.back(), leaf);
  return leaf;
}

std::shared_ptr<nn::ModuleList<LocalMambaBlock>> make_blocks(int64_t n, int64_t dim, Generator& gen) {
  auto list = std::make_shared<nn::ModuleList<LocalMambaBlock>>();
  for (int64_t i = 0; i < n; ++i) list->push_back(std::make_shared<LocalMambaBlock>(dim, gen));
  return list;
}
}  // namespace

LIEDNetConfig preset(const std::string& name) {
  if (name == "liednet") return {32, {1, 2, 4}, 4, "liednet"};
  if (name == "liednet-l") return {64, {1, 2, 4}, 4, "liednet-l"};
  fail("unknown preset '", name, "' (expected liednet or liednet-l)");
}

LIEDNet::LIEDNet(const LIEDNetConfig& cfg, Generator& gen) : Module("LIEDNet"), config(cfg) {
  const int64_t C = cfg.dim;
  LIEDNET_CHECK(C >= 2 && C % 2 == 0, "LIEDNet: dim must be even and positive, got ", C);
  auto conv = [&](int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad, bool bias) {
    return std::make_shared<nn::Conv2d>(in, out, k, stride, pad, 1, bias, gen);
  };
  // Registration order is upstream's, so state dicts list keys in its order.
  auto wrap = [&](const std::string& name) { return register_module(name, std::make_shared<nn::Container>()); };
  patch_embed = nested(wrap("patch_embed"), {"proj"}, conv(3, C, 2, 2, 0, false));
  encoder_level1 = register_module("encoder_level1", make_blocks(cfg.blocks[0], C, gen));
  down1_2 = nested(wrap("down1_2"), {"body", "0"}, conv(C, C / 2, 3, 1, 1, false));
  encoder_level2 = register_module("encoder_level2", make_blocks(cfg.blocks[1], 2 * C, gen));
  down2_3 = nested(wrap("down2_3"), {"body", "0"}, conv(2 * C, C, 3, 1, 1, false));
  encoder_level3 = register_module("encoder_level3", make_blocks(cfg.blocks[2], 4 * C, gen));
  up3_2 = nested(wrap("up3_2"), {"body", "0"}, conv(4 * C, 8 * C, 3, 1, 1, false));
  reduce_chan_level2 = register_module("reduce_chan_level2", conv(4 * C, 2 * C, 1, 1, 0, false));
  decoder_level2 = register_module("decoder_level2", make_blocks(cfg.blocks[1], 2 * C, gen));
  up2_1 = nested(wrap("up2_1"), {"body", "0"}, conv(2 * C, 4 * C, 3, 1, 1, false));
  decoder_level1 = register_module("decoder_level1", make_blocks(cfg.blocks[0], 2 * C, gen));
  refinement = register_module("refinement", make_blocks(cfg.refinement, 2 * C, gen));
  recover = nested(wrap("recover"), {"0"}, conv(2 * C, 8 * C, 3, 1, 1, false));
  output = register_module("output", conv(2 * C, 3, 3, 1, 1, false));
  // Upstream hard-codes 128 input channels (= 4C only for C = 32); 4C lets LIEDNet-L train with the side loss.
  side_out = register_module("side_out", conv(4 * C, 3, 3, 1, 1, true));
}

Tensor LIEDNet::run_stage(const std::string& name, const std::function<Tensor()>& f) const {
  Tensor y = f();
  if (observer) observer(name, y);
  return y;
}

Tensor LIEDNet::run_blocks(const std::string& name, const nn::ModuleList<LocalMambaBlock>& blocks, Tensor x) const {
  for (size_t i = 0; i < blocks.size(); ++i) {
    const std::string path = name + "." + std::to_string(i);
    if (block_input_observer) block_input_observer(path, x);
    x = run_stage(path, [&] { return blocks[i].forward(x); });
  }
  return x;
}

std::vector<std::pair<std::string, LocalMambaBlock*>> LIEDNet::named_blocks() const {
  std::vector<std::pair<std::string, LocalMambaBlock*>> out;
  const std::pair<const char*, const nn::ModuleList<LocalMambaBlock>*> levels[] = {
      {"encoder_level1", encoder_level1.get()}, {"encoder_level2", encoder_level2.get()},
      {"encoder_level3", encoder_level3.get()}, {"decoder_level2", decoder_level2.get()},
      {"decoder_level1", decoder_level1.get()}, {"refinement", refinement.get()}};
  for (const auto& [name, list] : levels)
    for (size_t i = 0; i < list->size(); ++i) out.push_back({std::string(name) + "." + std::to_string(i), &(*list)[i]});
  return out;
}

void LIEDNet::set_without_ss2d(bool on) {
  for (auto& [name, block] : named_blocks()) block->without_ss2d = on;
}

LIEDNetOutput LIEDNet::forward(const Tensor& x, bool with_side) const {
  LIEDNET_CHECK(x.defined() && x.ndim() == 4, "LIEDNet: input must be (N, 3, H, W), got ", x.str());
  LIEDNET_CHECK(x.size(1) == 3, "LIEDNet: input must have 3 channels (RGB), got ", x.str());
  LIEDNET_CHECK(x.numel() > 0, "LIEDNet: empty input ", x.str());
  const int64_t H = x.size(2), W = x.size(3);
  const int64_t pad_h = (8 - H % 8) % 8, pad_w = (8 - W % 8) % 8;
  if (pad_h == 0 && pad_w == 0) return forward_padded(x, with_side);
  LIEDNET_CHECK(!with_side, "LIEDNet: the side output needs H and W multiples of 8, got ", x.str());
  LIEDNetOutput r = forward_padded(ops::pad_reflect(x, 0, pad_h, 0, pad_w), false);
  r.out = ops::crop(r.out, 0, 0, H, W);
  return r;
}

LIEDNetOutput LIEDNet::forward_padded(const Tensor& x, bool with_side) const {
  LIEDNetOutput r;
  Tensor e1 = run_stage("patch_embed", [&] { return patch_embed->forward(x); });
  e1 = run_blocks("encoder_level1", *encoder_level1, e1);
  Tensor e2 = run_stage("down1_2", [&] { return ops::pixel_unshuffle(down1_2->forward(e1), 2); });
  e2 = run_blocks("encoder_level2", *encoder_level2, e2);
  Tensor e3 = run_stage("down2_3", [&] { return ops::pixel_unshuffle(down2_3->forward(e2), 2); });
  e3 = run_blocks("encoder_level3", *encoder_level3, e3);
  if (with_side) r.side = run_stage("side_out", [&] { return side_out->forward(e3); });
  Tensor d2 = run_stage("up3_2", [&] { return ops::pixel_shuffle(up3_2->forward(e3), 2); });
  d2 = run_stage("reduce_chan_level2", [&] { return reduce_chan_level2->forward(ops::concat_channels({d2, e2})); });
  d2 = run_blocks("decoder_level2", *decoder_level2, d2);
  Tensor d1 = run_stage("up2_1", [&] { return ops::pixel_shuffle(up2_1->forward(d2), 2); });
  d1 = ops::concat_channels({d1, e1});  // 2C channels, no reduction
  d1 = run_blocks("decoder_level1", *decoder_level1, d1);
  d1 = run_blocks("refinement", *refinement, d1);
  Tensor up = run_stage("recover", [&] { return ops::pixel_shuffle(recover->forward(d1), 2); });
  r.out = run_stage("output", [&] { return ops::add(output->forward(up), x); });
  return r;
}

}  // namespace liednet::net
