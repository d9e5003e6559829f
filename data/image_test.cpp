#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "data/image.h"

using namespace liednet;

TEST_SUITE("data") {
  TEST_CASE("PNG round trip is exact at 8 bits") {
    namespace fs = std::filesystem;
    const std::string path = (fs::temp_directory_path() / "liednet_image_test.png").string();
    Tensor img = Tensor::empty({3, 5, 7});
    for (int64_t i = 0; i < img.numel(); ++i) img.data<float>()[i] = static_cast<float>((i * 37) % 256) / 255.0f;
    data::write_png(path, img);
    data::ImageInfo info;
    Tensor back = data::read_image(path, &info);
    CHECK(info.channels == 3);
    CHECK(info.bits == 8);
    REQUIRE(back.shape() == Shape{3, 5, 7});
    CHECK(back.to_vector() == img.to_vector());
    fs::remove(path);
  }

  TEST_CASE("8-bit conversion clamps and rounds half to even") {
    CHECK(data::to_8bit(-0.5f) == 0);
    CHECK(data::to_8bit(2.0f) == 255);
    CHECK(data::to_8bit(0.5f / 255.0f) == 0);   // 0.5 rounds to even 0
    CHECK(data::to_8bit(1.5f / 255.0f) == 2);   // 1.5 rounds to even 2
    CHECK(data::to_8bit(100.0f / 255.0f) == 100);
  }

  TEST_CASE("unreadable images are errors naming the file") {
    namespace fs = std::filesystem;
    const std::string bad = (fs::temp_directory_path() / "liednet_not_an_image.png").string();
    std::ofstream(bad) << "definitely not a PNG";
    CHECK_THROWS_WITH(data::read_image(bad), doctest::Contains("liednet_not_an_image.png: cannot decode image"));
    CHECK_THROWS_WITH(data::read_image("/nonexistent/x.png"), doctest::Contains("/nonexistent/x.png: cannot open image"));
    fs::remove(bad);
  }
}
