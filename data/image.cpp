#include "data/image.h"

#include <cmath>
#include <cstring>
#include <vector>

#include <stb_image.h>
#include <stb_image_write.h>

#include "tensor/safetensors.h"

namespace liednet::data {

Tensor read_image(const std::string& path, ImageInfo* info) {
  FILE* f = std::fopen(path.c_str(), "rb");
  LIEDNET_CHECK(f, path, ": cannot open image");
  int w = 0, h = 0, channels = 0;
  const bool sixteen = stbi_is_16_bit_from_file(f);
  std::fseek(f, 0, SEEK_SET);
  void* pixels = sixteen ? static_cast<void*>(stbi_load_from_file_16(f, &w, &h, &channels, 0))
                         : static_cast<void*>(stbi_load_from_file(f, &w, &h, &channels, 0));
  std::fclose(f);
  LIEDNET_CHECK(pixels, path, ": cannot decode image (", stbi_failure_reason(), ")");
  LIEDNET_CHECK(w > 0 && h > 0 && channels >= 1 && channels <= 4, path, ": unsupported image (", w, "x", h, ", ",
                channels, " channels)");
  if (info) *info = {channels, sixteen ? 16 : 8};
  Tensor out = Tensor::empty({3, h, w});
  float* dst = out.data<float>();
  const int64_t plane = static_cast<int64_t>(h) * w;
  // Divide (not multiply by the reciprocal) so that level k reads as k / 255 exactly rounded.
  const float levels = sixteen ? 65535.0f : 255.0f;
  // Gray (and gray + alpha) fills all three channels; alpha is dropped.
  const int color = channels >= 3 ? 3 : 1;
  for (int64_t p = 0; p < plane; ++p)
    for (int c = 0; c < 3; ++c) {
      const int64_t src = p * channels + (color == 3 ? c : 0);
      const float v = sixteen ? static_cast<const uint16_t*>(pixels)[src] : static_cast<const uint8_t*>(pixels)[src];
      dst[c * plane + p] = v / levels;
    }
  stbi_image_free(pixels);
  return out;
}

uint8_t to_8bit(float v) {
  const float c = std::min(std::max(v, 0.0f), 1.0f) * 255.0f;
  return static_cast<uint8_t>(std::nearbyint(c));  // the default rounding mode rounds half to even
}

void write_png(const std::string& path, const Tensor& image) {
  LIEDNET_CHECK(image.ndim() == 3 && image.size(0) == 3 && image.dtype() == DType::F32, path,
                ": write_png needs an f32 (3, H, W) image, got ", image.str());
  const int64_t h = image.size(1), w = image.size(2), plane = h * w;
  LIEDNET_CHECK(h > 0 && w > 0, path, ": cannot write an empty image ", image.str());
  std::vector<uint8_t> rgb(plane * 3);
  const float* src = image.data<float>();
  for (int64_t p = 0; p < plane; ++p)
    for (int c = 0; c < 3; ++c) rgb[p * 3 + c] = to_8bit(src[c * plane + p]);
  std::string bytes;
  auto sink = [](void* ctx, void* data, int size) { static_cast<std::string*>(ctx)->append(static_cast<char*>(data), size); };
  const int ok = stbi_write_png_to_func(sink, &bytes, static_cast<int>(w), static_cast<int>(h), 3, rgb.data(),
                                        static_cast<int>(w * 3));
  LIEDNET_CHECK(ok, path, ": PNG encoding failed");
  write_file_atomically(path, bytes);
}

Tensor to_model_range(const Tensor& image01) {
  Tensor out = Tensor::empty(image01.shape(), image01.dtype());
  LIEDNET_DISPATCH(image01.dtype(), T, {
    const T* s = image01.data<T>();
    T* d = out.data<T>();
    for (int64_t i = 0; i < out.numel(); ++i) d[i] = s[i] * T(2) - T(1);
  });
  return out;
}

Tensor to_unit_range(const Tensor& model) {
  Tensor out = Tensor::empty(model.shape(), model.dtype());
  LIEDNET_DISPATCH(model.dtype(), T, {
    const T* s = model.data<T>();
    T* d = out.data<T>();
    for (int64_t i = 0; i < out.numel(); ++i) d[i] = std::min(std::max((s[i] + T(1)) / T(2), T(0)), T(1));
  });
  return out;
}

}  // namespace liednet::data
