#include "liednet/summary.h"

#include <map>

#include "tensor/error.h"

namespace liednet::net {

namespace {

// The child `path` ("down1_2.body.0") of `root`, as an M.
template <typename M>
const M& find(const nn::Module& root, const std::string& path) {
  const nn::Module* at = &root;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t dot = std::min(path.find('.', start), path.size());
    const std::string part = path.substr(start, dot - start);
    const nn::Module* next = nullptr;
    for (const auto& [name, child] : at->children())
      if (name == part) next = child.get();
    LIEDNET_CHECK(next, "summary: no module ", path);
    at = next;
    start = dot + 1;
  }
  const M* m = dynamic_cast<const M*>(at);
  LIEDNET_CHECK(m, "summary: module ", path, " is a ", at->type());
  return *m;
}

// (N, C, H, W) and the FLOPs so far, as the forward would have them.
struct Flow {
  int64_t n, c, h, w;
  Shape shape() const { return Shape({n, c, h, w}); }
  int64_t pixels() const { return n * h * w; }
};

// A convolution as ops/conv2d.cpp counts it.
int64_t conv(const nn::Conv2d& m, Flow& x) {
  const int64_t out = m.weight.size(0), cg_in = m.weight.size(1), kh = m.weight.size(2), kw = m.weight.size(3);
  LIEDNET_CHECK(cg_in * m.options.groups == x.c, "summary: a convolution expects ", cg_in * m.options.groups,
                " channels, gets ", x.c);
  x.h = (x.h + 2 * m.options.padding - kh) / m.options.stride + 1;
  x.w = (x.w + 2 * m.options.padding - kw) / m.options.stride + 1;
  x.c = out;
  return x.pixels() * out * (2 * cg_in * kh * kw + (m.bias.defined() ? 1 : 0));
}

int64_t linear(const nn::Linear& m, Flow& x) {
  const int64_t out = m.weight.size(0), in = m.weight.size(1);
  x.c = out;
  return x.pixels() * out * (2 * in + (m.bias.defined() ? 1 : 0));
}

// SS2D: in_proj, the depthwise conv, the scan (as ops/ss2d_scan.cpp counts it), out_proj.
int64_t ss2d(const SS2D& m, Flow x) {
  int64_t f = linear(*m.in_proj, x);
  x.c = m.d_inner;  // the x half goes on; z gates the output (elementwise, not counted)
  f += conv(*m.conv2d, x);
  const int64_t d = x.c, L = x.h * x.w, R = m.dt_projs_weight.size(2), N = m.A_logs.size(1), S = R + 2 * N;
  const int64_t directions = m.x_proj_weight.size(0);
  f += x.n * (2 * L * d * directions * S + directions * d * L * (2 * R + 6 * N + 2));
  return f + linear(*m.out_proj, x);
}

// The LFM's two 1x1 convolutions run on the pooled (N, C, 1, 1).
int64_t lfm(const LocalFeatureModule& m, const Flow& x) {
  Flow pooled{x.n, x.c, 1, 1};
  const int64_t f = conv(*m.squeeze, pooled);
  return f + conv(*m.excite, pooled);
}

// The feed-forward as its convolutions: the fused op counts the same (ops/dgdffn.cpp).
int64_t ffn(const DGDFeedForward& m, const Flow& x) {
  Flow a = x, b = x;
  int64_t f = conv(*m.project_in1, a);
  Flow half{a.n, a.c / 2, a.h, a.w}, other = half;
  f += conv(*m.dwconv1, half) + conv(*m.dwconv2, other);
  Flow both{a.n, 2 * half.c, a.h, a.w};
  f += conv(*m.fusion, both);
  f += conv(*m.project_in2, b);
  f += conv(*m.dwconv3, b);
  return f + conv(*m.project_out, b);
}

int64_t block(const LocalMambaBlock& m, const Flow& x) {
  int64_t f = m.without_ss2d ? 0 : ss2d(*m.op, x);
  f += lfm(*m.local, x);
  Flow mixed{x.n, 2 * x.c, x.h, x.w};
  f += conv(*m.fusion, mixed);
  return f + ffn(*m.ffn, x);
}

void shuffle(Flow& x, int64_t r) { x = {x.n, x.c / (r * r), x.h * r, x.w * r}; }
void unshuffle(Flow& x, int64_t r) { x = {x.n, x.c * r * r, x.h / r, x.w / r}; }

// Parameters per stage: a block ("encoder_level1.0") or a top-level module ("patch_embed").
std::string stage_of(const std::string& param) {
  const size_t a = param.find('.');
  const std::string top = param.substr(0, a);
  const bool is_level = top.rfind("encoder_level", 0) == 0 || top.rfind("decoder_level", 0) == 0 || top == "refinement";
  if (!is_level) return top;
  return param.substr(0, param.find('.', a + 1));
}

}  // namespace

NetworkSummary summarize(const LIEDNet& model, int64_t H, int64_t W, bool with_side) {
  LIEDNET_CHECK(H >= 1 && W >= 1 && H <= kMaxSummarySide && W <= kMaxSummarySide, "summary: the size must be in [1, ",
                kMaxSummarySide, "] on each side, got ", H, "x", W);
  LIEDNET_CHECK(!with_side || (H % 8 == 0 && W % 8 == 0), "summary: the side output needs H and W multiples of 8, got ",
                H, "x", W);
  NetworkSummary s;
  std::map<std::string, int64_t> params;
  for (const auto& [name, p] : model.named_parameters()) {
    params[stage_of(name)] += p.numel();
    s.params += p.numel();
  }
  auto stage = [&](const std::string& name, const Flow& out, int64_t flops, bool training_only = false) {
    s.stages.push_back({name, out.shape(), params.count(name) ? params[name] : 0, flops, training_only});
    if (!training_only) s.flops += flops;
  };
  auto blocks = [&](const std::string& level, const Flow& x) {
    const auto& list = find<nn::ModuleList<LocalMambaBlock>>(model, level);
    for (size_t i = 0; i < list.size(); ++i) stage(level + "." + std::to_string(i), x, block(list[i], x));
  };
  auto conv_stage = [&](const std::string& path, Flow& x) { return conv(find<nn::Conv2d>(model, path), x); };

  Flow x{1, 3, (H + 7) / 8 * 8, (W + 7) / 8 * 8};  // the forward pads by reflection to multiples of 8
  const Flow input = x;
  int64_t f = conv_stage("patch_embed.proj", x);
  stage("patch_embed", x, f);
  blocks("encoder_level1", x);
  const Flow e1 = x;
  f = conv_stage("down1_2.body.0", x);
  unshuffle(x, 2);
  stage("down1_2", x, f);
  blocks("encoder_level2", x);
  const Flow e2 = x;
  f = conv_stage("down2_3.body.0", x);
  unshuffle(x, 2);
  stage("down2_3", x, f);
  blocks("encoder_level3", x);
  if (with_side) {
    Flow side = x;
    f = conv_stage("side_out", side);
    stage("side_out", side, f, true);
  }
  f = conv_stage("up3_2.body.0", x);
  shuffle(x, 2);
  stage("up3_2", x, f);
  x.c += e2.c;  // concatenated with the encoder's level 2
  f = conv_stage("reduce_chan_level2", x);
  stage("reduce_chan_level2", x, f);
  blocks("decoder_level2", x);
  f = conv_stage("up2_1.body.0", x);
  shuffle(x, 2);
  stage("up2_1", x, f);
  x.c += e1.c;  // concatenated with the encoder's level 1, no reduction
  blocks("decoder_level1", x);
  blocks("refinement", x);
  f = conv_stage("recover.0", x);
  shuffle(x, 2);
  stage("recover", x, f);
  f = conv_stage("output", x);
  LIEDNET_CHECK(x.c == input.c && x.h == input.h && x.w == input.w, "summary: the output ", x.shape().str(),
                " does not match the input ", input.shape().str());
  stage("output", x, f);
  return s;
}

}  // namespace liednet::net
