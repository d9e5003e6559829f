#include "data/image.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <stb_image.h>
#include <stb_image_write.h>

#include "data/image_formats.h"
#include "tensor/atomic_file.h"

namespace liednet::data {

namespace {

std::string first_bytes(const std::string& bytes) {
  std::string s;
  char hex[4];
  for (size_t i = 0; i < bytes.size() && i < 8; ++i) {
    std::snprintf(hex, sizeof hex, "%s%02x", i ? " " : "", static_cast<unsigned char>(bytes[i]));
    s += hex;
  }
  return s;
}

bool starts_with(const std::string& bytes, std::initializer_list<uint8_t> magic) {
  if (bytes.size() < magic.size()) return false;
  size_t i = 0;
  for (uint8_t m : magic)
    if (static_cast<uint8_t>(bytes[i++]) != m) return false;
  return true;
}

// JPEG and BMP through stb, after their structure checks.
formats::Pixels decode_with_stb(const std::string& bytes, const std::string& name, const char* format) {
  int w = 0, h = 0, channels = 0;
  uint8_t* pixels = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()),
                                          &w, &h, &channels, 0);
  LIEDNET_CHECK(pixels, name, ": cannot decode ", format, " (", stbi_failure_reason(), ")");
  formats::Pixels out;
  out.width = w;
  out.height = h;
  out.channels = channels;
  out.bits = 8;
  out.bytes.assign(pixels, pixels + static_cast<size_t>(w) * h * channels);
  stbi_image_free(pixels);
  return out;
}

}  // namespace

Tensor decode_image(const std::string& bytes, const std::string& name, ImageInfo* info, int64_t max_pixels) {
  LIEDNET_CHECK(!bytes.empty(), name, ": cannot decode image (the file is empty)");
  formats::Pixels px;
  auto check_size = [&](const formats::Dimensions& d, const char* format) {
    LIEDNET_CHECK(d.width * d.height <= max_pixels, name, ": the ", format, " is ", d.width, "x", d.height,
                  ", more than the ", max_pixels, " pixels accepted");
    // stb takes the size as an int.
    LIEDNET_CHECK(bytes.size() <= static_cast<size_t>(INT32_MAX), name, ": the ", format, " file is over 2 GiB");
  };
  if (starts_with(bytes, {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'})) {
    px = formats::decode_png(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), name, max_pixels);
  } else if (starts_with(bytes, {0xff, 0xd8, 0xff})) {
    check_size(formats::check_jpeg(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), name), "JPEG");
    px = decode_with_stb(bytes, name, "JPEG");
  } else if (starts_with(bytes, {'B', 'M'})) {
    check_size(formats::check_bmp(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), name), "BMP");
    px = decode_with_stb(bytes, name, "BMP");
  } else {
    fail(name, ": cannot decode image (not a PNG, JPEG or BMP file: it starts with bytes ", first_bytes(bytes), ")");
  }
  const int w = px.width, h = px.height, channels = px.channels;
  const bool sixteen = px.bits == 16;
  LIEDNET_CHECK(w > 0 && h > 0 && channels >= 1 && channels <= 4, name, ": unsupported image (", w, "x", h, ", ",
                channels, " channels)");
  if (info) *info = {channels, px.bits};
  Tensor out = Tensor::empty({3, h, w});
  float* dst = out.data<float>();
  const int64_t plane = static_cast<int64_t>(h) * w;
  // Divide (not multiply by the reciprocal) so that level k reads as k / 255 exactly rounded.
  const float levels = sixteen ? 65535.0f : 255.0f;
  // Gray (and gray + alpha) fills all three channels; alpha is dropped.
  const int color = channels >= 3 ? 3 : 1;
  const uint8_t* p8 = px.bytes.data();
  for (int64_t p = 0; p < plane; ++p)
    for (int c = 0; c < 3; ++c) {
      const int64_t src = p * channels + (color == 3 ? c : 0);
      float v;
      if (sixteen) {
        uint16_t s16;
        std::memcpy(&s16, p8 + 2 * src, 2);
        v = s16;
      } else {
        v = p8[src];
      }
      dst[c * plane + p] = v / levels;
    }
  return out;
}

Tensor read_image(const std::string& path, ImageInfo* info, int64_t max_pixels) {
  std::error_code ec;
  LIEDNET_CHECK(!std::filesystem::is_directory(path, ec), path, ": cannot open image (it is a folder)");
  std::ifstream in(path, std::ios::binary);
  LIEDNET_CHECK(in, path, ": cannot open image");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  LIEDNET_CHECK(!in.bad(), path, ": cannot read image (a read error)");
  return decode_image(bytes.str(), path, info, max_pixels);
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
