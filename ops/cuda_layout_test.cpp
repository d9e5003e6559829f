// The layout ops on CUDA against the CPU, on the shapes LIEDNet runs them at:
// forward and every gradient within 1e-4 (scaled as in the op harness), and
// two CUDA runs bit-identical (no atomics in any gradient sum). The op
// harness's small cases also run on CUDA when a GPU is present; these add the
// full-size shapes. Every case is skipped on a machine without a GPU.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "op_harness.h"
#include "ops/channels.h"
#include "ops/layernorm.h"
#include "ops/pad.h"
#include "ops/pool.h"
#include "ops/resize.h"
#include "ops/shuffle.h"
#include "tensor/cuda.h"

using namespace liednet;

namespace {
using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

struct Run {
  Tensor y;                    // on the CPU
  std::vector<Tensor> grads;   // on the CPU; undefined where no gradient was asked for
};

// fn on copies of the (f32, CPU) inputs moved to `device`, backward with the
// upstream gradient g; everything copied back to the CPU.
Run run_on(Device device, const Fn& fn, const std::vector<Tensor>& inputs, const std::vector<bool>& wants,
           const Tensor& g) {
  std::vector<Tensor> in;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor t = inputs[i].to(device);
    t.set_requires_grad(wants[i]);
    in.push_back(t);
  }
  Tensor y = fn(in);
  y.backward(g.to(device));
  Run r{y.detach().to(Device::CPU), {}};
  for (size_t i = 0; i < in.size(); ++i) r.grads.push_back(wants[i] ? in[i].grad().to(Device::CPU) : Tensor());
  return r;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data<float>(), b.data<float>(), static_cast<size_t>(a.numel()) * sizeof(float)) == 0;
}

// CUDA against the CPU (f32), forward and the gradient of every input in
// `wants`, then a second CUDA run against the first, bit for bit.
void check_cuda_matches_cpu(const std::string& name, const Fn& fn, const std::vector<Tensor>& inputs,
                            std::vector<bool> wants = {}, double tol = 1e-4) {
  INFO(name);
  if (wants.empty()) wants.assign(inputs.size(), true);
  Tensor probe;
  {
    autograd::NoGradGuard no_grad;
    probe = fn(inputs);
  }
  Generator gen(4321);
  const Tensor g = Tensor::randn(probe.shape(), gen, DType::F32);
  const Run cpu = run_on(Device::CPU, fn, inputs, wants, g);
  const Run gpu = run_on(Device::CUDA, fn, inputs, wants, g);
  const Run again = run_on(Device::CUDA, fn, inputs, wants, g);

  const double y_err = testing::scaled_max_error(gpu.y, cpu.y);
  CHECK_MESSAGE(y_err <= tol, name, ": CUDA forward differs from the CPU by ", y_err);
  CHECK_MESSAGE(same_bits(gpu.y, again.y), name, ": two CUDA forwards differ");
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!wants[i]) continue;
    const double err = testing::scaled_max_error(gpu.grads[i], cpu.grads[i]);
    CHECK_MESSAGE(err <= tol, name, ": CUDA gradient of input ", i, " differs from the CPU by ", err);
    CHECK_MESSAGE(same_bits(gpu.grads[i], again.grads[i]), name, ": two CUDA gradients of input ", i, " differ");
  }
  MESSAGE("[cuda] ", name, ": forward error ", y_err);
}

std::vector<Tensor> randn_inputs(const std::vector<Shape>& shapes, uint64_t seed) {
  Generator gen(seed);
  std::vector<Tensor> xs;
  for (const Shape& s : shapes) xs.push_back(Tensor::randn(s, gen, DType::F32));
  return xs;
}

bool no_gpu() { return cuda_device_count() == 0; }
}  // namespace

TEST_SUITE("ops") {
  TEST_CASE("cuda layer_norm_channels matches the CPU" * doctest::skip(no_gpu())) {
    auto affine = [](auto& x) { return ops::layer_norm_channels(x[0], x[1], x[2]); };
    check_cuda_matches_cpu("layer_norm_channels 2x64x128x128", affine,
                           randn_inputs({{2, 64, 128, 128}, {64}, {64}}, 1));
    check_cuda_matches_cpu("layer_norm_channels (N,C,L) 2x64x4096", affine, randn_inputs({{2, 64, 4096}, {64}, {64}}, 2));
    // Rows not a multiple of the reduction chunk, odd channel count.
    check_cuda_matches_cpu("layer_norm_channels 3x33x37x41", affine, randn_inputs({{3, 33, 37, 41}, {33}, {33}}, 3));
    check_cuda_matches_cpu("layer_norm_channels no affine 2x64x128x128",
                           [](auto& x) { return ops::layer_norm_channels(x[0], Tensor(), Tensor()); },
                           randn_inputs({{2, 64, 128, 128}}, 4));
    check_cuda_matches_cpu("layer_norm_channels weight only",
                           [](auto& x) { return ops::layer_norm_channels(x[0], x[1], Tensor()); },
                           randn_inputs({{2, 48, 64, 64}, {48}}, 5));
    check_cuda_matches_cpu("layer_norm_channels grads of w, b only", affine,
                           randn_inputs({{2, 64, 128, 128}, {64}, {64}}, 6), {false, true, true});
    check_cuda_matches_cpu("layer_norm_channels grad of b only", affine,
                           randn_inputs({{2, 64, 128, 128}, {64}, {64}}, 7), {false, false, true});
    // A mean far from the spread: the variance must not cancel.
    std::vector<Tensor> offset = randn_inputs({{2, 64, 32, 32}, {64}, {64}}, 8);
    {
      Tensor& x = offset[0];
      float* p = x.data<float>();
      for (int64_t i = 0; i < x.numel(); ++i) p[i] = 10.0f + 0.5f * p[i];
    }
    check_cuda_matches_cpu("layer_norm_channels offset input", affine, offset);
  }

  TEST_CASE("cuda pixel_shuffle and pixel_unshuffle match the CPU" * doctest::skip(no_gpu())) {
    check_cuda_matches_cpu("pixel_shuffle r2 2x256x32x32", [](auto& x) { return ops::pixel_shuffle(x[0], 2); },
                           randn_inputs({{2, 256, 32, 32}}, 11));
    check_cuda_matches_cpu("pixel_unshuffle r2 2x256x32x32", [](auto& x) { return ops::pixel_unshuffle(x[0], 2); },
                           randn_inputs({{2, 256, 32, 32}}, 12));
    check_cuda_matches_cpu("pixel_shuffle r3 2x18x7x5", [](auto& x) { return ops::pixel_shuffle(x[0], 3); },
                           randn_inputs({{2, 18, 7, 5}}, 13));
    check_cuda_matches_cpu("pixel_unshuffle r3 2x2x9x6", [](auto& x) { return ops::pixel_unshuffle(x[0], 3); },
                           randn_inputs({{2, 2, 9, 6}}, 14));
    // The two are inverses on the GPU too, exactly.
    Tensor x = randn_inputs({{2, 256, 32, 32}}, 15)[0];
    Tensor back = ops::pixel_unshuffle(ops::pixel_shuffle(x.to(Device::CUDA), 2), 2).to(Device::CPU);
    CHECK(same_bits(back, x));
  }

  TEST_CASE("cuda concat, split and slice channels match the CPU" * doctest::skip(no_gpu())) {
    check_cuda_matches_cpu("concat_channels 2x{64,32,96}x64x64",
                           [](auto& x) { return ops::concat_channels({x[0], x[1], x[2]}); },
                           randn_inputs({{2, 64, 64, 64}, {2, 32, 64, 64}, {2, 96, 64, 64}}, 21));
    check_cuda_matches_cpu("concat_channels middle without grad",
                           [](auto& x) { return ops::concat_channels({x[0], x[1], x[2]}); },
                           randn_inputs({{2, 3, 17, 19}, {2, 5, 17, 19}, {2, 1, 17, 19}}, 22), {true, false, true});
    // Split and put back in the other order: each piece's backward adds its slice.
    check_cuda_matches_cpu("split_channels 2x192x64x64 into {64, 128}",
                           [](auto& x) {
                             std::vector<Tensor> p = ops::split_channels(x[0], {64, 128});
                             return ops::concat_channels({p[1], p[0]});
                           },
                           randn_inputs({{2, 192, 64, 64}}, 23));
    check_cuda_matches_cpu("slice_channels (N,C,L) 2x96x4096 [32, 80)",
                           [](auto& x) { return ops::slice_channels(x[0], 32, 80); },
                           randn_inputs({{2, 96, 4096}}, 24));
    // A piece used twice: the backward adds both into the same slice.
    check_cuda_matches_cpu("slice_channels used twice",
                           [](auto& x) {
                             Tensor s = ops::slice_channels(x[0], 1, 4);
                             return ops::concat_channels({s, s});
                           },
                           randn_inputs({{2, 5, 6, 7}}, 25));
  }

  TEST_CASE("cuda pad_reflect and crop match the CPU" * doctest::skip(no_gpu())) {
    // An image of side 250 padded to the next multiple of 8, then cropped back.
    check_cuda_matches_cpu("pad_reflect 1x3x250x250 to 256 (bottom, right)",
                           [](auto& x) { return ops::pad_reflect(x[0], 0, 6, 0, 6); },
                           randn_inputs({{1, 3, 250, 250}}, 31));
    check_cuda_matches_cpu("pad_reflect 1x3x250x250 to 256 (every side)",
                           [](auto& x) { return ops::pad_reflect(x[0], 3, 3, 3, 3); },
                           randn_inputs({{1, 3, 250, 250}}, 32));
    check_cuda_matches_cpu("crop 1x3x256x256 to 250x250",
                           [](auto& x) { return ops::crop(x[0], 0, 0, 250, 250); },
                           randn_inputs({{1, 3, 256, 256}}, 33));
    check_cuda_matches_cpu("crop 2x4x19x23 to 7x9 at (5, 6)",
                           [](auto& x) { return ops::crop(x[0], 5, 6, 7, 9); }, randn_inputs({{2, 4, 19, 23}}, 34));
    // Pads beyond the side mirror back and forth: several outputs per input,
    // and a side of 1 sends every output to its one pixel.
    check_cuda_matches_cpu("pad_reflect beyond the side",
                           [](auto& x) { return ops::pad_reflect(x[0], 4, 5, 3, 4); },
                           randn_inputs({{2, 3, 3, 2}}, 35));
    check_cuda_matches_cpu("pad_reflect of a 1x1 side",
                           [](auto& x) { return ops::pad_reflect(x[0], 2, 1, 1, 3); },
                           randn_inputs({{1, 2, 1, 1}}, 36));
    check_cuda_matches_cpu("pad then crop round trip",
                           [](auto& x) { return ops::crop(ops::pad_reflect(x[0], 3, 3, 3, 3), 3, 3, 250, 250); },
                           randn_inputs({{1, 3, 250, 250}}, 37));
  }

  TEST_CASE("cuda resize_bicubic matches the CPU" * doctest::skip(no_gpu())) {
    check_cuda_matches_cpu("resize_bicubic 2x3x256x256 -> 32x32 (down x8)",
                           [](auto& x) { return ops::resize_bicubic(x[0], 32, 32); },
                           randn_inputs({{2, 3, 256, 256}}, 41));
    check_cuda_matches_cpu("resize_bicubic 2x3x32x32 -> 256x256 (up x8)",
                           [](auto& x) { return ops::resize_bicubic(x[0], 256, 256); },
                           randn_inputs({{2, 3, 32, 32}}, 42));
    check_cuda_matches_cpu("resize_bicubic 1x3x250x250 -> 31x33",
                           [](auto& x) { return ops::resize_bicubic(x[0], 31, 33); },
                           randn_inputs({{1, 3, 250, 250}}, 43));
    // Clamped taps: several taps of one output read the same border pixel.
    check_cuda_matches_cpu("resize_bicubic 2x1x1x1 -> 3x2", [](auto& x) { return ops::resize_bicubic(x[0], 3, 2); },
                           randn_inputs({{2, 1, 1, 1}}, 44));
    check_cuda_matches_cpu("resize_bicubic 1x2x5x7 -> 11x13", [](auto& x) { return ops::resize_bicubic(x[0], 11, 13); },
                           randn_inputs({{1, 2, 5, 7}}, 45));
  }

  TEST_CASE("cuda max_pool2x2 matches the CPU" * doctest::skip(no_gpu())) {
    check_cuda_matches_cpu("max_pool2x2 2x64x128x128", [](auto& x) { return ops::max_pool2x2(x[0]); },
                           randn_inputs({{2, 64, 128, 128}}, 51), {}, 0.0);
    check_cuda_matches_cpu("max_pool2x2 2x3x7x9 (odd sides dropped)", [](auto& x) { return ops::max_pool2x2(x[0]); },
                           randn_inputs({{2, 3, 7, 9}}, 52), {}, 0.0);
  }

  TEST_CASE("cuda max_pool2x2 ties go to the first maximum in row-major order" * doctest::skip(no_gpu())) {
    // Windows: all equal; max at (1,0) and (1,1); max at (0,1) and (1,0); a NaN.
    Tensor x = Tensor::from_vector({1, 1, 2, 8}, {3, 3, 0, 1, 1, 5, 2, 1,  //
                                                  3, 3, 2, 2, 5, 4, 1, NAN})
                   .to(Device::CUDA)
                   .set_requires_grad();
    Tensor y = ops::max_pool2x2(x);
    CHECK(y.device() == Device::CUDA);
    std::vector<double> yv = y.to_vector();
    CHECK(yv[0] == 3);
    CHECK(yv[1] == 2);
    CHECK(yv[2] == 5);
    CHECK(std::isnan(yv[3]));
    y.backward(Tensor::from_vector({1, 1, 1, 4}, {1, 2, 3, 4}).to(Device::CUDA));
    CHECK(x.grad().device() == Device::CUDA);
    CHECK(x.grad().to_vector() == std::vector<double>{1, 0, 0, 0, 0, 3, 0, 0,  //
                                                      0, 0, 2, 0, 0, 0, 0, 4});
  }

  TEST_CASE("cuda layout ops name both tensors when devices differ" * doctest::skip(no_gpu())) {
    Tensor x = Tensor::zeros({2, 3, 4, 4}).to(Device::CUDA);
    CHECK_THROWS_WITH(ops::layer_norm_channels(x, Tensor::ones({3}), Tensor()),
                      doctest::Contains("layer_norm_channels: weight must be f32 (3) cuda for x f32 (2, 3, 4, 4) "
                                        "cuda, got weight f32 (3) cpu, bias none"));
    CHECK_THROWS_WITH(ops::concat_channels({x, Tensor::zeros({2, 1, 4, 4})}),
                      doctest::Contains("concat_channels: inputs must be (N, C_i, ...) with equal dims but C, dtype "
                                        "and device: f32 (2, 3, 4, 4) cuda, f32 (2, 1, 4, 4) cpu"));
  }
}
