// One Local Mamba Block (dim C = 8) on a 1x8x16x16 map, step by step, printing the shape after every step.
//
// What to look at:
//  - SS2D widens to d = 2C channels (in_proj gives 2d: the x half and the gate z), scans at d, and out_proj
//    brings it back to C;
//  - the LFM keeps the shape and only re-weights channels (its weights are one per channel: (N, C));
//  - the two branches are concatenated (2C) and fused back to C, then the DGDFFN runs at hidden width
//    h = int(2.66 C) = 21 and returns to C; both halves of the block are residual.
// The steps are the plain composition (docs/architecture.md, "The Local Mamba Block"); the program checks that
// they give LocalMambaBlock::forward's output and exits 1 if not.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "liednet/blocks.h"
#include "ops/activation.h"
#include "ops/channels.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "ops/ss2d_scan.h"

using namespace liednet;

static void show(const char* step, const Tensor& t) { std::printf("  %-44s %s\n", step, t.shape().str().c_str()); }

int main() {
  Generator gen(1);
  const int64_t C = 8;
  net::LocalMambaBlock block(C, gen);
  block.to(DType::F64);
  Tensor x = Tensor::randn({1, C, 16, 16}, gen, DType::F64);
  const net::SS2D& s = *block.op;
  std::printf("Local Mamba Block, C = %lld, d = %lld, N = %lld, R = %lld, DGDFFN hidden h = %lld\n",
              static_cast<long long>(C), static_cast<long long>(s.d_inner), static_cast<long long>(s.d_state),
              static_cast<long long>(s.dt_rank), static_cast<long long>(block.ffn->hidden));
  show("x", x);
  Tensor n = block.norm->forward(x);
  show("n = norm(x)", n);

  std::printf(" SS2D (global branch):\n");
  Tensor xz = s.in_proj->forward(n);
  show("in_proj(n)", xz);
  std::vector<Tensor> parts = ops::split_channels(xz, {s.d_inner, s.d_inner});
  Tensor z = ops::silu(parts[1]);
  show("z = SiLU(second half)", z);
  Tensor xc = ops::silu(s.conv2d->forward(parts[0]));
  show("SiLU(dwconv3x3(first half))", xc);
  Tensor y = ops::ss2d_scan(xc, s.x_proj_weight, s.dt_projs_weight, s.dt_projs_bias, s.A_logs, s.Ds);
  show("y = ss2d_scan(...) (4 directions merged)", y);
  Tensor global = s.out_proj->forward(ops::mul(s.out_norm->forward(y), z));
  show("out_proj(out_norm(y) * z)", global);

  std::printf(" LFM (local branch):\n");
  Tensor pooled = ops::mean_hw(n).reshape({1, C, 1, 1});
  show("mean over H, W", pooled);
  Tensor w = ops::sigmoid(block.local->excite->forward(ops::relu(block.local->squeeze->forward(pooled))));
  show("w = sigmoid(excite(ReLU(squeeze)))", w);
  Tensor local = ops::mul_channel(n, w.reshape({1, C}));
  show("n * w", local);

  Tensor cat = ops::concat_channels({global, local});
  show("cat(SS2D, LFM)", cat);
  Tensor x1 = ops::add(block.fusion->forward(cat), x);
  show("x1 = fusion(cat) + x", x1);

  std::printf(" DGDFFN:\n");
  Tensor m = block.norm2->forward(x1);
  const net::DGDFeedForward& f = *block.ffn;
  Tensor ab = f.project_in1->forward(m);
  show("project_in1(norm2(x1))", ab);
  std::vector<Tensor> halves = ops::split_channels(ab, {f.hidden, f.hidden});
  Tensor a = ops::relu(f.dwconv1->forward(halves[0])), b = ops::relu(f.dwconv2->forward(halves[1]));
  show("a = ReLU(dwconv5x5), b = ReLU(dwconv3x3)", a);
  Tensor fused = f.fusion->forward(ops::concat_channels({a, b}));
  show("fusion(cat(a, b))", fused);
  Tensor g = f.dwconv3->forward(f.project_in2->forward(m));
  show("g = dwconv3x3(project_in2(norm2(x1)))", g);
  Tensor ffn = f.project_out->forward(ops::mul(ops::gelu(g), fused));
  show("project_out(GELU(g) * fusion)", ffn);
  Tensor out = ops::add(ffn, x1);
  show("out = ffn + x1", out);

  Tensor ref = block.forward(x);
  double worst = 0;
  for (int64_t i = 0; i < out.numel(); ++i)
    worst = std::max(worst, std::abs(out.data<double>()[i] - ref.data<double>()[i]));
  std::printf("max |steps - LocalMambaBlock::forward| = %.3g\n", worst);
  return worst < 1e-10 ? 0 : 1;
}
