// Image files: PNG, JPEG and BMP in (8- or 16-bit, gray, gray+alpha, RGB or
// RGBA; decoded by stb), PNG out. In memory an image is an f32 tensor
// (3, H, W) with values in [0, 1]; the network works in [-1, 1].
#pragma once

#include <string>

#include "tensor/tensor.h"

namespace liednet::data {

struct ImageInfo {
  int channels = 0;  // in the file: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA
  int bits = 8;      // 8 or 16
};

// An error naming the file when it cannot be read or decoded.
Tensor read_image(const std::string& path, ImageInfo* info = nullptr);

// (3, H, W) in [0, 1] (clamped) to an 8-bit RGB PNG, written atomically.
void write_png(const std::string& path, const Tensor& image);

// [0, 1] <-> [-1, 1] (mean 0.5, std 0.5, as upstream normalises).
Tensor to_model_range(const Tensor& image01);
Tensor to_unit_range(const Tensor& model);  // clamped to [0, 1]

// Values in [0, 1] to 8-bit levels: clamp, times 255, round half to even (numpy's rule, as basicsr's tensor2img).
uint8_t to_8bit(float v);

}  // namespace liednet::data
