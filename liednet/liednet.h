// LIEDNet: the U-Net of Local Mamba Blocks (docs/architecture.md, "Shapes").
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "liednet/blocks.h"

namespace liednet::net {

struct LIEDNetConfig {
  int64_t dim = 32;
  std::array<int64_t, 3> blocks{1, 2, 4};
  int64_t refinement = 4;
  std::string name = "liednet";
};

// "liednet" (dim 32, 4,755,554 parameters) or "liednet-l" (dim 64, 17,790,901).
LIEDNetConfig preset(const std::string& name);

struct LIEDNetOutput {
  Tensor out;   // (N, 3, H, W): the restored image, input + residual, not clamped
  Tensor side;  // (N, 3, H/8, W/8) when asked for: the low-light-enhancement side output
};

class LIEDNet : public nn::Module {
 public:
  LIEDNet(const LIEDNetConfig& config, Generator& gen);

  // x (N, 3, H, W) in [-1, 1]. Sides that are not multiples of 8 are padded
  // by reflection and the output cropped back (the side output needs multiples of 8).
  LIEDNetOutput forward(const Tensor& x, bool with_side = false) const;

  // Called after every stage and block with its dotted name and output
  // ("patch_embed", "encoder_level1.0", ..., "output"), for dumps and summaries.
  std::function<void(const std::string& name, const Tensor& value)> observer;
  // Called before every Local Mamba Block with its dotted name and its input
  // ("encoder_level1.0", ...), for analyses that recompute a block's branches.
  std::function<void(const std::string& name, const Tensor& input)> block_input_observer;

  // Every Local Mamba Block with its dotted name, in the order the forward runs them.
  std::vector<std::pair<std::string, LocalMambaBlock*>> named_blocks() const;
  // Every block's SS2D output replaced by zeros (LocalMambaBlock::without_ss2d), or restored.
  void set_without_ss2d(bool on);

  LIEDNetConfig config;

 private:
  Tensor run_stage(const std::string& name, const std::function<Tensor()>& f) const;
  Tensor run_blocks(const std::string& name, const nn::ModuleList<LocalMambaBlock>& blocks, Tensor x) const;
  LIEDNetOutput forward_padded(const Tensor& x, bool with_side) const;

  std::shared_ptr<nn::Conv2d> patch_embed, down1_2, down2_3, up3_2, reduce_chan_level2, up2_1, recover, output,
      side_out;
  std::shared_ptr<nn::ModuleList<LocalMambaBlock>> encoder_level1, encoder_level2, encoder_level3, decoder_level2,
      decoder_level1, refinement;
};

}  // namespace liednet::net
