// The selective-scan recurrence for one sequence, shared by the plain scan
// (ops/selective_scan) and the fused 2D scan (ops/ss2d_scan). Internal header.
//
// For one sequence (a batch element and a channel, in SS2D also a direction),
// with A (N), D and, per step t: input u_t, raw step z_t (delta + bias),
// B_t (N), C_t (N):
//   dt_t = softplus(z_t)              (or z_t when softplus is off)
//   a_t  = exp(dt_t * A)              (N values; A < 0 so 0 < a_t <= 1)
//   h_t  = a_t * h_{t-1} + dt_t * u_t * B_t,   h_{-1} = 0
//   y_t  = sum_n C_t[n] h_t[n] + D u_t
//
// The forward keeps only h at the start of each chunk of `chunk` steps. The
// backward walks the chunks in reverse; for each it recomputes h_t, a_t, dt_t
// from the saved start state and then runs the adjoint recurrence backwards
// (docs/selective_scan.md derives it):
//   g_t   = dL/dh_t = gy_t C_t + a_{t+1} g_{t+1}
//   dC_t += gy_t h_t;  dB_t += g_t dt_t u_t;  dA += g_t dt_t a_t h_{t-1}
//   du_t  = gy_t D + dt_t sum_n g_t B_t;  dD += gy_t u_t
//   ddt_t = sum_n g_t (A a_t h_{t-1} + u_t B_t);  dz_t = ddt_t softplus'(z_t)
//
// The state loops run over N lanes; sums over N use a fixed pairwise tree
// (tree_sum) so the compiler can vectorise them without reordering what the
// source says: results never depend on the thread count or the machine's
// vector width.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "ops/vec_math.h"

namespace liednet::ops::scan {

constexpr int kMaxState = 64;

// The 16 states of LIEDNet's scan as one value of two 8-lane halves. GCC's
// vector extensions give one AVX2 register per half without intrinsics. (A
// single 16-lane vector type is one AVX-512 register, but without AVX-512 GCC
// splits its selects and conversions lane by lane through memory, which made
// that path several times slower on AVX2 machines; 8-lane halves compile to
// plain AVX2, and on AVX-512 machines to 256-bit AVX-512VL instructions.)
// Every operation below is the lane-wise image of the scalar code, and hsum
// adds halves in the order tree_sum does (the compiler may still fuse a
// multiply and an add differently in the two paths).
using vec::f32x8;
using vec::f64x4;
using vec::load8;
using vec::store8;

using vec::i32x8;

// The decay a = exp(dt A) (and softplus's e^-|z|): std::exp in double; in
// float a polynomial exp that costs 14 vector operations for 8 lanes:
//   x clamped to [-127 ln2, 88];  k = round(x / ln2) by adding a magic number
//   (1.5 2^23 + 127) whose low bits then hold k + 127;  r = x - k ln2 in two
//   parts (Cody-Waite, exact without FMA);  e^r by a degree-5 near-minimax
//   polynomial on |r| <= ln2/2 (a Chebyshev fit, 8e-8 in exact arithmetic;
//   its constant term rounded to 1, so that exp(0) is exactly 1);
//   2^k from the magic sum's bits shifted into the exponent field.
// Relative error below 3e-7 for x in [-87, 88] (ops/scan_kernel_test.cpp
// checks it against std::exp). At x <= -127 ln2 (-88.03) 2^k is the bit
// pattern 0 and the result exactly 0; between that and -87.3 it is 0 or a
// denormal, which the kernels flush to 0 (ops/isa.h). Above 88 it is e^88.
namespace exp_detail {
constexpr float kLo = -88.0296919f, kHi = 88.0f;
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kMagic = 12582912.0f + 127.0f;  // 1.5 2^23 + 127
constexpr float kLn2Hi = 0.693145751953125f, kLn2Lo = 1.428606765330187e-06f;
constexpr float kC5 = 0.008369148490856347f, kC4 = 0.04191750724961526f, kC3 = 0.16666505260408124f,
                kC2 = 0.49998869378303396f, kC1 = 1.00000001077157f, kC0 = 1.0f;
// 2^k from the magic sum t: its low bits, shifted into the exponent field.
inline float pow2_of_magic(float t) { return std::bit_cast<float>(std::bit_cast<int32_t>(t) << 23); }
inline f32x8 pow2_of_magic(f32x8 t) { return reinterpret_cast<f32x8>(reinterpret_cast<i32x8>(t) << 23); }
// e^xc for xc already clamped, in float or 8 lanes: the reduction, the polynomial, the scale.
template <class V>
inline V exp_clamped(V xc) {
  const V t = xc * kLog2e + kMagic;
  const V k = t - kMagic;
  const V r = (xc - k * kLn2Hi) - k * kLn2Lo;
  V p = r * kC5 + kC4;
  p = p * r + kC3;
  p = p * r + kC2;
  p = p * r + kC1;
  p = p * r + kC0;
  return p * pow2_of_magic(t);
}
}  // namespace exp_detail

inline float decay_exp(float x) {
  using namespace exp_detail;
  return exp_clamped(x < kLo ? kLo : (x > kHi ? kHi : x));
}
inline double decay_exp(double x) { return std::exp(x); }
inline f32x8 decay_exp(f32x8 x) {
  using namespace exp_detail;
  const f32x8 lo = f32x8{} + kLo, hi = f32x8{} + kHi;
  return exp_clamped(x < lo ? lo : (x > hi ? hi : x));
}
// The same for x <= 0 only (the decays of ss2d_scan, where dt >= 0 and A < 0):
// without the upper clamp, two operations fewer; equal to decay_exp there.
inline f32x8 decay_exp_nonpositive(f32x8 x) {
  using namespace exp_detail;
  const f32x8 lo = f32x8{} + kLo;
  return exp_clamped(x < lo ? lo : x);
}

struct f32x16 {
  f32x8 lo, hi;  // states 0..7 and 8..15
};
inline f32x16 operator+(f32x16 a, f32x16 b) { return {a.lo + b.lo, a.hi + b.hi}; }
inline f32x16 operator-(f32x16 a, f32x16 b) { return {a.lo - b.lo, a.hi - b.hi}; }
inline f32x16 operator*(f32x16 a, f32x16 b) { return {a.lo * b.lo, a.hi * b.hi}; }
inline f32x16 operator*(float a, f32x16 b) { return {a * b.lo, a * b.hi}; }
inline f32x16 operator*(f32x16 a, float b) { return {a.lo * b, a.hi * b}; }
inline f32x16& operator+=(f32x16& a, f32x16 b) { return a = a + b; }
inline f32x16& operator*=(f32x16& a, f32x16 b) { return a = a * b; }

// 16 doubles: the per-state gradient sums.
struct f64x16 {
  f64x4 q[4];
};

inline f32x16 load16(const float* p) { return {load8(p), load8(p + 8)}; }
inline void store16(float* p, f32x16 v) {
  store8(p, v.lo);
  store8(p + 8, v.hi);
}
inline f64x16 load16(const double* p) {
  f64x16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store16(double* p, const f64x16& v) { std::memcpy(p, &v, sizeof v); }

inline void add_to(f64x16& acc, f32x16 v) {
  typedef float f32x4 __attribute__((vector_size(16)));
  acc.q[0] += __builtin_convertvector(__builtin_shufflevector(v.lo, v.lo, 0, 1, 2, 3), f64x4);
  acc.q[1] += __builtin_convertvector(__builtin_shufflevector(v.lo, v.lo, 4, 5, 6, 7), f64x4);
  acc.q[2] += __builtin_convertvector(__builtin_shufflevector(v.hi, v.hi, 0, 1, 2, 3), f64x4);
  acc.q[3] += __builtin_convertvector(__builtin_shufflevector(v.hi, v.hi, 4, 5, 6, 7), f64x4);
  static_assert(sizeof(f32x4) == 16);
}

inline f32x16 decay_exp(f32x16 x) { return {decay_exp(x.lo), decay_exp(x.hi)}; }

inline float hsum(f32x16 v) {
  typedef float f32x4 __attribute__((vector_size(16)));
  typedef float f32x2 __attribute__((vector_size(8)));
  const f32x8 a = v.lo + v.hi;
  const f32x4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
  const f32x2 c = __builtin_shufflevector(b, b, 0, 1) + __builtin_shufflevector(b, b, 2, 3);
  return c[0] + c[1];
}

// The float, 16-state case runs the vector path.
template <typename T, int NS>
constexpr bool kVector16 = std::is_same_v<T, float> && NS == 16;

// torch's softplus (beta 1, threshold 20): z for z > 20, else log(1 + e^z).
// Written as max(z, 0) + log1p(e^-|z|) with log1p(e) = 2 atanh(e / (2 + e)),
// whose series in s = e / (2 + e) <= 1/3 converges fast; with decay_exp this
// is branch-free, and float runs it 8 steps at a time. Relative error below
// 1e-7 in float; double uses the library functions.
inline f32x8 softplus(f32x8 z) {
  const f32x8 zero = {};
  const f32x8 e = decay_exp(z < zero ? z : -z);  // e^-|z|
  const f32x8 s = e / (2.0f + e), s2 = s * s;
  f32x8 p = zero + 1.0f / 13.0f;
  p = p * s2 + 1.0f / 11.0f;
  p = p * s2 + 1.0f / 9.0f;
  p = p * s2 + 1.0f / 7.0f;
  p = p * s2 + 1.0f / 5.0f;
  p = p * s2 + 1.0f / 3.0f;
  p = p * s2 + 1.0f;
  const f32x8 v = (z < zero ? zero : z) + 2.0f * s * p;
  return z > 20.0f ? z : v;
}
inline double softplus(double z) { return z > 20.0 ? z : std::log1p(std::exp(z)); }

// d softplus / dz = sigmoid(z), and 1 above the threshold.
inline f32x8 softplus_grad(f32x8 z) {
  const f32x8 one = f32x8{} + 1.0f;
  return z > 20.0f ? one : vec::sigmoid(z);
}
inline double softplus_grad(double z) { return z > 20.0 ? 1.0 : 1.0 / (1.0 + std::exp(-z)); }

// Steps a chunk buffer is padded to: float's softplus runs 8 at a time.
inline int64_t padded_steps(int64_t n) { return (n + 7) / 8 * 8; }

// Sum of p[0..n) in a fixed pairwise order (for powers of two; otherwise the
// remainder is added in index order). p is overwritten.
template <typename T, int NS>
inline T tree_sum(T* p, int n_runtime) {
  int n = NS > 0 ? NS : n_runtime;
  while (n > 1 && n % 2 == 0) {
    const int half = n / 2;
    for (int i = 0; i < half; ++i) p[i] += p[i + half];
    n = half;
  }
  T s = p[0];
  for (int i = 1; i < n; ++i) s += p[i];
  return s;
}

// Per-thread buffers for one chunk.
template <typename T>
struct ChunkWorkspace {
  std::vector<T> u, dt, dsp, dz;  // (chunk, padded): u_t, dt_t, softplus'(z_t), dL/dz_t
  std::vector<T> h, a;            // (chunk, N): h_t and a_t, recomputed in the backward
  ChunkWorkspace(int64_t chunk, int n)
      : u(padded_steps(chunk)),
        dt(padded_steps(chunk)),
        dsp(padded_steps(chunk)),
        dz(padded_steps(chunk)),
        h(chunk * n),
        a(chunk * n) {}
};

// A chunk's step sizes: dt holds z_t (delta + bias) for len steps on entry and
// dt_t on exit; dsp (when not null) receives softplus'(z_t). Float runs 8 steps
// at a time, so dt and dsp hold padded_steps(len) values (the padding is
// computed and never read).
template <typename T>
void softplus_steps(T* dt, T* dsp, int64_t len, bool use_softplus) {
  if (!use_softplus) {
    if (dsp) std::fill(dsp, dsp + len, T(1));
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    std::fill(dt + len, dt + padded_steps(len), 0.0f);
    for (int64_t i = 0; i < len; i += 8) {
      const f32x8 z = load8(dt + i);
      if (dsp) store8(dsp + i, softplus_grad(z));
      store8(dt + i, softplus(z));
    }
  } else {
    for (int64_t i = 0; i < len; ++i) {
      if (dsp) dsp[i] = softplus_grad(dt[i]);
      dt[i] = softplus(dt[i]);
    }
  }
}

// The per-step scalars of steps [t0, t0 + len) from a Seq with u(t) and z(t).
template <typename T, typename Seq>
void chunk_steps(Seq& s, int64_t t0, int64_t len, bool use_softplus, T* u, T* dt, T* dsp) {
  for (int64_t i = 0; i < len; ++i) {
    u[i] = s.u(t0 + i);
    dt[i] = s.z(t0 + i);
  }
  softplus_steps(dt, dsp, len, use_softplus);
}

// ---- the recurrence: the plain loop first, the 16-state vector path after ----
//
// Each step below is written twice: once as the scalar loop over the N states
// (any T, any N: read this one), then, for float with N = 16, as the same
// arithmetic on all 16 states at once (f32x16). The vector path computes the
// same terms in the same order; only its names differ:
//   A16, h16, g16     A, h and g of the 16 states (one f32x16 each)
//   stride            B(t + 1) - B(t): the step stride of B, C, dB, dC
//   B0, C0, dB0, dC0  the chunk's first step's B, C, dB, dC
// forward_chunk and backward_chunk pick the path.

// Steps [t0, t0 + len) of the recurrence from state h (updated in place),
// given the chunk's u and dt from chunk_steps. The plain loop.
template <typename T, int NS, typename Seq>
void forward_chunk_scalar(Seq& s, int64_t t0, int64_t len, int n_runtime, const T* A, T D, const T* u, const T* dt,
                          T* h) {
  const int n = NS > 0 ? NS : n_runtime;
  T prod[kMaxState];  // C_t[k] h_t[k], summed by tree_sum
  for (int64_t i = 0; i < len; ++i) {
    const int64_t t = t0 + i;
    const T du = dt[i] * u[i];
    const T* B = s.B(t);
    const T* C = s.C(t);
    for (int k = 0; k < n; ++k) {
      h[k] = decay_exp(dt[i] * A[k]) * h[k] + du * B[k];
      prod[k] = C[k] * h[k];
    }
    s.y(t, tree_sum<T, NS>(prod, n) + D * u[i]);
  }
}

// The same for float and 16 states, all 16 at once.
template <typename Seq>
void forward_chunk16(Seq& s, int64_t t0, int64_t len, const float* A, float D, const float* u, const float* dt,
                     float* h) {
  const f32x16 A16 = load16(A);
  f32x16 h16 = load16(h);
  const float* B0 = s.B(t0);
  const float* C0 = s.C(t0);
  const int64_t stride = s.step_stride();
  for (int64_t i = 0; i < len; ++i) {
    const float du = dt[i] * u[i];
    h16 = decay_exp(dt[i] * A16) * h16 + du * load16(B0 + i * stride);
    s.y(t0 + i, hsum(load16(C0 + i * stride) * h16) + D * u[i]);
  }
  store16(h, h16);
}

template <typename T, int NS, typename Seq>
void forward_chunk(Seq& s, int64_t t0, int64_t len, int n_runtime, const T* A, T D, const T* u, const T* dt, T* h) {
  if constexpr (kVector16<T, NS>)
    forward_chunk16(s, t0, len, A, D, u, dt, h);
  else
    forward_chunk_scalar<T, NS>(s, t0, len, n_runtime, A, D, u, dt, h);
}

// ---- 8 channels at once: the forward of the fused 2D scan ----
//
// The sequences of one direction that share B_t and C_t (the channels of
// ss2d_scan) run 8 at a time, one channel per lane: lane l of every f32x8
// below is channel l of the block. Per state and step that is one exp, one
// FMA of the recurrence and one product C h for 8 channels, with no sum
// across lanes (the sum over the states runs down the 16 per-state vectors,
// in tree_sum's order), and the 16 states' chains are 16 independent FMA
// chains for the core to interleave. Per lane it is forward_chunk_scalar:
// the same terms in the same order (a multiply and an add may fuse
// differently). Lanes past a block's last channel hold dt = u = 0 and stay 0.
constexpr int kLanes = 8;

// Steps [0, len) from the block state h8 (16 x 8, state-major: h8[n 8 + l]),
// updated in place. bc: the B (16) then C (16) of step 0, stride floats apart
// step to step; A8 (16 x 8) and D8 (8): the lanes' A and D; u8, dt8 (len x
// 8): u_t and dt_t; y8 (len x 8) receives y_t.
inline void forward_chunk16x8(int64_t len, const float* bc, int64_t stride, const float* A8, const float* D8,
                              const float* u8, const float* dt8, float* h8, float* y8) {
  f32x8 h[16];
  for (int n = 0; n < 16; ++n) h[n] = load8(h8 + n * kLanes);
  const f32x8 D = load8(D8);
  for (int64_t i = 0; i < len; ++i) {
    const float* B = bc + i * stride;
    const float* C = B + 16;
    const f32x8 dt = load8(dt8 + i * kLanes), u = load8(u8 + i * kLanes);
    const f32x8 du = dt * u;
    f32x8 p[8];  // C h of states n and n + 8, added: tree_sum's first level
#pragma GCC unroll 8
    for (int n = 0; n < 8; ++n) {
      h[n] = decay_exp_nonpositive(dt * load8(A8 + n * kLanes)) * h[n] + du * B[n];
      h[n + 8] = decay_exp_nonpositive(dt * load8(A8 + (n + 8) * kLanes)) * h[n + 8] + du * B[n + 8];
      p[n] = C[n] * h[n] + C[n + 8] * h[n + 8];
    }
    for (int n = 0; n < 4; ++n) p[n] += p[n + 4];
    p[0] += p[2];
    p[1] += p[3];
    store8(y8 + i * kLanes, (p[0] + p[1]) + D * u);
  }
  for (int n = 0; n < 16; ++n) store8(h8 + n * kLanes, h[n]);
}

// The adjoint over steps [t0, t0 + len): h0 is the state before the chunk, g
// carries dL/dh backwards (in: after the chunk; out: before it). ws holds the
// chunk's u, dt, dsp (from chunk_steps) and receives the recomputed h and a,
// and dL/dz_t in ws.dz. dA (N) and dD, sums over whole sequences, are added
// into in double (the 16-state float path sums dA over the chunk in float
// first). The plain loop.
template <typename T, int NS, typename Seq>
void backward_chunk_scalar(Seq& s, int64_t t0, int64_t len, int n_runtime, const T* A, T D, const T* h0, T* g,
                           ChunkWorkspace<T>& ws, double* dA, double& dD) {
  const int n = NS > 0 ? NS : n_runtime;
  // Per-state terms of two sums over the states, added by tree_sum:
  //   du_terms[k]  = g_t[k] B_t[k]                           (du_t = gy_t D + dt_t sum)
  //   ddt_terms[k] = g_t[k] (A[k] a_t[k] h_{t-1}[k] + u_t B_t[k])   (ddt_t = sum)
  T ddt_terms[kMaxState], du_terms[kMaxState];

  // Recompute the chunk's states and decays from h0.
  const T* h_prev = h0;
  for (int64_t i = 0; i < len; ++i) {
    const T dt = ws.dt[i];
    const T du = dt * ws.u[i];
    const T* B = s.B(t0 + i);
    T* a = &ws.a[i * n];
    T* h = &ws.h[i * n];
    for (int k = 0; k < n; ++k) {
      a[k] = decay_exp(dt * A[k]);
      h[k] = a[k] * h_prev[k] + du * B[k];
    }
    h_prev = h;
  }

  // The adjoint, last step first.
  for (int64_t i = len - 1; i >= 0; --i) {
    const int64_t t = t0 + i;
    const T gy = s.gy(t);
    const T u = ws.u[i];
    const T dt = ws.dt[i];
    const T* B = s.B(t);
    const T* C = s.C(t);
    const T* a = &ws.a[i * n];
    const T* h = &ws.h[i * n];
    const T* hprev = i > 0 ? &ws.h[(i - 1) * n] : h0;
    T* dB = s.dB(t);
    T* dC = s.dC(t);
    dD += static_cast<double>(gy * u);
    const T dtu = dt * u;
    for (int k = 0; k < n; ++k) {
      dC[k] += gy * h[k];
      g[k] += gy * C[k];  // g_t = gy_t C_t + a_{t+1} g_{t+1}
      const T a_hprev = a[k] * hprev[k];
      ddt_terms[k] = g[k] * (A[k] * a_hprev + u * B[k]);
      du_terms[k] = g[k] * B[k];
      dA[k] += static_cast<double>(g[k] * dt * a_hprev);
      dB[k] += g[k] * dtu;
      g[k] *= a[k];  // a_t g_t: carried to step t - 1
    }
    s.add_du(t, gy * D + dt * tree_sum<T, NS>(du_terms, n));
    ws.dz[i] = tree_sum<T, NS>(ddt_terms, n) * ws.dsp[i];
  }
}

// The same for float and 16 states, all 16 at once. g_a_hprev = g a_t h_{t-1}
// (g times dh_t/d(dt A)) is the common factor of the dA and ddt terms.
template <typename Seq>
void backward_chunk16(Seq& s, int64_t t0, int64_t len, const float* A, float D, const float* h0, float* g,
                      ChunkWorkspace<float>& ws, double* dA, double& dD) {
  const f32x16 A16 = load16(A);
  const float* B0 = s.B(t0);
  const float* C0 = s.C(t0);
  float* dB0 = s.dB(t0);
  float* dC0 = s.dC(t0);
  const int64_t stride = s.step_stride();

  // Recompute the chunk's states and decays from h0. A Seq whose dt_t are
  // never negative (ss2d_scan's, after softplus) says so with a member
  // dt_nonnegative; then dt A <= 0 and the exp needs no upper clamp.
  constexpr bool nonpositive = requires { Seq::dt_nonnegative; };
  f32x16 h16 = load16(h0);
  for (int64_t i = 0; i < len; ++i) {
    const float dt = ws.dt[i];
    const f32x16 a = nonpositive ? f32x16{decay_exp_nonpositive(dt * A16.lo), decay_exp_nonpositive(dt * A16.hi)}
                                 : decay_exp(dt * A16);
    h16 = a * h16 + (dt * ws.u[i]) * load16(B0 + i * stride);
    store16(&ws.a[i * 16], a);
    store16(&ws.h[i * 16], h16);
  }

  // The adjoint, last step first; dA over the chunk in float (at most `chunk`
  // terms), then into the double sum.
  f32x16 g16 = load16(g);
  f32x16 dA_chunk = {};
  for (int64_t i = len - 1; i >= 0; --i) {
    const int64_t t = t0 + i;
    const float gy = s.gy(t), u = ws.u[i], dt = ws.dt[i];
    const f32x16 B = load16(B0 + i * stride), C = load16(C0 + i * stride);
    const f32x16 a = load16(&ws.a[i * 16]);
    const f32x16 h = load16(&ws.h[i * 16]);
    const f32x16 hprev = i > 0 ? load16(&ws.h[(i - 1) * 16]) : load16(h0);
    float* dB = dB0 + i * stride;
    float* dC = dC0 + i * stride;
    dD += static_cast<double>(gy * u);
    store16(dC, load16(dC) + gy * h);
    g16 += gy * C;
    const f32x16 g_a_hprev = g16 * (a * hprev);
    const f32x16 du_terms = g16 * B;
    const f32x16 ddt_terms = A16 * g_a_hprev + u * du_terms;
    dA_chunk += dt * g_a_hprev;
    store16(dB, load16(dB) + g16 * (dt * u));
    g16 *= a;
    s.add_du(t, gy * D + dt * hsum(du_terms));
    ws.dz[i] = hsum(ddt_terms) * ws.dsp[i];
  }
  store16(g, g16);
  f64x16 dA16 = load16(dA);
  add_to(dA16, dA_chunk);
  store16(dA, dA16);
}

template <typename T, int NS, typename Seq>
void backward_chunk(Seq& s, int64_t t0, int64_t len, int n_runtime, const T* A, T D, const T* h0, T* g,
                    ChunkWorkspace<T>& ws, double* dA, double& dD) {
  if constexpr (kVector16<T, NS>)
    backward_chunk16(s, t0, len, A, D, h0, g, ws, dA, dD);
  else
    backward_chunk_scalar<T, NS>(s, t0, len, n_runtime, A, D, h0, g, ws, dA, dD);
}

// A whole sequence, chunk by chunk. Seq provides, in scan order:
//   T u(t), T z(t) (delta + bias), const T* B(t), const T* C(t), void y(t, T value),
//   int64_t step_stride() (B(t + 1) - B(t), the same for C, dB and dC).
// states: (ceil(L / chunk), N), the state before each chunk, or null when no backward follows.
template <typename T, int NS, typename Seq>
void forward_sequence(Seq& s, int64_t L, int n_runtime, const T* A, T D, bool use_softplus, int64_t chunk,
                      T* states, ChunkWorkspace<T>& ws) {
  const int n = NS > 0 ? NS : n_runtime;
  T h[kMaxState] = {};
  for (int64_t t0 = 0; t0 < L; t0 += chunk) {
    const int64_t len = std::min(chunk, L - t0);
    if (states) std::memcpy(states + (t0 / chunk) * n, h, sizeof(T) * n);
    chunk_steps(s, t0, len, use_softplus, ws.u.data(), ws.dt.data(), static_cast<T*>(nullptr));
    forward_chunk<T, NS>(s, t0, len, n, A, D, ws.u.data(), ws.dt.data(), h);
  }
}

// Seq additionally provides: T gy(t), void add_du(t, T), void add_dz(t, T),
// T* dB(t), T* dC(t) (N values each, added into).
template <typename T, int NS, typename Seq>
void backward_sequence(Seq& s, int64_t L, int n_runtime, const T* A, T D, bool use_softplus, int64_t chunk,
                       const T* states, ChunkWorkspace<T>& ws, double* dA, double& dD) {
  const int n = NS > 0 ? NS : n_runtime;
  T g[kMaxState] = {};
  for (int64_t j = (L + chunk - 1) / chunk - 1; j >= 0; --j) {
    const int64_t t0 = j * chunk, len = std::min(chunk, L - t0);
    chunk_steps(s, t0, len, use_softplus, ws.u.data(), ws.dt.data(), ws.dsp.data());
    backward_chunk<T, NS>(s, t0, len, n, A, D, states + j * n, g, ws, dA, dD);
    for (int64_t i = 0; i < len; ++i) s.add_dz(t0 + i, ws.dz[i]);
  }
}

// Calls f.template operator()<NS>() with the state size as a compile-time
// constant for the sizes that matter (LIEDNet uses 16), runtime otherwise.
template <typename F>
void dispatch_state_size(int n, F&& f) {
  switch (n) {
    case 16: f.template operator()<16>(); break;
    case 8: f.template operator()<8>(); break;
    default: f.template operator()<0>(); break;
  }
}

}  // namespace liednet::ops::scan
