// PNG decoding with libpng. stb_image, which decodes JPEG and BMP here, skips
// PNG's CRCs and the zlib Adler-32, so a flipped bit would decode silently to
// wrong pixels; libpng verifies both.
//
// libpng reports errors by longjmp. The two functions that call into libpng
// under a setjmp (read_header, read_rows) hold no C++ object with a destructor,
// so the jump skips nothing; all state lives in PngReader, owned by the caller.
#include <csetjmp>
#include <cstdio>
#include <cstring>

#include <png.h>

#include "data/image_formats.h"
#include "tensor/error.h"

namespace liednet::data::formats {

namespace {

struct PngReader {
  png_structp png = nullptr;
  png_infop info = nullptr;
  const uint8_t* data = nullptr;
  size_t size = 0, pos = 0;
  bool truncated = false;  // the read callback ran out of bytes
  char message[256] = {};  // libpng's last error
  // Filled by read_header.
  png_uint_32 width = 0, height = 0;
  int channels = 0, bit_depth = 0;
  size_t rowbytes = 0;

  ~PngReader() { png_destroy_read_struct(&png, info ? &info : nullptr, nullptr); }
};

void read_bytes(png_structp png, png_bytep out, size_t n) {
  auto* r = static_cast<PngReader*>(png_get_io_ptr(png));
  if (n > r->size - r->pos) {
    r->truncated = true;
    png_error(png, "the file ends early");
  }
  std::memcpy(out, r->data + r->pos, n);
  r->pos += n;
}

void on_error(png_structp png, png_const_charp message) {
  auto* r = static_cast<PngReader*>(png_get_error_ptr(png));
  std::snprintf(r->message, sizeof r->message, "%s", message);
  png_longjmp(png, 1);
}

// Warnings are about ancillary details (colour profiles, unknown chunks);
// anything that corrupts pixels is an error.
void on_warning(png_structp, png_const_charp) {}

bool read_header(PngReader& r) {
  if (setjmp(png_jmpbuf(r.png))) return false;
  // A bad CRC in any chunk, critical or ancillary, is an error.
  png_set_crc_action(r.png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
  // And a bound on what any one ancillary chunk may make libpng allocate.
  png_set_chunk_malloc_max(r.png, 64u << 20);
  png_set_read_fn(r.png, &r, read_bytes);
  png_read_info(r.png, r.info);
  const int color = png_get_color_type(r.png, r.info), depth = png_get_bit_depth(r.png, r.info);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(r.png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(r.png);
  if (png_get_valid(r.png, r.info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(r.png);
  if (depth == 16) png_set_swap(r.png);  // PNG stores 16-bit samples big-endian
  png_set_interlace_handling(r.png);
  png_read_update_info(r.png, r.info);
  r.width = png_get_image_width(r.png, r.info);
  r.height = png_get_image_height(r.png, r.info);
  r.channels = png_get_channels(r.png, r.info);
  r.bit_depth = png_get_bit_depth(r.png, r.info);
  r.rowbytes = png_get_rowbytes(r.png, r.info);
  return true;
}

bool read_rows(PngReader& r, png_bytep* rows) {
  if (setjmp(png_jmpbuf(r.png))) return false;
  png_read_image(r.png, rows);
  // The chunks after the image data, up to IEND: their CRCs, and the end of the file.
  png_read_end(r.png, nullptr);
  return true;
}

[[noreturn]] void fail_png(const PngReader& r, const std::string& name) {
  if (r.truncated)
    fail(name, ": truncated PNG (the file ends at byte ", r.size, " before its image data or IEND chunk)");
  fail(name, ": corrupt PNG (", r.message, ")");
}

}  // namespace

Pixels decode_png(const uint8_t* data, size_t size, const std::string& name, int64_t max_pixels) {
  check_png_chunks(data, size, name);  // before libpng allocates for any chunk's declared length
  PngReader r;
  r.data = data;
  r.size = size;
  r.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r, on_error, on_warning);
  LIEDNET_CHECK(r.png, name, ": cannot start the PNG decoder (out of memory?)");
  r.info = png_create_info_struct(r.png);
  LIEDNET_CHECK(r.info, name, ": cannot start the PNG decoder (out of memory?)");
  if (!read_header(r)) fail_png(r, name);

  const int64_t pixels = static_cast<int64_t>(r.width) * r.height;
  LIEDNET_CHECK(pixels <= max_pixels, name, ": the PNG is ", r.width, "x", r.height, ", more than the ", max_pixels,
                " pixels accepted");
  LIEDNET_CHECK(r.channels >= 1 && r.channels <= 4 && (r.bit_depth == 8 || r.bit_depth == 16), name,
                ": unsupported PNG (", r.channels, " channels of ", r.bit_depth, " bits after expansion)");
  // zlib compresses at most 1032:1, so a file far smaller than that fraction of
  // its pixels is truncated: refuse it before allocating for the claimed size.
  const double least = static_cast<double>(r.height) * static_cast<double>(r.rowbytes + 1) / 1032.0;
  LIEDNET_CHECK(static_cast<double>(size) >= least, name, ": truncated PNG (", r.width, "x", r.height, " pixels cannot fit in ",
                size, " bytes)");

  Pixels out;
  out.width = static_cast<int>(r.width);
  out.height = static_cast<int>(r.height);
  out.channels = r.channels;
  out.bits = r.bit_depth;
  out.bytes.resize(r.rowbytes * r.height);
  std::vector<png_bytep> rows(r.height);
  for (png_uint_32 y = 0; y < r.height; ++y) rows[y] = out.bytes.data() + y * r.rowbytes;
  if (!read_rows(r, rows.data())) fail_png(r, name);
  return out;
}

}  // namespace liednet::data::formats
