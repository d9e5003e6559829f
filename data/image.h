// Image files: PNG, JPEG and BMP in (8- or 16-bit, gray, gray+alpha, RGB or
// RGBA), PNG out. The format is told by the file's first bytes, not its name.
// PNG is decoded by libpng, which verifies its checksums; JPEG and BMP by stb
// after checking their structure (data/image_formats.h). Corrupt or truncated
// input is an error naming the file, never an image with wrong pixels. In
// memory an image is an f32 tensor (3, H, W) with values in [0, 1]; the network
// works in [-1, 1].
#pragma once

#include <string>

#include "tensor/tensor.h"

namespace liednet::data {

struct ImageInfo {
  int channels = 0;  // in the file: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA
  int bits = 8;      // 8 or 16
};

// Images above this many pixels (16384 x 16384) are refused before decoding.
constexpr int64_t kMaxImagePixels = int64_t{1} << 28;

// An error naming the file when it cannot be read or decoded, is corrupt or
// truncated, or has more than max_pixels pixels.
Tensor read_image(const std::string& path, ImageInfo* info = nullptr, int64_t max_pixels = kMaxImagePixels);

// The same from the file's bytes in memory; `name` stands for the file in messages.
Tensor decode_image(const std::string& bytes, const std::string& name, ImageInfo* info = nullptr,
                    int64_t max_pixels = kMaxImagePixels);

// (3, H, W) in [0, 1] (clamped) to an 8-bit RGB PNG, written atomically.
void write_png(const std::string& path, const Tensor& image);

// [0, 1] <-> [-1, 1] (mean 0.5, std 0.5, as upstream normalises).
Tensor to_model_range(const Tensor& image01);
Tensor to_unit_range(const Tensor& model);  // clamped to [0, 1]

// Values in [0, 1] to 8-bit levels: clamp, times 255, round half to even (numpy's rule, as basicsr's tensor2img).
uint8_t to_8bit(float v);

}  // namespace liednet::data
