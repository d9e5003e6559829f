#include "liednet/blocks.h"

#include <algorithm>
#include <cmath>

#include "nn/init.h"
#include "ops/activation.h"
#include "ops/channels.h"
#include "ops/dgdffn.h"
#include "ops/elementwise.h"
#include "ops/norm_gate.h"
#include "ops/reduce.h"
#include "ops/ss2d_scan.h"
#include "tensor/error.h"

namespace liednet::net {

namespace {
constexpr int kDirections = 4;

// Upstream's dt_projs_bias: inverse softplus of dt = exp(U(log dt_min, log dt_max)), floored at dt_floor,
// so that softplus(bias) starts between dt_min and dt_max.
double dt_bias_init(Generator& gen, double dt_min = 1e-3, double dt_max = 0.1, double dt_floor = 1e-4) {
  const double dt = std::max(std::exp(gen.uniform(std::log(dt_min), std::log(dt_max))), dt_floor);
  return dt + std::log(-std::expm1(-dt));
}
thread_local ReluTrace* t_relu_trace = nullptr;
}  // namespace

ReluTraceScope::ReluTraceScope(ReluTrace& trace) : previous_(t_relu_trace) { t_relu_trace = &trace; }
ReluTraceScope::~ReluTraceScope() { t_relu_trace = previous_; }

Tensor traced_relu(const Tensor& z) {
  ReluTrace* trace = t_relu_trace;
  if (trace == nullptr) return ops::relu(z);
  const size_t call = trace->calls++;
  if (trace->mode == ReluTrace::Mode::Record) {
    trace->inputs.push_back(z.detach().to(Device::CPU).to(DType::F64));
    return ops::relu(z);
  }
  LIEDNET_CHECK(trace->recorded != nullptr, "ReluTrace: Follow mode without a recorded run");
  LIEDNET_CHECK(call < trace->recorded->inputs.size(), "ReluTrace: ReLU call ", call, " was not recorded (the recorded run made ",
                trace->recorded->inputs.size(), ")");
  const Tensor& rec = trace->recorded->inputs[call];
  LIEDNET_CHECK(rec.shape() == z.shape(), "ReluTrace: ReLU call ", call, " has shape ", z.shape().str(), ", recorded ",
                rec.shape().str());
  const std::vector<double> own = z.detach().to(Device::CPU).to(DType::F64).to_vector(), theirs = rec.to_vector();
  double largest = 0;
  for (double v : own) largest = std::max(largest, std::abs(v));
  std::vector<double> mask(own.size());
  for (size_t i = 0; i < own.size(); ++i) {
    const bool mine = own[i] > 0, recorded = theirs[i] > 0;
    bool side = mine;
    if (mine != recorded) {
      if (std::abs(own[i]) <= trace->tie * largest) side = recorded, ++trace->followed;
      else ++trace->contradicted;
    }
    mask[i] = side ? 1.0 : 0.0;
  }
  // z * mask: relu(z) wherever the side is z's own, and the continuation of the other side at a followed tie.
  return ops::mul(z, Tensor::from_vector(z.shape(), mask, z.dtype()).to(z.device()));
}

SS2D::SS2D(int64_t d_model_, Generator& gen, int64_t d_state_)
    : Module("SS2D"),
      d_model(d_model_),
      d_inner(2 * d_model_),
      d_state(d_state_),
      dt_rank((d_model_ + 15) / 16) {
  const int64_t d = d_inner, R = dt_rank, N = d_state;
  // Upstream creates the children first; its own parameters come first in the state dict.
  out_norm = std::make_shared<nn::LayerNorm>(d);
  in_proj = std::make_shared<nn::Linear>(d_model, 2 * d, false, gen);
  conv2d = std::make_shared<nn::Conv2d>(d, d, 3, 1, 1, d, true, gen);
  // Four nn.Linear(d, R+2N) weights, stacked: each U(-1/sqrt(d), 1/sqrt(d)).
  x_proj_weight = nn::init::default_weight({kDirections, R + 2 * N, d}, d, gen);
  out_proj = std::make_shared<nn::Linear>(d, d_model, false, gen);
  dt_projs_weight = Tensor::empty({kDirections, d, R});
  nn::init::uniform_(dt_projs_weight, -1.0 / std::sqrt(static_cast<double>(R)), 1.0 / std::sqrt(static_cast<double>(R)),
                     gen);
  dt_projs_bias = Tensor::empty({kDirections, d});
  for (int64_t i = 0; i < dt_projs_bias.numel(); ++i) dt_projs_bias.data<float>()[i] = static_cast<float>(dt_bias_init(gen));
  A_logs = Tensor::empty({kDirections * d, N});
  for (int64_t i = 0; i < A_logs.numel(); ++i) A_logs.data<float>()[i] = static_cast<float>(std::log(1.0 + i % N));
  Ds = Tensor::ones({kDirections * d});

  register_parameter("x_proj_weight", &x_proj_weight);
  register_parameter("dt_projs_weight", &dt_projs_weight);
  register_parameter("dt_projs_bias", &dt_projs_bias);
  register_parameter("A_logs", &A_logs);
  register_parameter("Ds", &Ds);
  register_module("out_norm", out_norm);
  register_module("in_proj", in_proj);
  register_module("conv2d", conv2d);
  register_module("out_proj", out_proj);
}

Tensor SS2D::forward(const Tensor& n) const {
  Tensor wx = x_proj_weight, ds = Ds;
  if (only_direction >= 0) {  // zero the other directions' readouts C and skips D: their outputs are 0
    LIEDNET_CHECK(only_direction < kDirections, "SS2D: only_direction must be -1 or 0..3, got ", only_direction);
    // 1 over direction j's slice of the first axis, 0 elsewhere (CPU, f64; cast to the parameter's kind)
    auto keep = [&](const Tensor& p) {
      std::vector<double> m(static_cast<size_t>(p.numel()), 0.0);
      const int64_t per = p.numel() / kDirections;
      std::fill(m.begin() + only_direction * per, m.begin() + (only_direction + 1) * per, 1.0);
      Tensor t = Tensor::from_vector(p.shape(), m, DType::F64);
      return t.to(p.device() == Device::CPU ? p.dtype() : DType::F32).to(p.device());
    };
    wx = ops::mul(x_proj_weight, keep(x_proj_weight));
    ds = ops::mul(Ds, keep(Ds));
  }
  if (n.device() != Device::CPU) {  // the fused ops below are CPU only
    std::vector<Tensor> xz = ops::split_channels(in_proj->forward(n), {d_inner, d_inner});
    Tensor z = ops::silu(xz[1]);
    Tensor x = ops::silu(conv2d->forward(xz[0]));
    Tensor y = ops::ss2d_scan(x, wx, dt_projs_weight, dt_projs_bias, A_logs, ds, {.chunk = scan_chunk});
    return out_proj->forward(ops::mul(out_norm->forward(y), z));
  }
  // The same on the CPU with fewer passes and fewer tensors kept for the
  // backward: in_proj as its two halves (no split copies), the SiLU after the
  // depthwise convolution inside the scan, and out_norm with the SiLU(z) gate as one op.
  Tensor x = conv2d->forward(ops::linear_channels(n, rows(in_proj->weight, 0, d_inner)));
  Tensor z = ops::linear_channels(n, rows(in_proj->weight, d_inner, 2 * d_inner));
  Tensor y = ops::ss2d_scan(x, wx, dt_projs_weight, dt_projs_bias, A_logs, ds, {.chunk = scan_chunk, .silu_input = true});
  return out_proj->forward(ops::norm_silu_gate(y, out_norm->weight, out_norm->bias, z, out_norm->eps));
}

Tensor SS2D::rows(const Tensor& w, int64_t begin, int64_t end) {
  const int64_t cols = w.size(1);
  return ops::slice_channels(w.reshape({1, w.size(0), cols}), begin, end).reshape({end - begin, cols});
}

LocalFeatureModule::LocalFeatureModule(int64_t dim, Generator& gen) : Module("LocalFeatureModule") {
  const int64_t hidden = dim / 2;  // upstream: int(dim // 2.0)
  squeeze = std::make_shared<nn::Conv2d>(dim, hidden, 1, 1, 0, 1, true, gen);
  excite = std::make_shared<nn::Conv2d>(hidden, dim, 1, 1, 0, 1, true, gen);
  auto weight = register_module("weight", std::make_shared<nn::Container>());
  weight->add("0", squeeze);  // "1" is the ReLU,
  weight->add("2", excite);   // "3" the sigmoid: no parameters
}

Tensor LocalFeatureModule::forward(const Tensor& x) const {
  const int64_t N = x.size(0), C = x.size(1);
  Tensor pooled = ops::mean_hw(x).reshape({N, C, 1, 1});
  Tensor w = ops::sigmoid(excite->forward(traced_relu(squeeze->forward(pooled))));
  return ops::mul_channel(x, w.reshape({N, C}));
}

DGDFeedForward::DGDFeedForward(int64_t dim, Generator& gen, double expansion)
    : Module("DGDFeedForward"), hidden(static_cast<int64_t>(static_cast<double>(dim) * expansion)) {
  const int64_t h = hidden;
  project_in1 = register_module("project_in1", std::make_shared<nn::Conv2d>(dim, 2 * h, 1, 1, 0, 1, false, gen));
  project_in2 = register_module("project_in2", std::make_shared<nn::Conv2d>(dim, h, 1, 1, 0, 1, false, gen));
  dwconv1 = register_module("dwconv1", std::make_shared<nn::Conv2d>(h, h, 5, 1, 2, h, false, gen));
  dwconv2 = register_module("dwconv2", std::make_shared<nn::Conv2d>(h, h, 3, 1, 1, h, false, gen));
  dwconv3 = register_module("dwconv3", std::make_shared<nn::Conv2d>(h, h, 3, 1, 1, h, false, gen));
  fusion = register_module("fusion", std::make_shared<nn::Conv2d>(2 * h, h, 1, 1, 0, 1, false, gen));
  project_out = register_module("project_out", std::make_shared<nn::Conv2d>(h, dim, 1, 1, 0, 1, false, gen));
}

Tensor DGDFeedForward::forward(const Tensor& x) const {
  if (x.device() != Device::CPU || t_relu_trace != nullptr) return forward_composed(x);
  return ops::dgdffn(x, {project_in1->weight, project_in2->weight, dwconv1->weight, dwconv2->weight, dwconv3->weight,
                         fusion->weight, project_out->weight});
}

Tensor DGDFeedForward::forward_composed(const Tensor& x) const {
  std::vector<Tensor> ab = ops::split_channels(project_in1->forward(x), {hidden, hidden});
  Tensor a = traced_relu(dwconv1->forward(ab[0]));
  Tensor b = traced_relu(dwconv2->forward(ab[1]));
  Tensor f = fusion->forward(ops::concat_channels({a, b}));
  Tensor g = dwconv3->forward(project_in2->forward(x));
  return project_out->forward(ops::mul(ops::gelu(g), f));
}

LocalMambaBlock::LocalMambaBlock(int64_t dim, Generator& gen) : Module("VSSLocalBlock") {
  norm = register_module("norm", std::make_shared<nn::LayerNorm>(dim));
  op = register_module("op", std::make_shared<SS2D>(dim, gen));
  local = register_module("local", std::make_shared<LocalFeatureModule>(dim, gen));
  fusion = register_module("fusion", std::make_shared<nn::Conv2d>(2 * dim, dim, 1, 1, 0, 1, true, gen));
  norm2 = register_module("norm2", std::make_shared<nn::LayerNorm>(dim));
  ffn = register_module("ffn", std::make_shared<DGDFeedForward>(dim, gen));
}

Tensor LocalMambaBlock::forward(const Tensor& x) const {
  Tensor n = norm->forward(x);
  Tensor global = without_ss2d ? Tensor::zeros(n.shape(), n.dtype(), n.device()) : op->forward(n);
  Tensor mixed = fusion->forward(ops::concat_channels({global, local->forward(n)}));
  Tensor y = ops::add(mixed, x);
  return ops::add(ffn->forward(norm2->forward(y)), y);
}

}  // namespace liednet::net
