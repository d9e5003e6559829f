#include "ops/ss2d_scan.h"

#include "autograd/autograd.h"
#include "autograd/profiler.h"
#include "ops/check.h"
#include "ops/cuda/gemm.h"
#include "ops/cuda/ss2d_scan.h"
#include "ops/flops.h"
#include "ops/gemm.h"
#include "ops/isa.h"
#include "ops/scan_kernel.h"
#include "ops/scan_reference.h"
#include "tensor/parallel.h"

namespace liednet::ops {

namespace {
constexpr int kDirections = 4;

// The inputs of ss2d_scan in order: the slots of the backward's gradients (gi[kXProj], ...).
enum Input : int { kX = 0, kXProj = 1, kDtProj = 2, kDtBias = 3, kALogs = 4, kDs = 5 };
constexpr int64_t kChannelBlock = 8;  // channels per backward task: fixed, so sums never depend on threads

struct Dims {
  int64_t batch, channels, H, W, L;  // x (batch, channels, H, W), L = H W steps per direction
  int64_t R, N, S;                   // dt rank, states, and S = R + 2N: projection rows per direction
  int64_t KS() const { return kDirections * S; }
};

// allow_cuda: the op has a CUDA path (the fast op has, the reference has not).
Dims check_inputs(const char* op, const Tensor& x, const Tensor& wx, const Tensor& wdt, const Tensor& bias,
                  const Tensor& alogs, const Tensor& ds, bool allow_cuda) {
  check_ndim(op, x, 4, "x");
  if (!allow_cuda || !on_cuda(op, x)) check_cpu(op, x);
  for (const Tensor* t : {&wx, &wdt, &bias, &alogs, &ds}) check_compatible(op, x, *t);
  check_ndim(op, wx, 3, "x_proj_weight");
  check_ndim(op, wdt, 3, "dt_projs_weight");
  check_ndim(op, bias, 2, "dt_projs_bias");
  check_ndim(op, alogs, 2, "A_logs");
  check_ndim(op, ds, 1, "Ds");
  Dims d{.batch = x.size(0),
         .channels = x.size(1),
         .H = x.size(2),
         .W = x.size(3),
         .L = x.size(2) * x.size(3),
         .R = wdt.size(2),
         .N = alogs.size(1),
         .S = wdt.size(2) + 2 * alogs.size(1)};
  const auto msg = [&] {
    return std::string(" (x ") + x.str() + ", x_proj_weight " + wx.str() + ", dt_projs_weight " + wdt.str() +
           ", dt_projs_bias " + bias.str() + ", A_logs " + alogs.str() + ", Ds " + ds.str() + ")";
  };
  LIEDNET_CHECK(wdt.size(0) == kDirections && wdt.size(1) == d.channels && d.R >= 1, op,
                ": dt_projs_weight must be (4, d, R) with d = x's channels", msg());
  LIEDNET_CHECK(d.N >= 1 && d.N <= scan::kMaxState && alogs.size(0) == kDirections * d.channels, op,
                ": A_logs must be (4*d, N) with N in [1, ", scan::kMaxState, "]", msg());
  LIEDNET_CHECK(wx.size(0) == kDirections && wx.size(1) == d.S && wx.size(2) == d.channels, op,
                ": x_proj_weight must be (4, R+2N, d) = (4, ", d.S, ", ", d.channels, ")", msg());
  LIEDNET_CHECK(bias.size(0) == kDirections && bias.size(1) == d.channels, op, ": dt_projs_bias must be (4, d)", msg());
  LIEDNET_CHECK(ds.size(0) == kDirections * d.channels, op, ": Ds must be (4*d)", msg());
  return d;
}

// order[k * L + t]: the pixel visited at step t of direction k.
std::vector<int32_t> direction_orders(int64_t H, int64_t W) {
  const int64_t L = H * W;
  LIEDNET_CHECK(L < (int64_t{1} << 31), "ss2d_scan: ", H, "x", W, " pixels are too many for one scan");
  std::vector<int32_t> order(kDirections * L);
  for (int k = 0; k < kDirections; ++k)
    for (int64_t t = 0; t < L; ++t) order[k * L + t] = static_cast<int32_t>(ss2d_pixel(k, t, H, W));
  return order;
}

template <typename T>
std::vector<T> negative_exp(const Tensor& alogs) {
  std::vector<T> A(alogs.numel());
  const T* p = alogs.data<T>();
  for (size_t i = 0; i < A.size(); ++i) A[i] = -std::exp(p[i]);
  return A;
}

struct Saved {
  Tensor x, wx, wdt, bias, ds;
  Tensor A;       // (4d, N): -exp(A_logs)
  Tensor proj;    // (Bt, 4, S L): x_proj_weight[k] @ x in direction k's scan order, laid out as Proj
  Tensor states;  // (Bt, d, 4, chunks, N): the state before each chunk
  std::shared_ptr<const std::vector<int32_t>> order;
};

// The projections of one sample and direction (S L values), in its scan order:
// the R dt rows as R planes of L steps, so that a chunk's delta =
// dt_projs_weight @ dt is R loops over the chunk's steps; then each step's B
// and C side by side, 2N contiguous values for the recurrence.
template <typename T>
struct Proj {
  Proj() = default;
  Proj(T* base, int64_t L, int64_t R, int64_t N) : base(base), bc0(base + R * L), L(L), R(R), N(N) {}
  T* base = nullptr;
  T* bc0 = nullptr;  // the B and C of step 0
  int64_t L = 0, R = 0, N = 0;
  T* dt_row(int64_t r) const { return base + r * L; }  // (L)
  T* bc(int64_t t) const { return bc0 + t * 2 * N; }   // B (N) then C (N)
};

// One (batch, channel, direction) sequence, with the names scan_kernel.h
// expects. Only the channel's own planes are indexed through the direction's
// pixel order; the projections are read in scan order.
template <typename T>
struct Seq {
  const T* x;            // (L) channel plane
  Proj<const T> proj;    // this sample and direction
  const int32_t* order;  // (L) the direction's pixel order
  T* out = nullptr;      // (L) output plane (forward)
  const T* gy_plane = nullptr;  // (L) (backward)
  T* dx = nullptr;              // (L) or null (backward)
  Proj<T> part{};               // this block's partial gradient of proj, same layout (backward)

  static constexpr bool dt_nonnegative = true;  // dt_t = softplus(z_t) >= 0 (scan_kernel.h)
  T u(int64_t t) const { return x[order[t]]; }
  const T* B(int64_t t) const { return proj.bc(t); }
  const T* C(int64_t t) const { return proj.bc(t) + proj.N; }
  void y(int64_t t, T v) { out[order[t]] += v; }
  T gy(int64_t t) const { return gy_plane[order[t]]; }
  void add_du(int64_t t, T v) {
    if (dx) dx[order[t]] += v;
  }
  T* dB(int64_t t) { return part.bc(t); }
  T* dC(int64_t t) { return part.bc(t) + part.N; }
  int64_t step_stride() const { return 2 * proj.N; }
};

// Steps [t0, t0 + len) of one sequence into ws: u_t, and dt_t = softplus(z_t)
// with z_t = bias + sum_r w[r] dt_row_r[t] (and softplus'(z_t) when grad).
template <typename T>
void chunk_inputs(const Seq<T>& s, const T* w, T bias, int64_t t0, int64_t len, scan::ChunkWorkspace<T>& ws,
                  bool grad) {
  T* u = ws.u.data();
  T* z = ws.dt.data();
  for (int64_t i = 0; i < len; ++i) u[i] = s.u(t0 + i);
  std::fill(z, z + len, bias);
  for (int64_t r = 0; r < s.proj.R; ++r) {
    const T wr = w[r];
    const T* row = s.proj.dt_row(r) + t0;
    for (int64_t i = 0; i < len; ++i) z[i] += wr * row[i];
  }
  scan::softplus_steps(z, grad ? ws.dsp.data() : nullptr, len, true);
}

// A chunk's dL/dz (ws.dz) of one sequence: into the dt rows' partial gradient
// (times w) and the sums for dt_projs_weight (times the dt rows) and dt_projs_bias.
template <typename T>
void chunk_dz(Seq<T>& s, const T* w, const T* dz, int64_t t0, int64_t len, double* dw, double& dbias) {
  for (int64_t r = 0; r < s.proj.R; ++r) {
    T* p = s.part.dt_row(r) + t0;
    const T wr = w[r];
    for (int64_t i = 0; i < len; ++i) p[i] += dz[i] * wr;
    dw[r] += vec::sum_in_double(dz, s.proj.dt_row(r) + t0, len);
  }
  dbias += vec::sum_in_double(dz, nullptr, len);
}

// The channels [c0, c1) of a task: blocks of kChannelBlock channels.
inline int64_t block_end(int64_t blk, int64_t d) { return std::min(d, (blk + 1) * kChannelBlock); }

// dst[i] += planes[k][i] for k = 0..3 in direction order, planes holding the four
// directions' planes of n values one after the other: what the by-direction
// paths add, in the order the one-task-per-block paths add it.
template <typename T>
void add_direction_planes(T* dst, const T* planes, int64_t n) {
  isa::parallel_chunks_isa(n, 1 << 14, [&](int64_t lo, int64_t hi) {
    for (int k = 0; k < kDirections; ++k) {
      const T* pk = planes + k * n;
      for (int64_t i = lo; i < hi; ++i) dst[i] += pk[i];
    }
  });
}

// proj[b, k] = x_proj_weight[k] @ x[b] in Proj's layout: one pixel-major GEMM
// (L, 4S) = x[b]^T (L, d) * x_proj_weight^T (d, 4S), then each direction's
// values copied out in its scan order.
template <typename T>
void project(const Dims& d, const Saved& s, const T* xa) {
  const int64_t L = d.L, S = d.S, KS = d.KS();
  const int32_t* order = s.order->data();
  T* proj = const_cast<T*>(s.proj.data<T>());
  std::vector<T> pix(L * KS);
  for (int64_t b = 0; b < d.batch; ++b) {
    gemm<T>(true, true, L, KS, d.channels, T(1), xa + b * d.channels * L, L, s.wx.data<T>(), d.channels, T(0),
            pix.data(), KS);
    isa::parallel_for_isa(0, kDirections * L, 256, [&](int64_t kt) {
      const int64_t k = kt / L, t = kt % L;
      const T* src = pix.data() + static_cast<int64_t>(order[kt]) * KS + k * S;
      const Proj<T> pk{proj + (b * kDirections + k) * S * L, L, d.R, d.N};
      for (int64_t r = 0; r < d.R; ++r) pk.dt_row(r)[t] = src[r];
      std::copy(src + d.R, src + S, pk.bc(t));
    });
  }
}

// The forward for float and 16 states: each block's 8 channels as the 8
// lanes of scan::forward_chunk16x8. Task: a sample and a block, all four
// directions; per chunk the channels' u_t and dt_t are gathered into lanes,
// and y_t scattered back into the channels' planes. Called with the
// projections computed; out zeroed.
//
// With more threads than samples x blocks (a 16-core machine at batch 1 has
// 8 to 32 blocks), a task is a sample, a block and one direction, so that
// there are 4x the tasks; each direction then adds into a plane of its own,
// and out is their sum in direction order, as the one-task-per-block path
// adds them: the same bits either way.
void forward_blocks(const Dims& d, Saved& s, const float* x, const SS2DScanOptions& opt, float* out, float* states) {
  constexpr int kN = 16, kL = scan::kLanes;
  static_assert(kChannelBlock == kL);
  const int64_t L = d.L, S = d.S, chunks = (L + opt.chunk - 1) / opt.chunk;
  const int64_t blocks = (d.channels + kChannelBlock - 1) / kChannelBlock;
  const int32_t* order = s.order->data();
  const float* proj = s.proj.data<float>();
  const float* wdt = s.wdt.data<float>();
  const float* bias = s.bias.data<float>();
  const float* A = s.A.data<float>();
  const float* D = s.ds.data<float>();
  const bool by_direction = num_threads() > d.batch * blocks;
  const int64_t plane = d.batch * d.channels * L;
  std::vector<float> planes(by_direction ? kDirections * plane : 0, 0.0f);  // by direction: each one's y
  const int64_t tasks = d.batch * blocks * (by_direction ? kDirections : 1);
  isa::parallel_for_isa(0, tasks, 1, [&](int64_t task) {
    const int64_t bb = by_direction ? task / kDirections : task;  // (sample, block)
    const int64_t b = bb / blocks, c0 = (bb % blocks) * kChannelBlock, c1 = block_end(bb % blocks, d.channels);
    const int k_first = by_direction ? static_cast<int>(task % kDirections) : 0;
    const int k_end = by_direction ? k_first + 1 : kDirections;
    float* y = by_direction ? planes.data() + k_first * plane : out;
    const int64_t chunk = std::min(opt.chunk, L);
    scan::ChunkWorkspace<float> ws(chunk, kN);
    // Lanes past c1 stay 0 in u8, dt8, A8, D8 and h8.
    std::vector<float> u8(chunk * kL, 0.0f), dt8(chunk * kL, 0.0f), y8(chunk * kL);
    float A8[kN * kL] = {}, D8[kL] = {}, h8[kN * kL];
    for (int k = k_first; k < k_end; ++k) {
      for (int64_t c = c0; c < c1; ++c) {
        const int64_t kc = k * d.channels + c;
        for (int q = 0; q < kN; ++q) A8[q * kL + (c - c0)] = A[kc * kN + q];
        D8[c - c0] = D[kc];
      }
      std::fill(h8, h8 + kN * kL, 0.0f);
      const Proj<const float> pk{proj + (b * kDirections + k) * S * L, L, d.R, d.N};
      for (int64_t j = 0; j < chunks; ++j) {
        const int64_t t0 = j * opt.chunk, len = std::min(opt.chunk, L - t0);
        for (int64_t c = c0; c < c1; ++c) {
          const int64_t bc = b * d.channels + c, kc = k * d.channels + c, l = c - c0;
          if (states)
            for (int q = 0; q < kN; ++q) states[((bc * kDirections + k) * chunks + j) * kN + q] = h8[q * kL + l];
          const Seq<float> seq{x + bc * L, pk, order + k * L};
          chunk_inputs(seq, wdt + kc * d.R, bias[kc], t0, len, ws, false);
          for (int64_t i = 0; i < len; ++i) {
            u8[i * kL + l] = ws.u[i];
            dt8[i * kL + l] = ws.dt[i];
          }
        }
        scan::forward_chunk16x8(len, pk.bc(t0), 2 * kN, A8, D8, u8.data(), dt8.data(), h8, y8.data());
        for (int64_t c = c0; c < c1; ++c) {
          float* o = y + (b * d.channels + c) * L;
          const int32_t* ord = order + k * L + t0;
          for (int64_t i = 0; i < len; ++i) o[ord[i]] += y8[i * kL + (c - c0)];
        }
      }
    }
  });
  if (by_direction) add_direction_planes(out, planes.data(), plane);
}

// xa: the map scanned (x, or SiLU(x) with opt.silu_input).
template <typename T>
void fast_forward(const Dims& d, Saved& s, const T* xa, const SS2DScanOptions& opt, Tensor& y, bool keep_states) {
  const int64_t L = d.L, S = d.S, chunks = (L + opt.chunk - 1) / opt.chunk;
  const int64_t blocks = (d.channels + kChannelBlock - 1) / kChannelBlock;
  project<T>(d, s, xa);
  const T* x = xa;
  const int32_t* order = s.order->data();
  const T* proj = s.proj.data<T>();
  const T* wdt = s.wdt.data<T>();
  const T* bias = s.bias.data<T>();
  const T* A = s.A.data<T>();
  const T* D = s.ds.data<T>();
  T* states = keep_states ? s.states.data<T>() : nullptr;
  T* out = y.data<T>();
  y.zero_();
  const int n = static_cast<int>(d.N);
  if constexpr (std::is_same_v<T, float>)
    if (n == 16) return forward_blocks(d, s, xa, opt, out, states);
  scan::dispatch_state_size(n, [&]<int NS>() {
    // Task: a sample and a block of channels, all four directions. Within a
    // direction the chunk loop is outside the channel loop, so a chunk's
    // projections stay in cache for every channel of the block.
    isa::parallel_for_isa(0, d.batch * blocks, 1, [&](int64_t task) {
      const int64_t b = task / blocks, c0 = (task % blocks) * kChannelBlock, c1 = block_end(task % blocks, d.channels);
      scan::ChunkWorkspace<T> ws(std::min(opt.chunk, L), n);
      std::vector<T> h((c1 - c0) * n);  // (channels, N): each channel's state across chunks
      for (int k = 0; k < kDirections; ++k) {
        std::fill(h.begin(), h.end(), T(0));
        const Proj<const T> pk{proj + (b * kDirections + k) * S * L, L, d.R, d.N};
        for (int64_t j = 0; j < chunks; ++j) {
          const int64_t t0 = j * opt.chunk, len = std::min(opt.chunk, L - t0);
          for (int64_t c = c0; c < c1; ++c) {
            const int64_t bc = b * d.channels + c, kc = k * d.channels + c;
            T* hc = h.data() + (c - c0) * n;
            if (states) std::copy(hc, hc + n, states + ((bc * kDirections + k) * chunks + j) * n);
            Seq<T> seq{x + bc * L, pk, order + k * L};
            seq.out = out + bc * L;
            chunk_inputs(seq, wdt + kc * d.R, bias[kc], t0, len, ws, false);
            scan::forward_chunk<T, NS>(seq, t0, len, n, A + kc * n, D[kc], ws.u.data(), ws.dt.data(), hc);
          }
        }
      }
    });
  });
}

// xa as in fast_forward; dx (or null) receives the gradient of xa.
template <typename T>
void fast_backward(const Dims& d, const Saved& s, const T* xa, T* dx, const SS2DScanOptions& opt, const Tensor& gy_t,
                   std::vector<Tensor>& gi) {
  const int64_t L = d.L, S = d.S, KS = d.KS(), N = d.N, chunks = (L + opt.chunk - 1) / opt.chunk;
  const int64_t blocks = (d.channels + kChannelBlock - 1) / kChannelBlock;
  const int n = static_cast<int>(N);
  const T* x = xa;
  const T* proj = s.proj.data<T>();
  const T* wdt = s.wdt.data<T>();
  const T* bias = s.bias.data<T>();
  const T* A = s.A.data<T>();
  const T* D = s.ds.data<T>();
  const T* states = s.states.data<T>();
  const int32_t* order = s.order->data();
  const T* gy = gy_t.data<T>();

  // Per-(direction, channel) sums over the batch and the steps, in double; samples in order.
  std::vector<double> dA(kDirections * d.channels * N, 0.0), dD(kDirections * d.channels, 0.0);
  std::vector<double> dwdt(kDirections * d.channels * d.R, 0.0), dbias(kDirections * d.channels, 0.0);
  // With more threads than blocks (a 16-core machine at level 1 has 8 or 16
  // blocks), the four directions of a sample run at once, 4x the tasks: each
  // direction then has partials and a dx plane of its own, added into dx in
  // direction order afterwards, as the one-direction-at-a-time path adds them:
  // the same bits either way.
  const bool by_direction = num_threads() > blocks;
  const int64_t plane = d.channels * L;
  // (blocks, S L) per direction at a time, or for all four: per-block partial gradients of the proj
  std::vector<T> part((by_direction ? kDirections : 1) * blocks * S * L);
  std::vector<T> gpix(L * KS);  // (L, 4S): the gradient of the pixel-major projections
  std::vector<T> dx_dirs(by_direction && dx ? kDirections * plane : 0);

  // The backward of block blk of direction k of sample b: its partials into
  // part_k (blocks x S L, this block's S L cleared here), dL/du into dxb (the
  // sample's d x L plane) when not null.
  auto block_task = [&](int64_t b, int k, int64_t blk, T* part_k, T* dxb) {
    const Proj<const T> pk{proj + (b * kDirections + k) * S * L, L, d.R, d.N};
    scan::dispatch_state_size(n, [&]<int NS>() {
      const int64_t c0 = blk * kChannelBlock, c1 = block_end(blk, d.channels);
      // Each task clears its own block's partials (in parallel, and into its cache).
      std::fill(part_k + blk * S * L, part_k + (blk + 1) * S * L, T(0));
      scan::ChunkWorkspace<T> ws(std::min(opt.chunk, L), n);
      std::vector<T> g((c1 - c0) * n, T(0));  // (channels, N): dL/dh carried backwards
      std::vector<double> dDc(c1 - c0, 0.0), dbc(c1 - c0, 0.0);
      std::vector<Seq<T>> seqs;
      for (int64_t c = c0; c < c1; ++c) {
        const int64_t bc = b * d.channels + c;
        Seq<T> seq{x + bc * L, pk, order + k * L};
        seq.gy_plane = gy + bc * L;
        seq.dx = dxb ? dxb + c * L : nullptr;
        seq.part = Proj<T>{part_k + blk * S * L, L, d.R, d.N};
        seqs.push_back(seq);
      }
      for (int64_t j = chunks - 1; j >= 0; --j) {
        const int64_t t0 = j * opt.chunk, len = std::min(opt.chunk, L - t0);
        for (int64_t c = c0; c < c1; ++c) {
          const int64_t bc = b * d.channels + c, kc = k * d.channels + c;
          Seq<T>& seq = seqs[c - c0];
          chunk_inputs(seq, wdt + kc * d.R, bias[kc], t0, len, ws, true);
          scan::backward_chunk<T, NS>(seq, t0, len, n, A + kc * n, D[kc],
                                      states + ((bc * kDirections + k) * chunks + j) * n, g.data() + (c - c0) * n,
                                      ws, dA.data() + kc * n, dDc[c - c0]);
          chunk_dz(seq, wdt + kc * d.R, ws.dz.data(), t0, len, dwdt.data() + kc * d.R, dbc[c - c0]);
        }
      }
      for (int64_t c = c0; c < c1; ++c) {
        dD[k * d.channels + c] += dDc[c - c0];
        dbias[k * d.channels + c] += dbc[c - c0];
      }
    });
  };
  // Direction k's block partials summed in block order, back into pixel order.
  auto gather_partials = [&](int k, const T* part_k) {
    isa::parallel_for_isa(0, L, 64, [&](int64_t t) {
      T* o = gpix.data() + static_cast<int64_t>(order[k * L + t]) * KS + k * S;
      for (int64_t r = 0; r < d.R; ++r) {
        T v = part_k[r * L + t];
        for (int64_t blk = 1; blk < blocks; ++blk) v += part_k[blk * S * L + r * L + t];
        o[r] = v;
      }
      const T* q0 = part_k + d.R * L + t * 2 * N;
      std::copy(q0, q0 + 2 * N, o + d.R);
      for (int64_t blk = 1; blk < blocks; ++blk) {
        const T* q = q0 + blk * S * L;
        for (int64_t i = 0; i < 2 * N; ++i) o[d.R + i] += q[i];
      }
    });
  };

  for (int64_t b = 0; b < d.batch; ++b) {
    T* dxb = dx ? dx + b * plane : nullptr;
    if (by_direction) {
      if (dx) std::fill(dx_dirs.begin(), dx_dirs.end(), T(0));
      isa::parallel_for_isa(0, kDirections * blocks, 1, [&](int64_t task) {
        const int k = static_cast<int>(task / blocks);
        block_task(b, k, task % blocks, part.data() + k * blocks * S * L, dx ? dx_dirs.data() + k * plane : nullptr);
      });
      if (dx) add_direction_planes(dxb, dx_dirs.data(), plane);
      for (int k = 0; k < kDirections; ++k) gather_partials(k, part.data() + k * blocks * S * L);
    } else {
      // One direction at a time: the blocks own their channels' dx, so directions
      // never race on it.
      for (int k = 0; k < kDirections; ++k) {
        isa::parallel_for_isa(0, blocks, 1, [&](int64_t blk) { block_task(b, k, blk, part.data(), dxb); });
        gather_partials(k, part.data());
      }
    }
    // Through the projections: dx[b] (d, L) += W^T (d, 4S) gpix^T; dW (4S, d) += gpix^T x[b]^T.
    if (dx)
      gemm<T>(true, true, d.channels, L, KS, T(1), s.wx.data<T>(), d.channels, gpix.data(), KS, T(1),
              dx + b * d.channels * L, L);
    if (gi[kXProj].defined())
      gemm<T>(true, true, KS, d.channels, L, T(1), gpix.data(), KS, x + b * d.channels * L, L, T(1),
              gi[kXProj].data<T>(), d.channels);
  }

  auto add = [](Tensor& dst, const std::vector<double>& v, const T* scale) {
    if (!dst.defined()) return;
    T* p = dst.data<T>();
    for (size_t i = 0; i < v.size(); ++i) p[i] += static_cast<T>(scale ? v[i] * scale[i] : v[i]);
  };
  add(gi[kDtProj], dwdt, nullptr);
  add(gi[kDtBias], dbias, nullptr);
  add(gi[kALogs], dA, A);  // dA_logs = dA * dA/dA_logs = dA * A
  add(gi[kDs], dD, nullptr);
}

// SiLU(x) = x sigmoid(x) of n values into out.
template <typename T>
void silu_map(const T* x, T* out, int64_t n) {
  isa::parallel_chunks_isa(n, 1 << 14, [&](int64_t lo, int64_t hi) {
    vec::sigmoid_n(x + lo, out + lo, hi - lo);
    for (int64_t i = lo; i < hi; ++i) out[i] *= x[i];
  });
}

// dx += dxa SiLU'(x) over n values, SiLU'(x) = s (1 + x (1 - s)) with s = sigmoid(x).
template <typename T>
void add_silu_grad(T* dx, const T* dxa, const T* x, int64_t n) {
  constexpr int64_t kPiece = 1024;
  isa::parallel_chunks_isa(n, 1 << 14, [&](int64_t lo, int64_t hi) {
    T s[kPiece];
    for (int64_t p = lo; p < hi; p += kPiece) {
      const int64_t m = std::min(kPiece, hi - p);
      vec::sigmoid_n(x + p, s, m);
      for (int64_t i = 0; i < m; ++i) dx[p + i] += dxa[p + i] * (s[i] * (T(1) + x[p + i] * (T(1) - s[i])));
    }
  });
}

// The CPU op on the saved input x, or on SiLU(x) computed here (and again in
// the backward) when opt.silu_input.
template <typename T>
void cpu_forward(const Dims& d, Saved& s, const SS2DScanOptions& opt, Tensor& y, bool keep_states) {
  if (!opt.silu_input) {
    fast_forward<T>(d, s, s.x.data<T>(), opt, y, keep_states);
    return;
  }
  Tensor xa = Tensor::empty(s.x.shape(), s.x.dtype());
  silu_map(s.x.data<T>(), xa.data<T>(), xa.numel());
  fast_forward<T>(d, s, xa.data<T>(), opt, y, keep_states);
}

template <typename T>
void cpu_backward(const Dims& d, const Saved& s, const SS2DScanOptions& opt, const Tensor& g,
                  std::vector<Tensor>& gi) {
  T* dx = gi[kX].defined() ? gi[kX].data<T>() : nullptr;
  if (!opt.silu_input) {
    fast_backward<T>(d, s, s.x.data<T>(), dx, opt, g, gi);
    return;
  }
  Tensor xa = Tensor::empty(s.x.shape(), s.x.dtype());
  silu_map(s.x.data<T>(), xa.data<T>(), xa.numel());
  Tensor dxa = dx ? Tensor::zeros(s.x.shape(), s.x.dtype()) : Tensor();
  fast_backward<T>(d, s, xa.data<T>(), dx ? dxa.data<T>() : nullptr, opt, g, gi);
  if (dx) add_silu_grad(dx, dxa.data<T>(), s.x.data<T>(), dxa.numel());
}

// ---- the naive reference ------------------------------------------------------
struct RefSaved {
  Tensor x, wx, wdt, bias, alogs, ds;
};

// Everything the naive scan of direction k of sample b needs, recomputed from scratch.
template <typename T>
struct RefDirection {
  std::vector<T> xs;     // (d, L): the feature map in direction k's order (upstream's CrossScan copy)
  std::vector<T> xdbl;   // (S, L): x_proj_weight[k] @ xs
  std::vector<T> z;      // (d, L): dt_projs_weight[k] @ xdbl[:R] + bias
  std::vector<T> A;      // (d, N)
  std::vector<T> y;      // (d, L)
  std::vector<T> hs;     // (d, L, N)

  RefDirection(const Dims& d, const RefSaved& s, int64_t b, int k)
      : xs(d.channels * d.L),
        xdbl(d.S * d.L, T(0)),
        z(d.channels * d.L),
        A(d.channels * d.N),
        y(d.channels * d.L),
        hs(d.channels * d.L * d.N) {
    const T* x = s.x.data<T>() + b * d.channels * d.L;
    for (int64_t c = 0; c < d.channels; ++c)
      for (int64_t t = 0; t < d.L; ++t) xs[c * d.L + t] = x[c * d.L + ss2d_pixel(k, t, d.H, d.W)];
    const T* wx = s.wx.data<T>() + k * d.S * d.channels;
    for (int64_t r = 0; r < d.S; ++r)
      for (int64_t c = 0; c < d.channels; ++c)
        for (int64_t t = 0; t < d.L; ++t) xdbl[r * d.L + t] += wx[r * d.channels + c] * xs[c * d.L + t];
    const T* wdt = s.wdt.data<T>() + k * d.channels * d.R;
    for (int64_t c = 0; c < d.channels; ++c)
      for (int64_t t = 0; t < d.L; ++t) {
        T v = s.bias.data<T>()[k * d.channels + c];
        for (int64_t r = 0; r < d.R; ++r) v += wdt[c * d.R + r] * xdbl[r * d.L + t];
        z[c * d.L + t] = v;
      }
    for (int64_t i = 0; i < d.channels * d.N; ++i) A[i] = -std::exp(s.alogs.data<T>()[k * d.channels * d.N + i]);
    for (int64_t c = 0; c < d.channels; ++c)
      scan::naive_forward<T>(d.L, static_cast<int>(d.N), &xs[c * d.L], &z[c * d.L], &xdbl[d.R * d.L],
                             &xdbl[(d.R + d.N) * d.L], d.L, &A[c * d.N], s.ds.data<T>()[k * d.channels + c], true,
                             &y[c * d.L], &hs[c * d.L * d.N]);
  }
};

template <typename T>
void ref_forward(const Dims& d, const RefSaved& s, Tensor& y) {
  y.zero_();
  T* out = y.data<T>();
  for (int64_t b = 0; b < d.batch; ++b)
    for (int k = 0; k < kDirections; ++k) {
      RefDirection<T> r(d, s, b, k);
      for (int64_t c = 0; c < d.channels; ++c)  // CrossMerge
        for (int64_t t = 0; t < d.L; ++t)
          out[(b * d.channels + c) * d.L + ss2d_pixel(k, t, d.H, d.W)] += r.y[c * d.L + t];
    }
}

template <typename T>
void ref_backward(const Dims& d, const RefSaved& s, const Tensor& gy_t, std::vector<Tensor>& gi) {
  Tensor dx = Tensor::zeros(s.x.shape(), s.x.dtype()), dwx = Tensor::zeros(s.wx.shape(), s.x.dtype());
  Tensor dwdt = Tensor::zeros(s.wdt.shape(), s.x.dtype()), dbias = Tensor::zeros(s.bias.shape(), s.x.dtype());
  Tensor dalogs = Tensor::zeros(s.alogs.shape(), s.x.dtype()), dds = Tensor::zeros(s.ds.shape(), s.x.dtype());
  const T* gy = gy_t.data<T>();
  for (int64_t b = 0; b < d.batch; ++b)
    for (int k = 0; k < kDirections; ++k) {
      RefDirection<T> r(d, s, b, k);
      std::vector<T> gys(d.channels * d.L), dxs(d.channels * d.L, T(0)), dz(d.channels * d.L, T(0)),
          dxdbl(d.S * d.L, T(0));
      for (int64_t c = 0; c < d.channels; ++c)  // backward of CrossMerge: gather
        for (int64_t t = 0; t < d.L; ++t)
          gys[c * d.L + t] = gy[(b * d.channels + c) * d.L + ss2d_pixel(k, t, d.H, d.W)];
      for (int64_t c = 0; c < d.channels; ++c) {
        const int64_t kc = k * d.channels + c;
        std::vector<T> dA(d.N, T(0));
        T dD = 0;
        scan::naive_backward<T>(d.L, static_cast<int>(d.N), &r.xs[c * d.L], &r.z[c * d.L], &r.xdbl[d.R * d.L],
                                &r.xdbl[(d.R + d.N) * d.L], d.L, &r.A[c * d.N], s.ds.data<T>()[kc], true,
                                &r.hs[c * d.L * d.N], &gys[c * d.L], &dxs[c * d.L], &dz[c * d.L],
                                &dxdbl[d.R * d.L], &dxdbl[(d.R + d.N) * d.L], dA.data(), dD);
        for (int64_t n = 0; n < d.N; ++n) dalogs.data<T>()[kc * d.N + n] += dA[n] * r.A[c * d.N + n];
        dds.data<T>()[kc] += dD;
        for (int64_t t = 0; t < d.L; ++t) {
          const T g = dz[c * d.L + t];
          dbias.data<T>()[kc] += g;
          for (int64_t q = 0; q < d.R; ++q) {
            dwdt.data<T>()[kc * d.R + q] += g * r.xdbl[q * d.L + t];
            dxdbl[q * d.L + t] += g * s.wdt.data<T>()[kc * d.R + q];
          }
        }
      }
      const T* wx = s.wx.data<T>() + k * d.S * d.channels;
      T* dwxk = dwx.data<T>() + k * d.S * d.channels;
      for (int64_t q = 0; q < d.S; ++q)
        for (int64_t c = 0; c < d.channels; ++c)
          for (int64_t t = 0; t < d.L; ++t) {
            dwxk[q * d.channels + c] += dxdbl[q * d.L + t] * r.xs[c * d.L + t];
            dxs[c * d.L + t] += wx[q * d.channels + c] * dxdbl[q * d.L + t];
          }
      for (int64_t c = 0; c < d.channels; ++c)  // backward of CrossScan: scatter
        for (int64_t t = 0; t < d.L; ++t)
          dx.data<T>()[(b * d.channels + c) * d.L + ss2d_pixel(k, t, d.H, d.W)] += dxs[c * d.L + t];
    }
  const Tensor* grads[] = {&dx, &dwx, &dwdt, &dbias, &dalogs, &dds};
  for (int i = 0; i < 6; ++i)
    if (gi[i].defined()) {
      T* dst = gi[i].data<T>();
      const T* src = grads[i]->data<T>();
      for (int64_t k = 0, n = gi[i].numel(); k < n; ++k) dst[k] += src[k];
    }
}

// ---- CUDA ---------------------------------------------------------------------------
//
// f32 only. The projections are one cuBLAS GEMM per sample into a pixel-major
// (Bt, L, 4(R+2N)) buffer; the scan runs the phases of ops/cuda/ss2d_scan_device.h
// over segments of cuda::kScanSegment steps (opt.chunk is the CPU's chunk and
// does not apply); docs/cuda.md ("The scans on CUDA") describes them. With
// |y| = Bt d L values, the forward keeps for the backward the projections
// (Bt L 4(R+2N)), the segment start states (4 |y| N / 32: 2 |y| at N = 16) and
// the segment step sums (|y| / 8); its scratch is ys (4 |y|) and the local end
// states (as large as the start states). The backward's scratch is three (four
// with dx) per-direction planes of 4 |y|, the segment carries (twice the start
// states), the gradient of the projections (like proj) and the per-segment
// parameter sums in double. No atomics: bit-identical from run to run.

struct CudaSaved {
  Tensor x, wx, wdt, bias, alogs, ds;
  Tensor proj;      // (Bt, L, 4(R+2N)) pixel-major
  Tensor hstart;    // (segments, N): the state before each segment
  Tensor sumdelta;  // (segments): the sum of each segment's steps
};

cuda::SS2DScanParams cuda_params(const Dims& d, const CudaSaved& s) {
  cuda::SS2DScanParams p;
  p.batch = d.batch, p.d = d.channels, p.H = d.H, p.W = d.W, p.L = d.L;
  p.R = d.R, p.N = d.N, p.P = d.S;
  p.nseg = (d.L + cuda::kScanSegment - 1) / cuda::kScanSegment;
  p.x = s.x.data<float>();
  p.proj = s.proj.data<float>();
  p.wdt = s.wdt.data<float>();
  p.bias = s.bias.data<float>();
  p.alogs = s.alogs.data<float>();
  p.ds = s.ds.data<float>();
  return p;
}

// Fills s.proj, s.hstart and s.sumdelta; returns y.
Tensor forward_cuda(const char* op, const Dims& d, CudaSaved& s) {
  const auto gemm = cuda_kernel(cuda::gemm_kernels().gemm_cuda, op);
  const auto forward = cuda_kernel(cuda::ss2d_scan_kernels().ss2d_forward, op);
  const int64_t L = d.L, KS = d.KS();
  s.proj = cuda_f32({d.batch, L, KS});
  // proj[b] (L, 4S) = x[b]^T (L, d) * x_proj_weight^T (d, 4S), as on the CPU.
  for (int64_t b = 0; b < d.batch; ++b)
    gemm(true, true, L, KS, d.channels, 1.0f, s.x.data<float>() + b * d.channels * L, L, s.wx.data<float>(), d.channels,
         0.0f, s.proj.data<float>() + b * L * KS, KS);
  cuda::SS2DScanParams p = cuda_params(d, s);
  s.hstart = cuda_f32({p.segments(), d.N});
  s.sumdelta = cuda_f32({p.segments()});
  Tensor hloc = cuda_f32({p.segments(), d.N});
  Tensor ys = cuda_f32({d.batch, kDirections, d.channels, L});
  Tensor y = cuda_f32({d.batch, d.channels, d.H, d.W});
  p.hloc = hloc.data<float>();
  p.sumdelta = s.sumdelta.data<float>();
  p.hstart = s.hstart.data<float>();
  p.ys = ys.data<float>();
  p.y = y.data<float>();
  forward(p);
  return y;
}

// Adds the gradients into the defined gi, as fast_backward does.
void backward_cuda(const char* op, const Dims& d, const CudaSaved& s, const Tensor& gy, std::vector<Tensor>& gi) {
  const auto gemm = cuda_kernel(cuda::gemm_kernels().gemm_cuda, op);
  const auto backward = cuda_kernel(cuda::ss2d_scan_kernels().ss2d_backward, op);
  const auto reduce = cuda_kernel(cuda::ss2d_scan_kernels().ss2d_reduce, op);
  const int64_t L = d.L, KS = d.KS();
  cuda::SS2DScanParams p = cuda_params(d, s);
  const int64_t segs = p.segments();
  const Shape plane{d.batch, kDirections, d.channels, L};
  Tensor outloc = cuda_f32({segs, d.N}), ghend = cuda_f32({segs, d.N});
  Tensor dl = cuda_f32(plane), gz = cuda_f32(plane), du = gi[kX].defined() ? cuda_f32(plane) : Tensor();
  Tensor part_a = cuda_f64_scratch(segs * d.N), part_d = cuda_f64_scratch(segs), part_bias = cuda_f64_scratch(segs);
  Tensor part_w = cuda_f64_scratch(segs * d.R);
  Tensor dproj = cuda_f32({d.batch, L, KS});
  p.hstart = const_cast<float*>(s.hstart.data<float>());    // read only in the backward
  p.sumdelta = const_cast<float*>(s.sumdelta.data<float>());  // read only in the backward
  p.gy = gy.data<float>();
  p.outloc = outloc.data<float>();
  p.ghend = ghend.data<float>();
  p.dl = dl.data<float>();
  p.du = f32_or_null(du);
  p.gz = gz.data<float>();
  p.part_a = f64_data(part_a);
  p.part_d = f64_data(part_d);
  p.part_bias = f64_data(part_bias);
  p.part_w = f64_data(part_w);
  p.dproj = dproj.data<float>();
  backward(p);
  p.dx = f32_or_null(gi[kX]);
  p.dwdt = f32_or_null(gi[kDtProj]);
  p.dbias = f32_or_null(gi[kDtBias]);
  p.dalogs = f32_or_null(gi[kALogs]);
  p.dds = f32_or_null(gi[kDs]);
  reduce(p);
  // Through the projections: dx[b] (d, L) += W^T (d, 4S) dproj[b]^T; dW (4S, d) += dproj[b]^T x[b]^T, samples in order.
  for (int64_t b = 0; b < d.batch; ++b) {
    const float* g = dproj.data<float>() + b * L * KS;
    if (p.dx)
      gemm(true, true, d.channels, L, KS, 1.0f, s.wx.data<float>(), d.channels, g, KS, 1.0f, p.dx + b * d.channels * L,
           L);
    if (gi[kXProj].defined())
      gemm(true, true, KS, d.channels, L, 1.0f, g, KS, s.x.data<float>() + b * d.channels * L, L, 1.0f,
           gi[kXProj].data<float>(), d.channels);
  }
}
}  // namespace

int64_t ss2d_pixel(int k, int64_t t, int64_t H, int64_t W) {
  const int64_t L = H * W;
  if (k >= 2) t = L - 1 - t;         // k2, k3: the reversed k0, k1
  if (k % 2 == 0) return t;          // row-major
  return (t % H) * W + t / H;        // column-major: step t is row t % H of column t / H
}

int64_t ss2d_saved_state_bytes(const Shape& x, int64_t state_size, const SS2DScanOptions& opt, DType dtype) {
  const int64_t L = x[2] * x[3], chunks = (L + opt.chunk - 1) / opt.chunk;
  return x[0] * x[1] * kDirections * chunks * state_size * static_cast<int64_t>(dtype_size(dtype));
}

Tensor ss2d_scan(const Tensor& x, const Tensor& x_proj_weight, const Tensor& dt_projs_weight,
                 const Tensor& dt_projs_bias, const Tensor& A_logs, const Tensor& Ds, const SS2DScanOptions& opt) {
  LIEDNET_PROFILE_OP("ss2d_scan");
  const Dims d = check_inputs("ss2d_scan", x, x_proj_weight, dt_projs_weight, dt_projs_bias, A_logs, Ds, true);
  LIEDNET_CHECK(opt.chunk >= 1, "ss2d_scan: chunk must be positive, got ", opt.chunk);
  const bool grad = autograd::needs_grad({&x, &x_proj_weight, &dt_projs_weight, &dt_projs_bias, &A_logs, &Ds});
  // Projections 2 L d 4S; per step and channel the delta dot (2R), and per
  // state dt*A, a*h, dt*u*B (2), C*h and the sum: 6 multiply/adds, plus D*u.
  FlopCounter::add(d.batch *
                   (2 * d.L * d.channels * d.KS() + kDirections * d.channels * d.L * (2 * d.R + 6 * d.N + 2)));
  if (on_cuda("ss2d_scan", x)) {
    LIEDNET_CHECK(!opt.silu_input, "ss2d_scan: silu_input has no CUDA kernel; apply ops::silu first (x ", x.str(),
                  ")");
    CudaSaved s{.x = x.detach(),
                .wx = x_proj_weight.detach(),
                .wdt = dt_projs_weight.detach(),
                .bias = dt_projs_bias.detach(),
                .alogs = A_logs.detach(),
                .ds = Ds.detach()};
    Tensor y = forward_cuda("ss2d_scan", d, s);
    if (grad)
      autograd::record(y, "ss2d_scan", {x, x_proj_weight, dt_projs_weight, dt_projs_bias, A_logs, Ds},
                       [d, s](const Tensor& g, std::vector<Tensor>& gi) {
                         LIEDNET_CHECK(on_cuda("ss2d_scan", g),
                                       "ss2d_scan: the gradient of a CUDA output must be on CUDA, got ", g.str());
                         backward_cuda("ss2d_scan", d, s, g, gi);
                       });
    return y;
  }
  const int64_t chunks = (d.L + opt.chunk - 1) / opt.chunk;
  Saved s{.x = x.detach(),
          .wx = x_proj_weight.detach(),
          .wdt = dt_projs_weight.detach(),
          .bias = dt_projs_bias.detach(),
          .ds = Ds.detach(),
          .A = Tensor::empty(A_logs.shape(), x.dtype()),
          .proj = Tensor::empty({d.batch, kDirections, d.S * d.L}, x.dtype()),
          .states = grad ? Tensor::empty({d.batch, d.channels, kDirections, chunks, d.N}, x.dtype()) : Tensor(),
          .order = std::make_shared<const std::vector<int32_t>>(direction_orders(d.H, d.W))};
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  LIEDNET_DISPATCH(x.dtype(), T, {
    const std::vector<T> A = negative_exp<T>(A_logs);
    std::copy(A.begin(), A.end(), s.A.data<T>());
    cpu_forward<T>(d, s, opt, y, grad);
  });
  if (grad)
    autograd::record(y, "ss2d_scan", {x, x_proj_weight, dt_projs_weight, dt_projs_bias, A_logs, Ds},
                     [d, s, opt](const Tensor& g, std::vector<Tensor>& gi) {
                       LIEDNET_DISPATCH(g.dtype(), T, cpu_backward<T>(d, s, opt, g, gi));
                     });
  return y;
}

Tensor ss2d_scan_reference(const Tensor& x, const Tensor& x_proj_weight, const Tensor& dt_projs_weight,
                           const Tensor& dt_projs_bias, const Tensor& A_logs, const Tensor& Ds) {
  LIEDNET_PROFILE_OP("ss2d_scan_reference");
  const Dims d =
      check_inputs("ss2d_scan_reference", x, x_proj_weight, dt_projs_weight, dt_projs_bias, A_logs, Ds, false);
  RefSaved s{.x = x.detach(),
             .wx = x_proj_weight.detach(),
             .wdt = dt_projs_weight.detach(),
             .bias = dt_projs_bias.detach(),
             .alogs = A_logs.detach(),
             .ds = Ds.detach()};
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  LIEDNET_DISPATCH(x.dtype(), T, ref_forward<T>(d, s, y));
  if (autograd::needs_grad({&x, &x_proj_weight, &dt_projs_weight, &dt_projs_bias, &A_logs, &Ds}))
    autograd::record(y, "ss2d_scan_reference", {x, x_proj_weight, dt_projs_weight, dt_projs_bias, A_logs, Ds},
                     [d, s](const Tensor& g, std::vector<Tensor>& gi) {
                       LIEDNET_DISPATCH(g.dtype(), T, ref_backward<T>(d, s, g, gi));
                     });
  return y;
}

}  // namespace liednet::ops
