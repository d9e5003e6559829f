#include "ops/selective_scan.h"

#include "autograd/autograd.h"
#include "autograd/profiler.h"
#include "ops/check.h"
#include "ops/scan_kernel.h"
#include "ops/scan_reference.h"
#include "ops/isa.h"
#include "tensor/parallel.h"

namespace liednet::ops {

namespace {
constexpr int64_t kChannelBlock = 8;  // channels per backward task: fixed, so sums never depend on threads

struct Dims {
  int64_t batch, channels, length, groups, per_group;
  int state;
};

// allow_cuda: the op has a CUDA path (the fast op has, the reference has not).
Dims check_inputs(const char* op, const Tensor& u, const Tensor& delta, const Tensor& A, const Tensor& B,
                  const Tensor& C, const Tensor& D, const Tensor& bias, const ScanOptions& opt, bool allow_cuda) {
  check_ndim(op, u, 3, "u");
  if (!allow_cuda || !on_cuda(op, u)) check_cpu(op, u);
  check_same(op, u, delta);
  check_ndim(op, A, 2, "A");
  check_ndim(op, B, 4, "B");
  check_compatible(op, u, A);
  check_compatible(op, u, B);
  check_same(op, B, C);
  Dims d{u.size(0), u.size(1), u.size(2), B.size(1), 0, static_cast<int>(A.size(1))};
  LIEDNET_CHECK(A.size(0) == d.channels, op, ": A ", A.str(), " must be (", d.channels, ", N) for u ", u.str());
  LIEDNET_CHECK(d.state >= 1 && d.state <= scan::kMaxState, op, ": state size N = ", d.state, " must be in [1, ",
                scan::kMaxState, "]");
  LIEDNET_CHECK(B.size(0) == d.batch && B.size(2) == d.state && B.size(3) == d.length && d.groups >= 1 &&
                    d.channels % d.groups == 0,
                op, ": B ", B.str(), " must be (", d.batch, ", G, ", d.state, ", ", d.length, ") with G dividing ",
                d.channels, " (u ", u.str(), ", A ", A.str(), ")");
  for (const Tensor* v : {&D, &bias})
    if (v->defined()) {
      check_compatible(op, u, *v);
      LIEDNET_CHECK(v->ndim() == 1 && v->size(0) == d.channels, op, ": D and delta_bias must be (", d.channels,
                    "), got ", v->str());
    }
  LIEDNET_CHECK(opt.chunk >= 1, op, ": chunk must be positive, got ", opt.chunk);
  d.per_group = d.channels / d.groups;
  return d;
}

// (Bt, G, N, L) <-> (Bt, G, L, N): the fast kernel reads the N values of a step contiguously.
template <typename T>
void swap_last_two(const T* in, T* out, int64_t planes, int64_t rows, int64_t cols) {
  isa::parallel_for_isa(0, planes, 1, [&](int64_t p) {
    const T* src = in + p * rows * cols;
    T* dst = out + p * rows * cols;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) dst[c * rows + r] = src[r * cols + c];
  });
}

// One (batch, channel) sequence of the plain scan, for the fast kernel.
template <typename T>
struct PlainSeq {
  const T* u;      // (L)
  const T* delta;  // (L)
  T bias;
  const T* B;      // (L, N)
  const T* C;      // (L, N)
  T* y;            // (L)
  int n;
  // backward
  const T* gy = nullptr;
  T* du = nullptr;      // (L) or null
  T* ddelta = nullptr;  // (L) or null
  double dbias = 0;
  T* dB = nullptr;      // (L, N)
  T* dC = nullptr;      // (L, N)

  T z(int64_t t) const { return delta[t] + bias; }
  T u_at(int64_t t) const { return u[t]; }
  const T* B_at(int64_t t) const { return B + t * n; }
  const T* C_at(int64_t t) const { return C + t * n; }
};

// Adapts PlainSeq to the names scan_kernel.h expects.
template <typename T>
struct PlainAccess {
  PlainSeq<T>& s;
  T u(int64_t t) const { return s.u_at(t); }
  T z(int64_t t) const { return s.z(t); }
  const T* B(int64_t t) const { return s.B_at(t); }
  const T* C(int64_t t) const { return s.C_at(t); }
  void y(int64_t t, T v) { s.y[t] = v; }
  T gy(int64_t t) const { return s.gy[t]; }
  void add_du(int64_t t, T v) {
    if (s.du) s.du[t] += v;
  }
  void add_dz(int64_t t, T v) {
    if (s.ddelta) s.ddelta[t] += v;
    s.dbias += v;
  }
  T* dB(int64_t t) { return s.dB + t * s.n; }
  T* dC(int64_t t) { return s.dC + t * s.n; }
  int64_t step_stride() const { return s.n; }
};

template <typename T>
const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
template <typename T>
T* mut_or_null(Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// The inputs of selective_scan in order: the slots of the backward's gradients (gi[kDelta], ...).
enum Input : int { kU = 0, kDelta = 1, kA = 2, kB = 3, kC = 4, kD = 5, kDeltaBias = 6 };

// Saved for the fast backward.
struct FastSaved {
  Tensor u, delta, A, D, bias;
  Tensor Bt, Ct;    // (Bt, G, L, N)
  Tensor states;    // (Bt, Dc, chunks, N)
};

template <typename T>
void fast_forward(const Dims& d, const FastSaved& s, const ScanOptions& opt, Tensor& y, T* states) {
  const int64_t L = d.length, chunks = (L + opt.chunk - 1) / opt.chunk;
  const T* u = s.u.data<T>();
  const T* delta = s.delta.data<T>();
  const T* A = s.A.data<T>();
  const T* D = ptr_or_null<T>(s.D);
  const T* bias = ptr_or_null<T>(s.bias);
  const T* Bt = s.Bt.data<T>();
  const T* Ct = s.Ct.data<T>();
  T* out = y.data<T>();
  scan::dispatch_state_size(d.state, [&]<int NS>() {
    isa::parallel_for_isa(0, d.batch * d.channels, 1, [&](int64_t bc) {
      const int64_t b = bc / d.channels, c = bc % d.channels, g = c / d.per_group;
      PlainSeq<T> seq{u + bc * L, delta + bc * L, bias ? bias[c] : T(0), Bt + (b * d.groups + g) * L * d.state,
                      Ct + (b * d.groups + g) * L * d.state, out + bc * L, d.state};
      PlainAccess<T> acc{seq};
      scan::ChunkWorkspace<T> ws(std::min(opt.chunk, L), d.state);
      scan::forward_sequence<T, NS>(acc, L, d.state, A + c * d.state, D ? D[c] : T(0), opt.delta_softplus, opt.chunk,
                                    states ? states + bc * chunks * d.state : nullptr, ws);
    });
  });
}

template <typename T>
void fast_backward(const Dims& d, const FastSaved& s, const ScanOptions& opt, const Tensor& gy_t,
                   std::vector<Tensor>& gi) {
  const int64_t L = d.length, N = d.state, chunks = (L + opt.chunk - 1) / opt.chunk;
  const int64_t blocks_per_group = (d.per_group + kChannelBlock - 1) / kChannelBlock;
  const int64_t blocks = d.groups * blocks_per_group;
  const T* u = s.u.data<T>();
  const T* delta = s.delta.data<T>();
  const T* A = s.A.data<T>();
  const T* D = ptr_or_null<T>(s.D);
  const T* bias = ptr_or_null<T>(s.bias);
  const T* Bt = s.Bt.data<T>();
  const T* Ct = s.Ct.data<T>();
  const T* states = s.states.data<T>();
  const T* gy = gy_t.data<T>();
  T* du = mut_or_null<T>(gi[kU]);
  T* ddelta = mut_or_null<T>(gi[kDelta]);

  // Per-channel sums over batch and time, in double; samples are visited in order.
  std::vector<double> dA(d.channels * N, 0.0), dD(d.channels, 0.0), dbias(d.channels, 0.0);
  // Per-block partial gradients of B and C (shared by a group's channels), reduced in block order.
  std::vector<T> part_B(blocks * L * N), part_C(blocks * L * N);  // (blocks, L, N)
  Tensor dB_t = Tensor::zeros({d.batch, d.groups, L, N}, s.u.dtype());
  Tensor dC_t = Tensor::zeros({d.batch, d.groups, L, N}, s.u.dtype());
  T* dBt = dB_t.data<T>();
  T* dCt = dC_t.data<T>();

  for (int64_t b = 0; b < d.batch; ++b) {
    std::fill(part_B.begin(), part_B.end(), T(0));
    std::fill(part_C.begin(), part_C.end(), T(0));
    scan::dispatch_state_size(d.state, [&]<int NS>() {
      isa::parallel_for_isa(0, blocks, 1, [&](int64_t blk) {
        scan::ChunkWorkspace<T> ws(std::min(opt.chunk, L), d.state);
        const int64_t g = blk / blocks_per_group;
        const int64_t c0 = g * d.per_group + (blk % blocks_per_group) * kChannelBlock;
        const int64_t c1 = std::min(c0 + kChannelBlock, (g + 1) * d.per_group);
        for (int64_t c = c0; c < c1; ++c) {
          const int64_t bc = b * d.channels + c;
          PlainSeq<T> seq{u + bc * L, delta + bc * L, bias ? bias[c] : T(0), Bt + (b * d.groups + g) * L * N,
                          Ct + (b * d.groups + g) * L * N, nullptr, d.state};
          seq.gy = gy + bc * L;
          seq.du = du ? du + bc * L : nullptr;
          seq.ddelta = ddelta ? ddelta + bc * L : nullptr;
          seq.dB = part_B.data() + blk * L * N;
          seq.dC = part_C.data() + blk * L * N;
          PlainAccess<T> acc{seq};
          double dDc = 0;
          scan::backward_sequence<T, NS>(acc, L, d.state, A + c * N, D ? D[c] : T(0), opt.delta_softplus, opt.chunk,
                                         states + bc * chunks * N, ws, dA.data() + c * N, dDc);
          dD[c] += dDc;
          dbias[c] += seq.dbias;
        }
      });
    });
    // dB[b, g] = sum of the group's block partials, in block order.
    isa::parallel_for_isa(0, d.groups * L, 64, [&](int64_t gl) {
      const int64_t g = gl / L, t = gl % L;
      T* ob = dBt + ((b * d.groups + g) * L + t) * N;
      T* oc = dCt + ((b * d.groups + g) * L + t) * N;
      for (int64_t k = 0; k < blocks_per_group; ++k) {
        const T* pb = part_B.data() + ((g * blocks_per_group + k) * L + t) * N;
        const T* pc = part_C.data() + ((g * blocks_per_group + k) * L + t) * N;
        for (int64_t n = 0; n < N; ++n) {
          ob[n] += pb[n];
          oc[n] += pc[n];
        }
      }
    });
  }

  auto add_vec = [](Tensor& dst, const std::vector<double>& v) {
    if (!dst.defined()) return;
    T* p = dst.data<T>();
    for (size_t i = 0; i < v.size(); ++i) p[i] += static_cast<T>(v[i]);
  };
  add_vec(gi[kA], dA);
  add_vec(gi[kD], dD);
  add_vec(gi[kDeltaBias], dbias);
  // Back to (Bt, G, N, L).
  for (int k : {kB, kC}) {
    if (!gi[k].defined()) continue;
    Tensor tmp = Tensor::empty(gi[k].shape(), gi[k].dtype());
    swap_last_two<T>(k == kB ? dBt : dCt, tmp.data<T>(), d.batch * d.groups, L, N);
    T* dst = gi[k].data<T>();
    const T* src = tmp.data<T>();
    for (int64_t i = 0, n = tmp.numel(); i < n; ++i) dst[i] += src[i];
  }
}

// The reference: per sequence, naive kernels on the untransposed inputs.
struct RefSaved {
  Tensor u, delta, A, B, C, D, bias;
  Tensor hs;  // (Bt, Dc, L, N): every state
};

template <typename T>
void ref_forward(const Dims& d, RefSaved& s, bool use_softplus, Tensor& y) {
  const int64_t L = d.length, N = d.state;
  const T* D = ptr_or_null<T>(s.D);
  const T* bias = ptr_or_null<T>(s.bias);
  for (int64_t b = 0; b < d.batch; ++b)
    for (int64_t c = 0; c < d.channels; ++c) {
      const int64_t bc = b * d.channels + c, g = c / d.per_group;
      std::vector<T> z(L);
      for (int64_t t = 0; t < L; ++t) z[t] = s.delta.data<T>()[bc * L + t] + (bias ? bias[c] : T(0));
      const T* Bp = s.B.data<T>() + (b * d.groups + g) * N * L;
      const T* Cp = s.C.data<T>() + (b * d.groups + g) * N * L;
      scan::naive_forward<T>(L, d.state, s.u.data<T>() + bc * L, z.data(), Bp, Cp, L, s.A.data<T>() + c * N,
                             D ? D[c] : T(0), use_softplus, y.data<T>() + bc * L, s.hs.data<T>() + bc * L * N);
    }
}

template <typename T>
void ref_backward(const Dims& d, const RefSaved& s, bool use_softplus, const Tensor& gy, std::vector<Tensor>& gi) {
  const int64_t L = d.length, N = d.state;
  const T* D = ptr_or_null<T>(s.D);
  const T* bias = ptr_or_null<T>(s.bias);
  // Full-size gradient buffers; copied into those that are wanted.
  Tensor du = Tensor::zeros(s.u.shape(), s.u.dtype()), dz = Tensor::zeros(s.u.shape(), s.u.dtype());
  Tensor dA = Tensor::zeros(s.A.shape(), s.A.dtype()), dB = Tensor::zeros(s.B.shape(), s.B.dtype());
  Tensor dC = Tensor::zeros(s.C.shape(), s.C.dtype()), dD = Tensor::zeros({d.channels}, s.u.dtype());
  for (int64_t b = 0; b < d.batch; ++b)
    for (int64_t c = 0; c < d.channels; ++c) {
      const int64_t bc = b * d.channels + c, g = c / d.per_group;
      std::vector<T> z(L);
      for (int64_t t = 0; t < L; ++t) z[t] = s.delta.data<T>()[bc * L + t] + (bias ? bias[c] : T(0));
      const int64_t bo = (b * d.groups + g) * N * L;
      scan::naive_backward<T>(L, d.state, s.u.data<T>() + bc * L, z.data(), s.B.data<T>() + bo, s.C.data<T>() + bo, L,
                              s.A.data<T>() + c * N, D ? D[c] : T(0), use_softplus, s.hs.data<T>() + bc * L * N,
                              gy.data<T>() + bc * L, du.data<T>() + bc * L, dz.data<T>() + bc * L,
                              dB.data<T>() + bo, dC.data<T>() + bo, dA.data<T>() + c * N, dD.data<T>()[c]);
    }
  Tensor dbias = Tensor::zeros({d.channels}, s.u.dtype());
  for (int64_t bc = 0; bc < d.batch * d.channels; ++bc)
    for (int64_t t = 0; t < L; ++t) dbias.data<T>()[bc % d.channels] += dz.data<T>()[bc * L + t];
  const Tensor* grads[] = {&du, &dz, &dA, &dB, &dC, &dD, &dbias};
  for (int i = 0; i < 7; ++i) {
    if (!gi[i].defined()) continue;
    T* dst = gi[i].data<T>();
    const T* src = grads[i]->data<T>();
    for (int64_t k = 0, n = gi[i].numel(); k < n; ++k) dst[k] += src[k];
  }
}
}  // namespace

Tensor selective_scan(const Tensor& u, const Tensor& delta, const Tensor& A, const Tensor& B, const Tensor& C,
                      const Tensor& D, const Tensor& delta_bias, const ScanOptions& opt) {
  LIEDNET_PROFILE_OP("selective_scan");
  const Dims d = check_inputs("selective_scan", u, delta, A, B, C, D, delta_bias, opt, true);
  if (on_cuda("selective_scan", u)) return detail::selective_scan_cuda(u, delta, A, B, C, D, delta_bias, opt);
  const bool grad = autograd::needs_grad({&u, &delta, &A, &B, &C, &D, &delta_bias});
  const int64_t chunks = (d.length + opt.chunk - 1) / opt.chunk;
  FastSaved s{.u = u.detach(),
              .delta = delta.detach(),
              .A = A.detach(),
              .D = D.defined() ? D.detach() : Tensor(),
              .bias = delta_bias.defined() ? delta_bias.detach() : Tensor(),
              .Bt = Tensor::empty({d.batch, d.groups, d.length, d.state}, u.dtype()),
              .Ct = Tensor::empty({d.batch, d.groups, d.length, d.state}, u.dtype()),
              .states = grad ? Tensor::empty({d.batch, d.channels, chunks, d.state}, u.dtype()) : Tensor()};
  Tensor y = Tensor::empty(u.shape(), u.dtype());
  LIEDNET_DISPATCH(u.dtype(), T, {
    swap_last_two<T>(B.data<T>(), s.Bt.data<T>(), d.batch * d.groups, d.state, d.length);
    swap_last_two<T>(C.data<T>(), s.Ct.data<T>(), d.batch * d.groups, d.state, d.length);
    fast_forward<T>(d, s, opt, y, grad ? s.states.data<T>() : nullptr);
  });
  if (grad)
    autograd::record(y, "selective_scan", {u, delta, A, B, C, D, delta_bias},
                     [d, s, opt](const Tensor& g, std::vector<Tensor>& gi) {
                       LIEDNET_DISPATCH(g.dtype(), T, fast_backward<T>(d, s, opt, g, gi));
                     });
  return y;
}

Tensor selective_scan_reference(const Tensor& u, const Tensor& delta, const Tensor& A, const Tensor& B,
                                const Tensor& C, const Tensor& D, const Tensor& delta_bias, const ScanOptions& opt) {
  LIEDNET_PROFILE_OP("selective_scan_reference");
  const Dims d = check_inputs("selective_scan_reference", u, delta, A, B, C, D, delta_bias, opt, false);
  RefSaved s{.u = u.detach(),
             .delta = delta.detach(),
             .A = A.detach(),
             .B = B.detach(),
             .C = C.detach(),
             .D = D.defined() ? D.detach() : Tensor(),
             .bias = delta_bias.defined() ? delta_bias.detach() : Tensor(),
             .hs = Tensor::empty({d.batch, d.channels, d.length, d.state}, u.dtype())};
  Tensor y = Tensor::empty(u.shape(), u.dtype());
  const bool sp = opt.delta_softplus;
  LIEDNET_DISPATCH(u.dtype(), T, ref_forward<T>(d, s, sp, y));
  if (autograd::needs_grad({&u, &delta, &A, &B, &C, &D, &delta_bias}))
    autograd::record(y, "selective_scan_reference", {u, delta, A, B, C, D, delta_bias},
                     [d, s, sp](const Tensor& g, std::vector<Tensor>& gi) {
                       LIEDNET_DISPATCH(g.dtype(), T, ref_backward<T>(d, s, sp, g, gi));
                     });
  return y;
}

}  // namespace liednet::ops
