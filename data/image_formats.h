// The checks and decoders behind data::decode_image, one per file format. Each
// takes the whole file in memory; `name` is the file in messages, and every
// error is a liednet::Error starting with it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace liednet::data::formats {

struct Pixels {
  int width = 0, height = 0;
  int channels = 0;            // 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA
  int bits = 8;                // 8 or 16 (native byte order)
  std::vector<uint8_t> bytes;  // (height, width, channels) samples, interleaved
};

// PNG through libpng: every chunk's CRC and the zlib stream's Adler-32 are
// verified, and a file that ends before its IEND chunk is an error.
// Palette and 1/2/4-bit gray images are expanded (gray levels scaled to the
// full range), transparency (tRNS) becomes an alpha channel.
Pixels decode_png(const uint8_t* data, size_t size, const std::string& name, int64_t max_pixels);

struct Dimensions {
  int64_t width = 0, height = 0;
};

// Every chunk's declared length checked against the bytes the file holds,
// before the decoder allocates for any chunk (a length is a claim: an 80-byte
// file may declare a 2 GB text chunk). Chunks up to IEND, or the end of the
// file when it ends between chunks (the decoder then names the truncation).
void check_png_chunks(const uint8_t* data, size_t size, const std::string& name);

// JPEG has no checksums; what can be checked is its structure: the segments'
// lengths, a frame header, at least one scan, and the end-of-image marker after
// the last scan (a truncated file lacks it). Returns the frame's size.
Dimensions check_jpeg(const uint8_t* data, size_t size, const std::string& name);

// BMP: the headers, and (uncompressed or bit-field images) that the file holds
// every row the header promises. Returns the image's size.
Dimensions check_bmp(const uint8_t* data, size_t size, const std::string& name);

}  // namespace liednet::data::formats
