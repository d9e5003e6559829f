// liednet.ops: every op of ops/*.h with its gradient, the C++ names and
// argument order; optional inputs are None; option structs become keywords.
#include "common.h"
#include "ops/activation.h"
#include "ops/channels.h"
#include "ops/conv2d.h"
#include "ops/dgdffn.h"
#include "ops/elementwise.h"
#include "ops/layernorm.h"
#include "ops/loss.h"
#include "ops/norm_gate.h"
#include "ops/pad.h"
#include "ops/pool.h"
#include "ops/reduce.h"
#include "ops/resize.h"
#include "ops/selective_scan.h"
#include "ops/shuffle.h"
#include "ops/ss2d_scan.h"

namespace liednet::python {

namespace {
// An op taking tensors (and plain values) called with the GIL released.
template <typename R, typename... A>
auto released(R (*f)(A...)) {
  return [f](A... a) -> R {
    Released r;
    return f(a...);
  };
}
}  // namespace

void bind_ops(py::module_& m) {
  using py::arg;
  auto unary = [&](const char* name, Tensor (*f)(const Tensor&), const char* doc) {
    m.def(name, released(f), arg("x"), doc);
  };
  unary("relu", ops::relu, "relu(x): max(x, 0), any shape; gradient 0 at x = 0 (as torch).");
  unary("silu", ops::silu, "silu(x): x * sigmoid(x), any shape.");
  unary("gelu", ops::gelu, "gelu(x): exact GELU 0.5 x (1 + erf(x / sqrt 2)) (torch's default), any shape.");
  unary("sigmoid", ops::sigmoid, "sigmoid(x): 1 / (1 + exp(-x)), any shape.");
  unary("softplus", ops::softplus, "softplus(x): log1p(exp(x)), x above 20 as is (torch's beta 1, threshold 20), any shape.");
  unary("exp", ops::exp, "exp(x), any shape.");

  m.def("add", released(ops::add), arg("a"), arg("b"), "add(a, b): a + b, shapes equal (no broadcasting).");
  m.def("sub", released(ops::sub), arg("a"), arg("b"), "sub(a, b): a - b, shapes equal.");
  m.def("mul", released(ops::mul), arg("a"), arg("b"), "mul(a, b): a * b elementwise, shapes equal.");
  m.def("scale", released(ops::scale), arg("x"), arg("s"), "scale(x, s): x * s for a number s.");
  m.def("add_scalar", released(ops::add_scalar), arg("x"), arg("s"), "add_scalar(x, s): x + s for a number s.");
  m.def("add_channel", released(ops::add_channel), arg("x"), arg("b"),
        "add_channel(x, b): x (N, C, ...) plus a per-channel b of shape (C) or (N, C).");
  m.def("mul_channel", released(ops::mul_channel), arg("x"), arg("b"),
        "mul_channel(x, b): x (N, C, ...) times a per-channel b of shape (C) or (N, C).");

  m.def("sum", released(ops::sum), arg("x"), "sum(x): all elements -> shape () (summed in double, in a fixed order).");
  m.def("mean", released(ops::mean), arg("x"), "mean(x): all elements -> shape (); x not empty.");
  m.def("mean_hw", released(ops::mean_hw), arg("x"), "mean_hw(x): (N, C, H, W) -> (N, C), the mean over H and W.");

  m.def("concat_channels", released(ops::concat_channels), arg("xs"),
        "concat_channels(xs): a list of (N, C_i, ...) -> (N, sum C_i, ...).");
  m.def("split_channels", released(ops::split_channels), arg("x"), arg("sizes"),
        "split_channels(x, sizes): x (N, C, ...) -> a list of (N, sizes[i], ...); the sizes sum to C.");
  m.def("slice_channels", released(ops::slice_channels), arg("x"), arg("begin"), arg("end"),
        "slice_channels(x, begin, end): channels [begin, end) of x (N, C, ...), a copy.");

  m.def(
      "conv2d",
      [](const Tensor& x, const Tensor& weight, const std::optional<Tensor>& bias, int64_t stride, int64_t padding,
         int64_t groups) {
        Released r;
        return ops::conv2d(x, weight, opt(bias), {.stride = stride, .padding = padding, .groups = groups});
      },
      arg("x"), arg("weight"), arg("bias") = py::none(), arg("stride") = 1, arg("padding") = 0, arg("groups") = 1,
      R"(conv2d(x, weight, bias=None, stride=1, padding=0, groups=1)

x (N, C_in, H, W), weight (C_out, C_in/groups, kh, kw), bias (C_out) or None
-> (N, C_out, (H + 2p - kh)/s + 1, (W + 2p - kw)/s + 1); zero padding (torch's F.conv2d).)");
  m.def(
      "linear_channels",
      [](const Tensor& x, const Tensor& weight, const std::optional<Tensor>& bias) {
        Released r;
        return ops::linear_channels(x, weight, opt(bias));
      },
      arg("x"), arg("weight"), arg("bias") = py::none(),
      "linear_channels(x, weight, bias=None): x (N, in, H, W), weight (out, in) (nn.Linear's), bias (out) -> (N, out, H, W).");
  auto layer_norm = [](const Tensor& x, const std::optional<Tensor>& weight, const std::optional<Tensor>& bias,
                       double eps) {
    Released r;
    return ops::layer_norm_channels(x, opt(weight), opt(bias), eps);
  };
  const char* ln_doc = R"(layer_norm_channels(x, weight=None, bias=None, eps=1e-5)

x (N, C, H, W) normalised over C at each pixel (biased variance), times weight (C) plus bias (C):
torch's nn.LayerNorm(C) on the channels-last permutation. Same shape as x.)";
  m.def("layer_norm_channels", layer_norm, arg("x"), arg("weight") = py::none(), arg("bias") = py::none(),
        arg("eps") = 1e-5, ln_doc);
  m.def("layer_norm", layer_norm, arg("x"), arg("weight") = py::none(), arg("bias") = py::none(), arg("eps") = 1e-5,
        "layer_norm(...): the same as layer_norm_channels (the name the issue and torch users look for).");
  m.def(
      "norm_silu_gate",
      [](const Tensor& y, const Tensor& weight, const Tensor& bias, const Tensor& z, double eps) {
        Released r;
        return ops::norm_silu_gate(y, weight, bias, z, eps);
      },
      arg("y"), arg("weight"), arg("bias"), arg("z"), arg("eps") = 1e-5,
      "norm_silu_gate(y, weight, bias, z, eps=1e-5): layer_norm_channels(y, weight, bias, eps) * silu(z); y, z (N, C, H, W). CPU only.");
  m.def("l1_loss", released(ops::l1_loss), arg("pred"), arg("target"),
        "l1_loss(pred, target): mean |pred - target| -> shape () (torch's F.l1_loss); shapes equal.");
  m.def("smooth_l1_loss", released(ops::smooth_l1_loss), arg("pred"), arg("target"), arg("beta") = 1.0,
        "smooth_l1_loss(pred, target, beta=1.0): mean of 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta, "
        "d = pred - target -> shape () (torch's F.smooth_l1_loss); shapes equal, beta > 0.");
  m.def("pad_reflect", released(ops::pad_reflect), arg("x"), arg("top"), arg("bottom"), arg("left"), arg("right"),
        "pad_reflect(x, top, bottom, left, right): x (N, C, H, W) mirrored without repeating the edge (torch's 'reflect').");
  m.def("crop", released(ops::crop), arg("x"), arg("top"), arg("left"), arg("h"), arg("w"),
        "crop(x, top, left, h, w): the window [top, top + h) x [left, left + w) of x (N, C, H, W).");
  m.def("max_pool2x2", released(ops::max_pool2x2), arg("x"),
        "max_pool2x2(x): (N, C, H, W) -> (N, C, H/2, W/2), max over 2x2 windows (torch's F.max_pool2d(x, 2, 2)).");
  m.def("resize_bicubic", released(ops::resize_bicubic), arg("x"), arg("out_h"), arg("out_w"),
        "resize_bicubic(x, out_h, out_w): (N, C, H, W) -> (N, C, out_h, out_w), cubic convolution A = -0.75 (torch's bicubic, align_corners=False).");
  m.def("pixel_shuffle", released(ops::pixel_shuffle), arg("x"), arg("r") = 2,
        "pixel_shuffle(x, r=2): (N, C*r*r, H, W) -> (N, C, H*r, W*r), as torch's.");
  m.def("pixel_unshuffle", released(ops::pixel_unshuffle), arg("x"), arg("r") = 2,
        "pixel_unshuffle(x, r=2): (N, C, H*r, W*r) -> (N, C*r*r, H, W), the inverse.");

  const char* scan_doc = R"(selective_scan(u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=True, chunk=256)

Mamba's selective scan. u, delta (Bt, Dc, L); A (Dc, N); B, C (Bt, G, N, L), group g shared by Dc/G
consecutive channels; D (Dc) and delta_bias (Dc) optional. Returns y (Bt, Dc, L):
  dt = softplus(delta + delta_bias),  h = exp(dt A) h + dt B u,  y = C . h + D u.
chunk: steps between the states the forward keeps for the backward.)";
  m.def(
      "selective_scan",
      [](const Tensor& u, const Tensor& delta, const Tensor& A, const Tensor& B, const Tensor& C,
         const std::optional<Tensor>& D, const std::optional<Tensor>& delta_bias, bool delta_softplus, int64_t chunk) {
        Released r;
        return ops::selective_scan(u, delta, A, B, C, opt(D), opt(delta_bias),
                                   {.delta_softplus = delta_softplus, .chunk = chunk});
      },
      arg("u"), arg("delta"), arg("A"), arg("B"), arg("C"), arg("D") = py::none(), arg("delta_bias") = py::none(),
      arg("delta_softplus") = true, arg("chunk") = 256, scan_doc);
  m.def(
      "selective_scan_reference",
      [](const Tensor& u, const Tensor& delta, const Tensor& A, const Tensor& B, const Tensor& C,
         const std::optional<Tensor>& D, const std::optional<Tensor>& delta_bias, bool delta_softplus) {
        Released r;
        return ops::selective_scan_reference(u, delta, A, B, C, opt(D), opt(delta_bias),
                                             {.delta_softplus = delta_softplus});
      },
      arg("u"), arg("delta"), arg("A"), arg("B"), arg("C"), arg("D") = py::none(), arg("delta_bias") = py::none(),
      arg("delta_softplus") = true,
      "selective_scan_reference(...): the naive sequential kernel, same arguments and gradients as selective_scan.");
  const char* ss2d_doc = R"(ss2d_scan(x, x_proj_weight, dt_projs_weight, dt_projs_bias, A_logs, Ds, chunk=256, silu_input=False)

SS2D's four-direction selective scan (before out_norm):
  x               (Bt, d, H, W)
  x_proj_weight   (4, R+2N, d)   per direction: rows [0,R) dt, [R,R+N) B, [R+N,R+2N) C
  dt_projs_weight (4, d, R)
  dt_projs_bias   (4, d)
  A_logs          (4*d, N)       A = -exp(A_logs)
  Ds              (4*d)
  -> y            (Bt, d, H, W), the sum over the directions k0 row-major, k1 column-major,
                                 k2, k3 their reverses, each step written back to its pixel.
silu_input: scan silu(x) instead of x (CPU only).)";
  m.def(
      "ss2d_scan",
      [](const Tensor& x, const Tensor& x_proj_weight, const Tensor& dt_projs_weight, const Tensor& dt_projs_bias,
         const Tensor& A_logs, const Tensor& Ds, int64_t chunk, bool silu_input) {
        Released r;
        return ops::ss2d_scan(x, x_proj_weight, dt_projs_weight, dt_projs_bias, A_logs, Ds,
                              {.chunk = chunk, .silu_input = silu_input});
      },
      arg("x"), arg("x_proj_weight"), arg("dt_projs_weight"), arg("dt_projs_bias"), arg("A_logs"), arg("Ds"),
      arg("chunk") = 256, arg("silu_input") = false, ss2d_doc);
  m.def("ss2d_scan_reference", released(ops::ss2d_scan_reference), arg("x"), arg("x_proj_weight"),
        arg("dt_projs_weight"), arg("dt_projs_bias"), arg("A_logs"), arg("Ds"),
        "ss2d_scan_reference(...): the naive reference of ss2d_scan (four direction copies, plain loops), same gradients.");
  m.def("ss2d_pixel", &ops::ss2d_pixel, arg("k"), arg("t"), arg("H"), arg("W"),
        "ss2d_pixel(k, t, H, W): the pixel index (row-major) direction k (0..3) visits at step t of an H x W map.");
  m.def(
      "dgdffn",
      [](const Tensor& x, const Tensor& project_in1, const Tensor& project_in2, const Tensor& dwconv1,
         const Tensor& dwconv2, const Tensor& dwconv3, const Tensor& fusion, const Tensor& project_out) {
        Released r;
        return ops::dgdffn(x, {project_in1, project_in2, dwconv1, dwconv2, dwconv3, fusion, project_out});
      },
      arg("x"), arg("project_in1"), arg("project_in2"), arg("dwconv1"), arg("dwconv2"), arg("dwconv3"), arg("fusion"),
      arg("project_out"),
      R"(dgdffn(x, project_in1, project_in2, dwconv1, dwconv2, dwconv3, fusion, project_out)

LIEDNet's DGDFFN as one op (the fields of the C++ DgdffnWeights, in order): x (N, C, H, W) -> (N, C, H, W);
project_in1 (2h, C, 1, 1), project_in2 (h, C, 1, 1), dwconv1..3 (h, 1, k, k), fusion (h, 2h, 1, 1),
project_out (C, h, 1, 1). CPU only.)");
}

}  // namespace liednet::python
