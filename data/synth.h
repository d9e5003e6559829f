// Synthetic night-shot pairs: a clean photo is degraded into a dark, shaken,
// noisy one (LOL-Blur style). Every step works in linear light; docs/synth.md
// describes the model and its parameter ranges.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace liednet::data {

// A closed interval a value is drawn from; lo == hi fixes the value.
struct Range {
  double lo = 0, hi = 0;
};

// The degradation's parameters. The defaults are configs/synth.yml's values.
struct SynthParams {
  // Camera shake: a random walk with momentum, `blur_length` pixels long
  // (arc length), sampled at `blur_steps` equal time steps.
  Range blur_length{10, 40};
  int64_t blur_steps = 64;
  double blur_momentum = 0.8;     // share of the velocity kept from one step to the next
  double blur_jerk_prob = 0.05;   // chance per step of a sudden jolt (a velocity kick 3x the usual)
  // Light sources: pixels whose linear luminance exceeds the threshold are
  // boosted so that after the exposure they read `highlight_gain` times full scale.
  double highlight_threshold = 0.9;
  Range highlight_gain{2, 10};
  // Darkening: linear values times the exposure (drawn log-uniformly), per-channel
  // gains exp(u * colour_cast), u in [-1, 1], and x^gamma.
  Range exposure{0.05, 0.3};
  double colour_cast = 0.08;
  Range gamma{1.0, 1.2};
  // Sensor noise: Poisson with `photons` expected electrons at full scale (drawn
  // log-uniformly), plus Gaussian read noise of std `read_noise` (linear units).
  Range photons{300, 3000};
  Range read_noise{0.0005, 0.003};
};

// Errors name `where` (a file, or "synth parameters") and the key.
void validate(const SynthParams& p, const std::string& where = "synth parameters");

// The flat YAML file of configs/synth.yml: `key: number` or `key: [lo, hi]`
// lines and comments. Keys left out keep their defaults; unknown keys are errors.
SynthParams load_synth_config(const std::string& path);
SynthParams parse_synth_config(const std::string& text, const std::string& where);

// sRGB transfer function (IEC 61966-2-1) and its inverse, elementwise.
float srgb_to_linear(float v);
float linear_to_srgb(float v);

// A camera-shake kernel: (K, K) f32, K odd, non-negative, sums to 1, centred on
// the path's centre of mass so the blurred image does not drift from the sharp one.
Tensor random_motion_kernel(const SynthParams& p, Generator& rng, double* length = nullptr);

// Convolution of every channel of a (C, H, W) image with a (K, K) kernel
// (zero taps skipped); edges reflect (without repeating the edge pixel).
Tensor blur(const Tensor& image, const Tensor& kernel);
// The plain loop over every tap; tests compare blur() with it.
Tensor blur_reference(const Tensor& image, const Tensor& kernel);

// In place on linear values: Poisson(x * photons) / photons + N(0, read_noise^2).
// photons <= 0 leaves out the shot noise. Not clipped.
void add_sensor_noise(Tensor& linear, double photons, double read_noise, Generator& rng);

// Draws of one degradation, for the log and for tests.
struct SynthDraw {
  double blur_length = 0;
  int64_t kernel_size = 0;
  double highlight_gain = 0;
  double exposure = 0;
  double gamma = 1;
  double cast[3] = {1, 1, 1};
  double photons = 0;
  double read_noise = 0;
};

// The degradation of a clean sRGB image (3, H, W) in [0, 1] into a dark,
// blurred, noisy one of the same shape in [0, 1] (sRGB, not yet quantised).
Tensor degrade(const Tensor& clean01, const SynthParams& p, Generator& rng, SynthDraw* draw = nullptr);

// Box (area) resampling of a (C, H, W) image to (C, out_h, out_w): each output
// pixel is the mean of the input area it covers (fractional overlaps weighted).
Tensor resize_area(const Tensor& image, int64_t out_h, int64_t out_w);

// One image's Generator seed: a hash of the run's seed and the output's index.
uint64_t synth_seed(uint64_t seed, uint64_t index);

struct SynthTreeOptions {
  std::string input;   // folder of clean photos (searched recursively)
  std::string output;  // receives low_blur_noise/ and high_sharp_scaled/
  int64_t count = 0;   // outputs; 0: one per photo
  uint64_t seed = 0;
  int64_t size_h = 0, size_w = 0;  // 0: whole images; else random crops resized to this size
  SynthParams params;
};

struct SynthTreeResult {
  int64_t photos = 0;
  std::vector<std::string> names;  // relative output paths written, in index order
  // Photos that could not be read (one line each, naming the file) and problems
  // met walking the input folder: the other pairs, and the log of those, are written.
  std::vector<std::string> bad;
};

// Image files (.png, .jpg, .jpeg, .bmp, any case) under `folder`, as sorted
// paths relative to it; `skip` (when inside) is not searched. Problems met on
// the way (walk_images in data/dataset.h) go to `problems`.
std::vector<std::string> list_images(const std::string& folder, const std::string& skip = "",
                                     std::vector<std::string>* problems = nullptr);

// Writes OUT/low_blur_noise/<name> and OUT/high_sharp_scaled/<name> for each
// output, plus OUT/synth_log.tsv (the draws behind each pair). With count no
// larger than the number of photos, output i is photo i under its own relative
// name; with more, output i is photo i % P, variant i / P, named <stem>_<variant>.png.
SynthTreeResult write_synth_tree(const SynthTreeOptions& options);

}  // namespace liednet::data
