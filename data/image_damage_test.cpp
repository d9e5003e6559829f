// Damaged image files: every one is an error naming the file, never an image
// with wrong pixels. PNGs are assembled here chunk by chunk (zlib for the
// data), so that each colour type can be made and any byte damaged; JPEG and
// BMP come from stb's writers.
#include <doctest/doctest.h>

#include "test_util.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <stb_image_write.h>
#include <zlib.h>

#include "data/image.h"
#include "tensor/error.h"

using namespace liednet;
using liednet::testing::has;

namespace {

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

uint32_t crc_of(const std::string& bytes) {
  return static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

std::string chunk(const std::string& type, const std::string& data) {
  return be32(static_cast<uint32_t>(data.size())) + type + data + be32(crc_of(type + data));
}

struct PngSpec {
  uint32_t width = 0, height = 0;
  int depth = 8, color = 2;  // colour types: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA
  bool interlaced = false;
  std::string scanlines;  // filter byte + packed samples per row (per pass when interlaced)
  std::vector<std::pair<std::string, std::string>> extra;  // chunks before IDAT
};

std::string png(const PngSpec& s) {
  std::string ihdr = be32(s.width) + be32(s.height);
  ihdr += {static_cast<char>(s.depth), static_cast<char>(s.color), 0, 0, static_cast<char>(s.interlaced ? 1 : 0)};
  uLongf size = compressBound(static_cast<uLong>(s.scanlines.size()));
  std::string z(size, '\0');
  REQUIRE(compress(reinterpret_cast<Bytef*>(z.data()), &size, reinterpret_cast<const Bytef*>(s.scanlines.data()),
                   static_cast<uLong>(s.scanlines.size())) == Z_OK);
  z.resize(size);
  std::string out = "\x89PNG\r\n\x1a\n" + chunk("IHDR", ihdr);
  for (const auto& [type, data] : s.extra) out += chunk(type, data);
  return out + chunk("IDAT", z) + chunk("IEND", "");
}

// A 3x2 8-bit RGB image with a text chunk: levels 10 * (3 * (y * 3 + x) + c).
PngSpec rgb_spec() {
  PngSpec s{3, 2, 8, 2};
  for (int y = 0; y < 2; ++y) {
    s.scanlines += '\0';
    for (int x = 0; x < 3; ++x)
      for (int c = 0; c < 3; ++c) s.scanlines += static_cast<char>(10 * (3 * (y * 3 + x) + c));
  }
  s.extra = {{"tEXt", std::string("Comment\0liednet test", 20)}};
  return s;
}

std::string stb_file(bool jpeg) {
  std::vector<uint8_t> rgb(24 * 16 * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>((i * 7) % 251);
  std::string out;
  auto sink = [](void* ctx, void* data, int size) { static_cast<std::string*>(ctx)->append(static_cast<char*>(data), size); };
  const int ok = jpeg ? stbi_write_jpg_to_func(sink, &out, 24, 16, 3, rgb.data(), 90)
                      : stbi_write_bmp_to_func(sink, &out, 24, 16, 3, rgb.data());
  REQUIRE(ok);
  return out;
}

// 8-bit levels as read_image gives them: float(k) / 255.
std::vector<double> levels(std::initializer_list<int> ks) {
  std::vector<double> out;
  for (int k : ks) out.push_back(static_cast<float>(k) / 255.0f);
  return out;
}

// The message decode_image throws, or "" when it decodes.
std::string error_of(const std::string& bytes, const std::string& name = "img") {
  try {
    data::decode_image(bytes, name);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_SUITE("data") {
  TEST_CASE("PNG colour types decode to the levels in the file") {
    data::ImageInfo info;
    Tensor rgb = data::decode_image(png(rgb_spec()), "rgb.png", &info);
    CHECK(info.channels == 3);
    CHECK(info.bits == 8);
    REQUIRE(rgb.shape() == Shape{3, 2, 3});
    for (int c = 0; c < 3; ++c)
      for (int p = 0; p < 6; ++p) CHECK(rgb.at({c, p / 3, p % 3}) == doctest::Approx(10 * (3 * p + c) / 255.0));

    // 16-bit gray: levels divided by 65535.
    PngSpec g16{2, 1, 16, 0};
    g16.scanlines = std::string("\0\x12\x34\xff\xfe", 5);
    Tensor gray = data::decode_image(png(g16), "g16.png", &info);
    CHECK(info.channels == 1);
    CHECK(info.bits == 16);
    CHECK(gray.at({0, 0, 0}) == static_cast<float>(0x1234) / 65535.0f);
    CHECK(gray.at({2, 0, 1}) == static_cast<float>(0xfffe) / 65535.0f);

    // 1-bit gray expands to 0 and 255.
    PngSpec g1{4, 1, 1, 0};
    g1.scanlines = std::string("\0\xa0", 2);  // 1 0 1 0
    Tensor bits = data::decode_image(png(g1), "g1.png");
    CHECK(bits.to_vector() == std::vector<double>{1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0});

    // A 2-bit palette with transparency: RGB from the palette, plus an alpha channel.
    PngSpec pal{2, 1, 2, 3};
    pal.extra = {{"PLTE", std::string("\xff\x00\x00\x00\x80\xff", 6)}, {"tRNS", std::string("\x40", 1)}};
    pal.scanlines = std::string("\0\x40", 2);  // indices 1, 0
    Tensor p = data::decode_image(png(pal), "pal.png", &info);
    CHECK(info.channels == 4);
    CHECK(p.to_vector() == levels({0, 255, 128, 0, 255, 0}));

    // Interlaced (Adam7) 2x2 gray: pass 1 holds (0,0), pass 6 (1,0), pass 7 row 1.
    PngSpec il{2, 2, 8, 0, true};
    il.scanlines = std::string("\0\x0a\0\x14\0\x1e\x28", 7);
    CHECK(data::decode_image(png(il), "il.png").to_vector() == levels({10, 20, 30, 40, 10, 20, 30, 40, 10, 20, 30, 40}));
  }

  TEST_CASE("every flipped bit of a PNG is an error naming the file") {
    const std::string good = png(rgb_spec());
    REQUIRE(error_of(good).empty());
    std::vector<std::string> silent;
    for (size_t i = 0; i < good.size(); ++i)
      for (int b = 0; b < 8; ++b) {
        std::string bad = good;
        bad[i] = static_cast<char>(bad[i] ^ (1 << b));
        const std::string e = error_of(bad, "flip.png");
        if (e.rfind("flip.png: ", 0) != 0) silent.push_back("byte " + std::to_string(i) + " bit " + std::to_string(b) + ": " + e);
      }
    CHECK_MESSAGE(silent.empty(), silent.size(), " flips decoded or failed without naming the file, the first: ",
                  silent.empty() ? "" : silent[0]);
  }

  TEST_CASE("PNG checksums: a chunk's CRC and the zlib Adler-32 are verified") {
    const std::string good = png(rgb_spec());
    const size_t idat = good.find("IDAT");
    REQUIRE(idat != std::string::npos);
    const uint32_t length = static_cast<uint8_t>(good[idat - 1]) | static_cast<uint8_t>(good[idat - 2]) << 8;
    // The last data byte of IDAT is the Adler-32's; flip it and fix the chunk's CRC.
    std::string adler = good;
    adler[idat + 4 + length - 1] ^= 0x01;
    const std::string crc = be32(crc_of(adler.substr(idat, 4 + length)));
    adler.replace(idat + 4 + length, 4, crc);
    CHECK(error_of(adler, "a.png") == "a.png: corrupt PNG (IDAT: incorrect data check)");
    // The text chunk's last byte, CRC left as it was.
    std::string text = good;
    text[good.find("liednet test") + 11] ^= 0x20;
    CHECK(error_of(text, "t.png") == "t.png: corrupt PNG (tEXt: CRC error)");
  }

  TEST_CASE("every truncation of a PNG, JPEG or BMP is an error naming the file") {
    for (const auto& [kind, whole] : {std::pair{"PNG", png(rgb_spec())}, {"JPEG", stb_file(true)}, {"BMP", stb_file(false)}}) {
      INFO(kind);
      REQUIRE(error_of(whole).empty());
      std::vector<std::string> bad;
      for (size_t n = 0; n < whole.size(); ++n) {
        const std::string e = error_of(whole.substr(0, n), "cut");
        if (e.rfind("cut: ", 0) != 0) bad.push_back(std::to_string(n) + " bytes: " + (e.empty() ? "decoded" : e));
      }
      CHECK_MESSAGE(bad.empty(), bad.size(), " truncations misbehaved, the first: ", bad.empty() ? "" : bad[0]);
    }
    const std::string jpeg = stb_file(true), bmp = stb_file(false);
    CHECK(error_of(jpeg.substr(0, jpeg.size() - 2), "j.jpg") ==
          "j.jpg: truncated JPEG (the file ends inside its image data, before its end-of-image marker; " +
              std::to_string(jpeg.size() - 2) + " bytes)");
    CHECK(error_of(bmp.substr(0, bmp.size() - 1), "b.bmp") ==
          "b.bmp: truncated BMP (24x16 at 24 bits needs " + std::to_string(bmp.size()) + " bytes, the file has " +
              std::to_string(bmp.size() - 1) + ")");
    const std::string p = png(rgb_spec());
    CHECK(error_of(p.substr(0, p.size() - 12), "p.png") ==
          "p.png: truncated PNG (the file ends at byte " + std::to_string(p.size() - 12) +
              " before its image data or IEND chunk)");
    // Data after the end-of-image marker (some cameras append a trailer) is allowed.
    CHECK(error_of(jpeg + "trailer").empty());
  }

  TEST_CASE("a header that claims more pixels than the file can hold is refused before decoding") {
    PngSpec huge{20000, 10000, 8, 2};
    huge.scanlines = std::string(60001, '\0');  // one row
    CHECK(error_of(png(huge), "h.png") == "h.png: truncated PNG (20000x10000 pixels cannot fit in " +
                                               std::to_string(png(huge).size()) + " bytes)");
    std::string jpeg = stb_file(true);
    const size_t sof = jpeg.find("\xff\xc0");
    REQUIRE(sof != std::string::npos);
    jpeg.replace(sof + 5, 4, std::string("\xea\x60\xea\x60", 4));  // 60000x60000
    CHECK(error_of(jpeg, "h.jpg") == "h.jpg: truncated or corrupt JPEG (60000x60000 pixels cannot fit in " +
                                         std::to_string(jpeg.size()) + " bytes)");
    CHECK_THROWS_WITH(data::decode_image(png(rgb_spec()), "six.png", nullptr, 5),
                      "six.png: the PNG is 3x2, more than the 5 pixels accepted");
  }

  TEST_CASE("files that are not images, empty files and folders are errors naming them") {
    CHECK(error_of("", "e.png") == "e.png: cannot decode image (the file is empty)");
    CHECK(error_of("GIF89a....", "g.png") ==
          "g.png: cannot decode image (not a PNG, JPEG or BMP file: it starts with bytes 47 49 46 38 39 61 2e 2e)");
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / "liednet_image_folder.png";
    fs::create_directories(dir);
    CHECK_THROWS_WITH(data::read_image(dir.string()), has(dir.string() + ": cannot open image (it is a folder)"));
    fs::remove_all(dir);
  }

  TEST_CASE("a chunk length the file cannot hold is refused before anything is allocated for it") {
    const std::string good = png(rgb_spec());
    // Any chunk, before or after the image data: its length made 1 GB (CRC left as it was).
    for (const char* type : {"tEXt", "IDAT", "IEND"}) {
      CAPTURE(type);
      std::string bad = good;
      const size_t at = bad.find(type) - 4;
      bad.replace(at, 4, be32(0x40000000u));
      CHECK(error_of(bad, "c.png") == "c.png: truncated PNG (the " + std::string(type) + " chunk at byte " +
                                          std::to_string(at) + " declares 1073741824 bytes; the file ends at byte " +
                                          std::to_string(bad.size()) + ")");
    }
    // Past PNG's 2^31 - 1 cap, in an unknown ancillary chunk added before IDAT.
    PngSpec odd = rgb_spec();
    odd.extra.push_back({"zzXx", "abc"});
    std::string bad = png(odd);
    const size_t at = bad.find("zzXx") - 4;
    bad.replace(at, 4, be32(0xfffffff0u));
    CHECK(error_of(bad, "u.png") == "u.png: corrupt PNG (the zzXx chunk at byte " + std::to_string(at) +
                                        " declares 4294967280 bytes, more than PNG allows)");
    // A lie in a JPEG segment's length or a BMP's header is caught the same way.
    std::string jpeg = stb_file(true);
    const size_t dqt = jpeg.find("\xff\xdb");
    REQUIRE(dqt != std::string::npos);
    jpeg = jpeg.substr(0, dqt + 2) + std::string("\xff\xf0", 2) + jpeg.substr(dqt + 4, 40);
    CHECK(error_of(jpeg, "j.jpg").rfind("j.jpg: truncated JPEG (the file ends inside a header segment", 0) == 0);
    std::string bmp = stb_file(false);
    bmp.replace(22, 4, std::string("\x00\x00\x00\x01", 4));  // height 16777216
    CHECK(error_of(bmp, "b.bmp").rfind("b.bmp: truncated BMP (24x16777216 at 24 bits needs ", 0) == 0);
  }
}
