// Structure checks for the formats stb_image decodes here (JPEG, BMP). stb is
// lenient: past the end of the file it reads zeros, so a truncated JPEG or BMP
// decodes to an image whose lower part is grey or black, without an error.
#include "data/image_formats.h"
#include "tensor/error.h"

namespace liednet::data::formats {

namespace {

uint32_t be16(const uint8_t* p) { return static_cast<uint32_t>(p[0]) << 8 | p[1]; }
uint32_t le16(const uint8_t* p) { return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8; }
uint32_t be32(const uint8_t* p) { return be16(p) << 16 | be16(p + 2); }
uint32_t le32(const uint8_t* p) { return le16(p) | le16(p + 2) << 16; }

// Start-of-frame markers of the JPEG processes stb decodes or names as
// unsupported: C0..CF except DHT (C4), JPG (C8) and DAC (CC).
bool is_frame_marker(uint8_t m) { return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC; }

}  // namespace

void check_png_chunks(const uint8_t* data, size_t size, const std::string& name) {
  size_t pos = 8;  // after the signature
  while (size - pos >= 8) {
    const uint32_t length = be32(data + pos);
    char type[5] = {};
    for (int i = 0; i < 4; ++i) {
      const uint8_t c = data[pos + 4 + i];
      type[i] = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ? static_cast<char>(c) : '?';
    }
    // PNG caps a chunk at 2^31 - 1 bytes; beyond it, or beyond the file, the length is false.
    LIEDNET_CHECK(length <= 0x7fffffffu, name, ": corrupt PNG (the ", type, " chunk at byte ", pos, " declares ", length,
                  " bytes, more than PNG allows)");
    if (static_cast<uint64_t>(length) + 12 > size - pos)
      fail(name, ": truncated PNG (the ", type, " chunk at byte ", pos, " declares ", length, " bytes; the file ends at byte ",
           size, ")");
    pos += static_cast<size_t>(length) + 12;
    if (std::string(type) == "IEND") return;
  }
}

Dimensions check_jpeg(const uint8_t* data, size_t size, const std::string& name) {
  auto truncated = [&](const char* where) {
    fail(name, ": truncated JPEG (the file ends ", where, ", before its end-of-image marker; ", size, " bytes)");
  };
  Dimensions dims;
  bool frame = false, scan = false;
  size_t pos = 2;  // after the start-of-image marker FF D8
  for (;;) {
    // The next marker: FF, any number of fill bytes FF, then the code. Bytes
    // that are not a marker where one is due are skipped, as libjpeg does.
    while (pos < size && data[pos] != 0xFF) ++pos;
    while (pos < size && data[pos] == 0xFF) ++pos;
    if (pos >= size) truncated(scan ? "after its image data" : "in its headers");
    const uint8_t marker = data[pos++];
    if (marker == 0xD9) break;                                      // end of image
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // no length
    if (size - pos < 2) truncated("in a segment's length");
    const size_t length = be16(data + pos);
    LIEDNET_CHECK(length >= 2, name, ": corrupt JPEG (a segment of length ", length, " at byte ", pos, ")");
    if (size - pos < length) truncated("inside a header segment");
    if (is_frame_marker(marker)) {
      LIEDNET_CHECK(length >= 8, name, ": corrupt JPEG (a frame header of ", length, " bytes)");
      dims = {be16(data + pos + 5), be16(data + pos + 3)};
      frame = true;
    }
    pos += length;
    if (marker != 0xDA) continue;
    // A scan: entropy-coded data up to the next marker that is neither a
    // stuffed FF 00 nor a restart marker.
    LIEDNET_CHECK(frame, name, ": corrupt JPEG (image data before the frame header)");
    scan = true;
    for (;;) {
      while (pos < size && data[pos] != 0xFF) ++pos;
      if (size - pos < 2) truncated("inside its image data");
      const uint8_t next = data[pos + 1];
      if (next == 0x00 || (next >= 0xD0 && next <= 0xD7) || next == 0xFF) {
        pos += next == 0xFF ? 1 : 2;  // FF FF: fill byte before a marker
        continue;
      }
      break;  // pos is at the marker ending the scan
    }
  }
  LIEDNET_CHECK(frame && scan, name, ": corrupt JPEG (", frame ? "no image data" : "no frame header",
                " before the end-of-image marker)");
  LIEDNET_CHECK(dims.width > 0 && dims.height > 0, name, ": unsupported JPEG (", dims.width, "x", dims.height,
                "; a height of 0 set later by a DNL marker is not supported)");
  // Every coded block holds at least one bit, and a block covers at most 32x32
  // pixels (8x8 samples of a component sampled 4 times more coarsely), so a
  // file cannot hold more than 8192 pixels per byte.
  LIEDNET_CHECK(dims.width * dims.height <= 8192 * static_cast<int64_t>(size) + (int64_t{1} << 20), name,
                ": truncated or corrupt JPEG (", dims.width, "x", dims.height, " pixels cannot fit in ", size,
                " bytes)");
  return dims;
}

Dimensions check_bmp(const uint8_t* data, size_t size, const std::string& name) {
  LIEDNET_CHECK(size >= 26, name, ": truncated BMP (", size, " bytes, shorter than its headers)");
  const uint32_t offset = le32(data + 10), header = le32(data + 14);
  LIEDNET_CHECK(header == 12 || header == 40 || header == 52 || header == 56 || header == 108 || header == 124, name,
                ": unsupported or corrupt BMP (an info header of ", header, " bytes)");
  LIEDNET_CHECK(size >= 14 + static_cast<size_t>(header), name, ": truncated BMP (", size,
                " bytes, shorter than its headers)");
  int64_t width = 0, height = 0;
  uint32_t bits = 0, compression = 0;
  if (header == 12) {  // OS/2: 16-bit sizes
    width = le16(data + 18);
    height = le16(data + 20);
    bits = le16(data + 24);
  } else {
    width = static_cast<int32_t>(le32(data + 18));
    height = static_cast<int32_t>(le32(data + 22));
    bits = le16(data + 28);
    compression = le32(data + 30);
  }
  if (height < 0) height = -height;  // negative: rows stored top-down
  LIEDNET_CHECK(width > 0 && height > 0 && width <= (1 << 24) && height <= (1 << 24), name, ": corrupt BMP (", width,
                "x", height, " pixels)");
  LIEDNET_CHECK(bits == 1 || bits == 4 || bits == 8 || bits == 16 || bits == 24 || bits == 32, name,
                ": unsupported or corrupt BMP (", bits, " bits per pixel)");
  // Uncompressed (0) and bit-field (3) images have rows of a known size; RLE
  // images (1, 2) are refused by the decoder with its own message.
  if (compression == 0 || compression == 3) {
    const int64_t row = (width * bits + 31) / 32 * 4;  // rows are padded to 4 bytes
    const int64_t need = static_cast<int64_t>(offset) + row * height;
    LIEDNET_CHECK(need <= static_cast<int64_t>(size), name, ": truncated BMP (", width, "x", height, " at ", bits,
                  " bits needs ", need, " bytes, the file has ", size, ")");
  }
  return {width, height};
}

}  // namespace liednet::data::formats
