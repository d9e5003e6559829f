#include "liednet/explain.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <numeric>

#include "autograd/autograd.h"
#include "ops/activation.h"
#include "ops/channels.h"
#include "ops/reduce.h"
#include "ops/selective_scan.h"
#include "ops/ss2d_scan.h"
#include "tensor/parallel.h"

namespace liednet::net {

namespace {
constexpr int kDirections = 4;

// A CPU f64 tensor with the same values and no autograd history (shares storage when already one).
Tensor host64(const Tensor& t) {
  Tensor c = t.device() == Device::CPU ? t.detach() : t.to(Device::CPU);
  return c.dtype() == DType::F64 ? c : c.to(DType::F64);
}

// Images [begin, end) of x (N, ...) on the CPU, as a copy.
Tensor images_slice(const Tensor& x, int64_t begin, int64_t end) {
  Shape shape = x.shape();
  const size_t per_image = static_cast<size_t>(x.numel() / x.size(0)) * dtype_size(x.dtype());
  shape[0] = end - begin;
  Tensor out = Tensor::empty(shape, x.dtype());
  std::memcpy(out.raw_data(), static_cast<const char*>(x.raw_data()) + begin * per_image, (end - begin) * per_image);
  return out;
}

// Writes src (n, ...) into images [begin, begin + n) of dst (N, ...); both CPU, same dtype.
void copy_images(Tensor& dst, int64_t begin, const Tensor& src) {
  const size_t per_image = static_cast<size_t>(dst.numel() / dst.size(0)) * dtype_size(dst.dtype());
  std::memcpy(static_cast<char*>(dst.raw_data()) + begin * per_image, src.raw_data(), src.size(0) * per_image);
}

// For its lifetime, no parameter requires grad: an ERF needs the input's
// gradient alone, and the weights' gradients would cost time and land in .grad.
class InputGradientOnly {
 public:
  explicit InputGradientOnly(const nn::Module& m) {
    for (Tensor p : m.parameters())
      if (p.requires_grad()) {
        p.set_requires_grad(false);
        frozen_.push_back(p);
      }
  }
  ~InputGradientOnly() {
    for (Tensor& p : frozen_) p.set_requires_grad(true);
  }
  InputGradientOnly(const InputGradientOnly&) = delete;
  InputGradientOnly& operator=(const InputGradientOnly&) = delete;

 private:
  std::vector<Tensor> frozen_;
};

// For its lifetime, every block's SS2D switch is `on`; the previous switches come back after.
class SS2DSwitch {
 public:
  SS2DSwitch(LIEDNet& m, bool on) : blocks_(m.named_blocks()) {
    for (auto& [name, b] : blocks_) {
      before_.push_back(b->without_ss2d);
      b->without_ss2d = on;
    }
  }
  ~SS2DSwitch() {
    for (size_t i = 0; i < blocks_.size(); ++i) blocks_[i].second->without_ss2d = before_[i];
  }
  SS2DSwitch(const SS2DSwitch&) = delete;
  SS2DSwitch& operator=(const SS2DSwitch&) = delete;

 private:
  std::vector<std::pair<std::string, LocalMambaBlock*>> blocks_;
  std::vector<bool> before_;
};

// For its lifetime, the model's observers are these; the previous ones come back after.
class Observers {
 public:
  using Fn = std::function<void(const std::string&, const Tensor&)>;
  Observers(LIEDNet& m, Fn stage, Fn block_input)
      : m_(m), stage_(std::move(m.observer)), block_input_(std::move(m.block_input_observer)) {
    m.observer = std::move(stage);
    m.block_input_observer = std::move(block_input);
  }
  ~Observers() {
    m_.observer = std::move(stage_);
    m_.block_input_observer = std::move(block_input_);
  }
  Observers(const Observers&) = delete;
  Observers& operator=(const Observers&) = delete;

 private:
  LIEDNet& m_;
  Fn stage_, block_input_;
};

// What one batch's forward leaves for inspection, all detached.
struct ForwardView {
  std::map<std::string, Tensor> stages;                   // erf_stages() -> output (n, C, h, w)
  std::vector<std::pair<std::string, Tensor>> block_inputs;  // block path -> input (n, C, h, w)
  LIEDNetOutput result;                                   // out and the side output
};
using Inspect = std::function<void(const ForwardView&)>;

// One forward of the batch xb (n, 3, H, W) (CPU, the model's dtype) and one
// backward per stage. Adds each stage's sum over the batch of sum_c |g| into
// erf_sums[stage] (H*W each) and sets shapes[stage] to its (C, h, w). `inspect`,
// when given, sees the forward first.
void erf_batch(LIEDNet& model, const Tensor& xb, std::vector<std::vector<double>>& erf_sums, std::vector<Shape>& shapes,
               const Inspect& inspect) {
  const std::vector<std::string>& stages = erf_stages();
  const int64_t n = xb.size(0), H = xb.size(2), W = xb.size(3);
  Tensor x = model.device() == Device::CPU ? xb.detach() : xb.to(model.device());
  x.set_requires_grad();

  std::map<std::string, Tensor> out;  // with their graphs
  std::vector<std::pair<std::string, Tensor>> block_inputs;
  LIEDNetOutput r;
  {
    Observers hooks(
        model,
        [&](const std::string& name, const Tensor& y) {
          for (const std::string& s : stages)
            if (name == s || name.rfind(s + ".", 0) == 0) out[s] = y;  // a level's last block wins
        },
        inspect ? Observers::Fn([&](const std::string& name, const Tensor& in) {
          block_inputs.push_back({name, in.detach()});
        })
                : Observers::Fn());
    r = model.forward(x, static_cast<bool>(inspect));
  }
  for (const std::string& s : stages)
    LIEDNET_CHECK(out.count(s), "explain: the network has no stage '", s, "' (a level without blocks?)");
  if (inspect) {
    ForwardView view{{}, std::move(block_inputs), {r.out.detach(), r.side.detach()}};
    for (const auto& [s, t] : out) view.stages[s] = t.detach();
    inspect(view);
  }

  for (size_t i = 0; i < stages.size(); ++i) {
    const Tensor& F = out.at(stages[i]);
    const int64_t C = F.size(1), h = F.size(2), w = F.size(3);
    shapes[i] = {C, h, w};
    // d(sum_c F[n, c, h/2, w/2]) / dx for every image at once: the upstream
    // gradient is 1 at each channel of each image's centre pixel, 0 elsewhere.
    Tensor seed = Tensor::zeros(F.shape(), F.dtype());
    for (int64_t b = 0; b < n; ++b)
      for (int64_t c = 0; c < C; ++c) seed.set({b, c, h / 2, w / 2}, 1.0);
    x.zero_grad();
    F.backward(model.device() == Device::CPU ? seed : seed.to(model.device()), /*retain_graph=*/i + 1 < stages.size());
    const Tensor g = host64(x.grad());  // (n, 3, H, W)
    const double* gp = g.data<double>();
    std::vector<double>& sum = erf_sums[i];
    for (int64_t b = 0; b < n; ++b)
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t p = 0; p < H * W; ++p) sum[p] += std::abs(gp[(b * 3 + c) * H * W + p]);
  }
}

void check_images(const LIEDNet& model, const Tensor& x) {
  LIEDNET_CHECK(x.defined() && x.ndim() == 4 && x.size(1) == 3 && x.size(0) >= 1,
                "explain: images must be (N, 3, H, W), got ", x.defined() ? x.str() : "nothing");
  LIEDNET_CHECK(x.device() == Device::CPU, "explain: images must be on the CPU, got ", x.str());
  LIEDNET_CHECK(x.size(2) % 8 == 0 && x.size(3) % 8 == 0 && x.size(2) > 0 && x.size(3) > 0,
                "explain: H and W must be multiples of 8, got ", x.str());
  LIEDNET_CHECK(model.device() == Device::CUDA || x.dtype() == model.dtype(), "explain: images ", x.str(),
                " and the model (", dtype_name(model.dtype()), ") must have one dtype");
  LIEDNET_CHECK(autograd::grad_enabled(), "explain: needs gradients, but was called inside a NoGradGuard");
}

using Progress = std::function<void(const std::string&, int64_t, int64_t)>;

// Runs erf_batch over x `batch` images at a time; the maps are the sums over images / N.
std::vector<StageERF> erf_over_batches(LIEDNet& model, const Tensor& x, int64_t batch, const Inspect& inspect,
                                       const Progress& progress = nullptr, const std::string& pass = "") {
  check_images(model, x);
  LIEDNET_CHECK(batch >= 1, "explain: batch must be at least 1, got ", batch);
  const int64_t N = x.size(0), H = x.size(2), W = x.size(3);
  const std::vector<std::string>& stages = erf_stages();
  std::vector<std::vector<double>> sums(stages.size(), std::vector<double>(H * W, 0.0));
  std::vector<Shape> shapes(stages.size());
  InputGradientOnly frozen(model);
  for (int64_t b0 = 0; b0 < N; b0 += batch) {
    const Tensor xb = images_slice(x, b0, std::min(N, b0 + batch));
    erf_batch(model, model.device() == Device::CPU ? xb : xb.to(DType::F32), sums, shapes, inspect);
    if (progress) progress(pass, std::min(N, b0 + batch), N);
  }
  std::vector<StageERF> out;
  for (size_t i = 0; i < stages.size(); ++i) {
    for (double& v : sums[i]) v /= static_cast<double>(N);
    StageERF e{stages[i], Tensor::from_vector({H, W}, sums[i], DType::F64), {}, shapes[i]};
    e.radius = mass_radii(e.map);
    out.push_back(std::move(e));
  }
  return out;
}

// Thrown by an observer to end a forward once the stage it waits for has run.
struct StopForward {};

// For its lifetime, one block's SS2D keeps only direction j (SS2D::only_direction); -1 again after.
class OnlyDirection {
 public:
  OnlyDirection(const LocalMambaBlock& b, int j) : s_(*b.op) { s_.only_direction = j; }
  ~OnlyDirection() { s_.only_direction = -1; }
  OnlyDirection(const OnlyDirection&) = delete;
  OnlyDirection& operator=(const OnlyDirection&) = delete;

 private:
  SS2D& s_;
};

// For the batch xb (n, 3, H, W) and each direction j: the forward up to the block's output F with only
// direction j in the block's SS2D, then d(sum_c F[n, c, h/2, w/2]) / dx; adds each image's sum_c |g| into
// sums[j] (H*W each). The forward stops at the block: later stages cannot reach its gradient.
void direction_erf_batch(LIEDNet& model, const std::string& block, const LocalMambaBlock& b, const Tensor& xb,
                         std::array<std::vector<double>, 4>& sums) {
  const int64_t n = xb.size(0), H = xb.size(2), W = xb.size(3);
  for (int j = 0; j < kDirections; ++j) {
    OnlyDirection only(b, j);
    Tensor x = model.device() == Device::CPU ? xb.detach() : xb.to(model.device());
    x.set_requires_grad();
    Tensor F;
    {
      Observers hooks(
          model,
          [&](const std::string& name, const Tensor& y) {
            if (name != block) return;
            F = y;
            throw StopForward{};
          },
          Observers::Fn());
      try {
        model.forward(x, false);
      } catch (const StopForward&) {
      }
    }
    LIEDNET_CHECK(F.defined(), "explain: the forward never reached block '", block, "'");
    const int64_t C = F.size(1), h = F.size(2), w = F.size(3);
    Tensor seed = Tensor::zeros(F.shape(), F.dtype());
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < C; ++c) seed.set({i, c, h / 2, w / 2}, 1.0);
    F.backward(model.device() == Device::CPU ? seed : seed.to(model.device()));
    const Tensor g = host64(x.grad());  // (n, 3, H, W)
    const double* gp = g.data<double>();
    std::vector<double>& sum = sums[j];
    sum.resize(H * W, 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t p = 0; p < H * W; ++p) sum[p] += std::abs(gp[(i * 3 + c) * H * W + p]);
  }
}

// The level of a block path: "encoder_level2.1" -> "encoder_level2".
std::string level_of(const std::string& block) { return block.substr(0, block.rfind('.')); }

// The blocks whose scan directions are mapped: the first of each level, each
// replaced by a requested block of the same level.
std::vector<std::string> scan_block_choice(const LIEDNet& model, const std::vector<std::string>& requested) {
  std::vector<std::string> chosen, all;
  for (const auto& [name, block] : model.named_blocks()) {
    all.push_back(name);
    if (chosen.empty() || level_of(chosen.back()) != level_of(name)) chosen.push_back(name);
  }
  for (const std::string& r : requested) {
    LIEDNET_CHECK(std::find(all.begin(), all.end(), r) != all.end(), "explain: no block '", r,
                  "' (blocks are named like encoder_level1.0 ... ", all.back(), ")");
    for (std::string& c : chosen)
      if (level_of(c) == level_of(r)) c = r;
  }
  return chosen;
}
}  // namespace

const std::vector<std::string>& erf_stages() {
  static const std::vector<std::string> stages = {"patch_embed",    "encoder_level1", "encoder_level2",
                                                  "encoder_level3", "decoder_level2", "decoder_level1",
                                                  "refinement",     "output"};
  return stages;
}

std::vector<StageERF> effective_receptive_fields(LIEDNet& model, const Tensor& x, int64_t batch) {
  return erf_over_batches(model, x, batch, nullptr);
}

std::array<double, 3> mass_radii(const Tensor& map) {
  LIEDNET_CHECK(map.defined() && map.ndim() == 2, "mass_radii: the map must be (H, W), got ",
                map.defined() ? map.str() : "nothing");
  const Tensor m = host64(map);
  const int64_t H = m.size(0), W = m.size(1);
  std::map<int64_t, double> ring;  // squared distance from (H/2, W/2) -> mass at that distance
  double total = 0;
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x) {
      const double v = m.data<double>()[y * W + x];
      const int64_t dy = y - H / 2, dx = x - W / 2;
      ring[dy * dy + dx * dx] += v;
      total += v;
    }
  std::array<double, 3> r{};
  if (!(total > 0)) return r;
  for (size_t f = 0; f < kMassFractions.size(); ++f) {
    double inside = 0;
    for (const auto& [d2, mass] : ring) {
      inside += mass;
      r[f] = std::sqrt(static_cast<double>(d2));
      if (inside >= kMassFractions[f] * total) break;
    }
  }
  return r;
}

std::array<Tensor, 4> scan_directions(const LocalMambaBlock& block, const Tensor& input) {
  autograd::NoGradGuard no_grad;
  const SS2D& s = *block.op;
  // SS2D's first steps, as its forward takes them: the block's norm, in_proj,
  // then the depthwise conv and SiLU on the first half.
  const Tensor n = block.norm->forward(input);
  const Tensor xmap = host64(ops::silu(s.conv2d->forward(ops::slice_channels(s.in_proj->forward(n), 0, s.d_inner))));
  const int64_t B = xmap.size(0), d = s.d_inner, h = xmap.size(2), w = xmap.size(3), L = h * w;
  const int64_t R = s.dt_rank, N = s.d_state, S = R + 2 * N;
  const Tensor wx = host64(s.x_proj_weight), wdt = host64(s.dt_projs_weight), bias = host64(s.dt_projs_bias);
  const Tensor alogs = host64(s.A_logs), ds = host64(s.Ds);
  const double* xp = xmap.data<double>();

  std::array<Tensor, 4> out;
  for (int k = 0; k < kDirections; ++k) {
    std::vector<int64_t> pixel(L);  // step t of direction k visits this pixel
    for (int64_t t = 0; t < L; ++t) pixel[t] = ops::ss2d_pixel(k, t, h, w);
    Tensor u = Tensor::empty({B, d, L}, DType::F64), delta = Tensor::empty({B, d, L}, DType::F64);
    Tensor Bk = Tensor::empty({B, 1, N, L}, DType::F64), Ck = Tensor::empty({B, 1, N, L}, DType::F64);
    double *up = u.data<double>(), *dp = delta.data<double>(), *bp = Bk.data<double>(), *cp = Ck.data<double>();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t c = 0; c < d; ++c)
        for (int64_t t = 0; t < L; ++t) up[(b * d + c) * L + t] = xp[(b * d + c) * L + pixel[t]];
    // Per step: (dt, B, C) = x_proj_weight[k] @ u_t, then delta = dt_projs_weight[k] @ dt.
    const double* wk = wx.data<double>() + k * S * d;     // (S, d)
    const double* wdk = wdt.data<double>() + k * d * R;   // (d, R)
    parallel_for(0, B * L, 256, [&](int64_t bt) {
      const int64_t b = bt / L, t = bt % L;
      std::vector<double> proj(S, 0.0);
      for (int64_t j = 0; j < S; ++j)
        for (int64_t c = 0; c < d; ++c) proj[j] += wk[j * d + c] * up[(b * d + c) * L + t];
      for (int64_t c = 0; c < d; ++c) {
        double v = 0;
        for (int64_t r = 0; r < R; ++r) v += wdk[c * R + r] * proj[r];
        dp[(b * d + c) * L + t] = v;
      }
      for (int64_t j = 0; j < N; ++j) {
        bp[(b * N + j) * L + t] = proj[R + j];
        cp[(b * N + j) * L + t] = proj[R + N + j];
      }
    });
    Tensor A = Tensor::empty({d, N}, DType::F64), D = Tensor::empty({d}, DType::F64), db = Tensor::empty({d}, DType::F64);
    for (int64_t c = 0; c < d; ++c) {
      for (int64_t j = 0; j < N; ++j) A.data<double>()[c * N + j] = -std::exp(alogs.data<double>()[(k * d + c) * N + j]);
      D.data<double>()[c] = ds.data<double>()[k * d + c];
      db.data<double>()[c] = bias.data<double>()[k * d + c];
    }
    const Tensor y = ops::selective_scan(u, delta, A, Bk, Ck, D, db);  // (B, d, L) in scan order
    out[k] = Tensor::empty({B, d, h, w}, DType::F64);
    const double* yp = y.data<double>();
    double* op = out[k].data<double>();
    for (int64_t bc = 0; bc < B * d; ++bc)
      for (int64_t t = 0; t < L; ++t) op[bc * L + pixel[t]] = yp[bc * L + t];
  }
  return out;
}

Tensor lfm_channel_weights(const LocalMambaBlock& block, const Tensor& input) {
  autograd::NoGradGuard no_grad;
  const LocalFeatureModule& lfm = *block.local;
  const Tensor n = block.norm->forward(input);
  const int64_t N = n.size(0), C = n.size(1);
  const Tensor pooled = ops::mean_hw(n).reshape({N, C, 1, 1});
  return ops::sigmoid(lfm.excite->forward(ops::relu(lfm.squeeze->forward(pooled)))).reshape({N, C});
}

Explanation explain(LIEDNet& model, const Tensor& x, const ExplainOptions& opt) {
  check_images(model, x);
  LIEDNET_CHECK(opt.mosaic_channels >= 1, "explain: mosaic_channels must be at least 1, got ", opt.mosaic_channels);
  Explanation e;
  e.images = x.size(0);
  e.height = x.size(2);
  e.width = x.size(3);
  const int64_t N = e.images;
  const std::vector<std::string> scan_blocks = scan_block_choice(model, opt.scan_blocks);
  std::map<std::string, const LocalMambaBlock*> blocks;
  for (const auto& [name, b] : model.named_blocks()) blocks[name] = b;

  // Sums over images, divided by N at the end.
  std::map<std::string, std::array<std::vector<double>, 4>> scan_sum;  // block -> per direction (h*w)
  std::map<std::string, Shape> scan_shape;
  std::map<std::string, std::vector<double>> lfm_sum;         // block -> (C)
  std::map<std::string, std::vector<double>> channel_abs;     // stage -> per channel sum of |activation|
  std::map<std::string, Tensor> first_image;                  // stage -> image 0's (C, h, w)
  e.output = Tensor::empty({N, 3, e.height, e.width});
  e.side = Tensor::empty({N, 3, e.height / 8, e.width / 8});
  int64_t done = 0;

  const Inspect inspect = [&](const ForwardView& v) {
    const int64_t n = v.result.out.size(0);
    copy_images(e.output, done, v.result.out.to(Device::CPU).to(DType::F32));
    copy_images(e.side, done, v.result.side.to(Device::CPU).to(DType::F32));
    for (const auto& [name, in] : v.block_inputs) {
      const LocalMambaBlock& block = *blocks.at(name);
      const Tensor w = host64(lfm_channel_weights(block, in));  // (n, C)
      std::vector<double>& ls = lfm_sum[name];
      ls.resize(w.size(1), 0.0);
      for (int64_t i = 0; i < w.numel(); ++i) ls[i % w.size(1)] += w.data<double>()[i];
      if (std::find(scan_blocks.begin(), scan_blocks.end(), name) == scan_blocks.end()) continue;
      const std::array<Tensor, 4> ys = scan_directions(block, in);
      const int64_t d = ys[0].size(1), hw = ys[0].size(2) * ys[0].size(3);
      scan_shape[name] = {ys[0].size(2), ys[0].size(3)};
      for (int k = 0; k < kDirections; ++k) {
        std::vector<double>& acc = scan_sum[name][k];
        acc.resize(hw, 0.0);
        const double* yp = ys[k].data<double>();
        for (int64_t b = 0; b < n; ++b)
          for (int64_t c = 0; c < d; ++c)
            for (int64_t p = 0; p < hw; ++p) acc[p] += std::abs(yp[(b * d + c) * hw + p]) / static_cast<double>(d);
      }
    }
    for (const auto& [stage, t] : v.stages) {
      if (stage == "output") continue;
      const Tensor a = host64(t);  // (n, C, h, w)
      const int64_t C = a.size(1), hw = a.size(2) * a.size(3);
      std::vector<double>& acc = channel_abs[stage];
      acc.resize(C, 0.0);
      for (int64_t b = 0; b < n; ++b)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t p = 0; p < hw; ++p) acc[c] += std::abs(a.data<double>()[(b * C + c) * hw + p]);
      if (done == 0) first_image[stage] = images_slice(a, 0, 1).reshape({C, a.size(2), a.size(3)});
    }
    done += n;
  };
  e.erf = erf_over_batches(model, x, opt.batch, inspect, opt.progress, "network");
  if (opt.without_ss2d) {
    SS2DSwitch off(model, true);
    e.erf_without_ss2d = erf_over_batches(model, x, opt.batch, nullptr, opt.progress, "without SS2D");
  }
  if (opt.direction_erfs) {
    InputGradientOnly frozen(model);
    std::map<std::string, LocalMambaBlock*> mutable_blocks;
    for (const auto& [name, b] : model.named_blocks()) mutable_blocks[name] = b;
    for (const std::string& name : scan_blocks) {
      std::array<std::vector<double>, 4> sums;
      for (int64_t b0 = 0; b0 < N; b0 += opt.batch) {
        const Tensor xb = images_slice(x, b0, std::min(N, b0 + opt.batch));
        direction_erf_batch(model, name, *mutable_blocks.at(name), model.device() == Device::CPU ? xb : xb.to(DType::F32),
                            sums);
      }
      std::array<Tensor, 4> maps;
      for (int k = 0; k < kDirections; ++k) {
        for (double& v : sums[k]) v /= static_cast<double>(N);
        maps[k] = Tensor::from_vector({e.height, e.width}, sums[k], DType::F64);
      }
      e.erf_dir.push_back({name, maps});
      if (opt.progress) opt.progress("directions of " + name, N, N);
    }
  }

  for (const std::string& name : scan_blocks) {
    std::array<Tensor, 4> maps;
    for (int k = 0; k < kDirections; ++k) {
      std::vector<double> v = scan_sum.at(name)[k];
      for (double& m : v) m /= static_cast<double>(N);
      maps[k] = Tensor::from_vector(scan_shape.at(name), v, DType::F64);
    }
    e.scan.push_back({name, maps});
  }
  for (const auto& [name, block] : model.named_blocks()) {
    std::vector<double> v = lfm_sum.at(name);
    for (double& m : v) m /= static_cast<double>(N);
    e.lfm.push_back({name, Tensor::from_vector({static_cast<int64_t>(v.size())}, v, DType::F64)});
  }
  for (const std::string& stage : erf_stages()) {
    if (stage == "output") continue;
    const std::vector<double>& acc = channel_abs.at(stage);
    std::vector<int64_t> order(acc.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return acc[a] > acc[b]; });
    order.resize(std::min<size_t>(order.size(), static_cast<size_t>(opt.mosaic_channels)));
    const Tensor& all = first_image.at(stage);  // (C, h, w)
    const int64_t hw = all.size(1) * all.size(2);
    Tensor maps = Tensor::empty({static_cast<int64_t>(order.size()), all.size(1), all.size(2)}, DType::F64);
    for (size_t i = 0; i < order.size(); ++i)
      std::copy(all.data<double>() + order[i] * hw, all.data<double>() + (order[i] + 1) * hw,
                maps.data<double>() + i * hw);
    e.features.push_back({stage, maps, order});
  }
  return e;
}

}  // namespace liednet::net
