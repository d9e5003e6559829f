#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tensor/safetensors.h"
#include "tensor/tensor.h"

using namespace liednet;

TEST_SUITE("tensor") {
  TEST_CASE("creation, shape and element access") {
    Tensor z = Tensor::zeros({2, 3, 4});
    CHECK(z.shape() == Shape{2, 3, 4});
    CHECK(z.numel() == 24);
    CHECK(z.dtype() == DType::F32);
    CHECK(z.size(-1) == 4);
    CHECK(z.at({1, 2, 3}) == 0.0);
    Tensor f = Tensor::full({2, 2}, 2.5, DType::F64);
    CHECK(f.at({1, 0}) == 2.5);
    f.set({1, 0}, -1.0);
    CHECK(f.at({1, 0}) == -1.0);
    CHECK(f.to_vector() == std::vector<double>{2.5, 2.5, -1.0, 2.5});
    CHECK(Tensor::scalar(3.0).item() == 3.0);
    CHECK(Tensor::ones({3}).to_vector() == std::vector<double>{1, 1, 1});
    CHECK(z.str() == "f32 (2, 3, 4) cpu");
  }

  TEST_CASE("seeded generators repeat and differ by seed") {
    Generator a(7), b(7), c(8);
    Tensor x = Tensor::randn({100}, a), y = Tensor::randn({100}, b), w = Tensor::randn({100}, c);
    CHECK(x.to_vector() == y.to_vector());
    CHECK(x.to_vector() != w.to_vector());
    // Moments of a standard normal over many draws.
    Generator g(1);
    Tensor big = Tensor::randn({200000}, g, DType::F64);
    double mean = 0, var = 0;
    for (double v : big.to_vector()) mean += v;
    mean /= big.numel();
    for (double v : big.to_vector()) var += (v - mean) * (v - mean);
    var /= big.numel();
    CHECK(std::abs(mean) < 0.01);
    CHECK(std::abs(var - 1.0) < 0.01);
    Tensor u = Tensor::uniform({1000}, -2.0, 3.0, g);
    for (double v : u.to_vector()) CHECK((v >= -2.0 && v < 3.0));
    // The state round-trips: a restored generator continues the same stream.
    Generator s(99);
    s.next_u64();
    Generator::State st = s.state();
    uint64_t expect = s.next_u64();
    Generator r;
    r.set_state(st);
    CHECK(r.next_u64() == expect);
  }

  TEST_CASE("reshape shares storage, clone and to copy") {
    Generator g(3);
    Tensor x = Tensor::randn({2, 6}, g);
    Tensor r = x.reshape({3, 4});
    CHECK(r.shares_storage_with(x));
    CHECK(r.at({2, 3}) == x.at({1, 5}));
    Tensor c = x.clone();
    CHECK(!c.shares_storage_with(x));
    CHECK(c.to_vector() == x.to_vector());
    Tensor d = x.to(DType::F64);
    CHECK(d.dtype() == DType::F64);
    CHECK(d.at({1, 1}) == doctest::Approx(x.at({1, 1})));
    CHECK_THROWS_WITH(x.reshape({5, 2}), doctest::Contains("reshape: cannot view f32 (2, 6) cpu as (5, 2)"));
  }

  TEST_CASE("errors name the shape and dtype") {
    Tensor x = Tensor::zeros({2, 3});
    CHECK_THROWS_WITH(x.data<double>(), doctest::Contains("tensor is f32 (2, 3) cpu"));
    CHECK_THROWS_WITH(x.at({2, 0}), doctest::Contains("index 2 out of range for dim 0 of shape (2, 3)"));
    CHECK_THROWS_WITH(x.item(), doctest::Contains("does not hold exactly one element"));
    CHECK_THROWS_WITH(Tensor::from_vector({2, 2}, {1, 2, 3}), doctest::Contains("3 values for shape (2, 2)"));
  }

  TEST_CASE("safetensors round trip and bad files") {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / "liednet_tensor_test";
    fs::create_directories(dir);
    Generator g(5);
    Tensor a = Tensor::randn({2, 3, 4}, g), b = Tensor::randn({5}, g, DType::F64);
    const std::string path = (dir / "t.safetensors").string();
    save_safetensors(path, {{"a", a}, {"b.weight", b}}, {{"format", "pt"}});
    SafetensorsContents c = load_safetensors(path);
    REQUIRE(c.tensors.size() == 2);
    CHECK(c.tensors[0].first == "a");
    CHECK(c.at("a").to_vector() == a.to_vector());
    CHECK(c.at("b.weight").dtype() == DType::F64);
    CHECK(c.at("b.weight").to_vector() == b.to_vector());
    CHECK(c.metadata.at("format") == "pt");
    CHECK_THROWS_WITH(c.at("nope"), doctest::Contains("no tensor named 'nope'"));
    CHECK(!fs::exists(temporary_path(path)));  // the writer's own temporary name
    CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);

    // Truncated: the data section is cut short.
    std::string bytes;
    {
      std::ifstream in(path, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    const std::string cut = (dir / "cut.safetensors").string();
    std::ofstream(cut, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 7));
    CHECK_THROWS_WITH(load_safetensors(cut), doctest::Contains("cut.safetensors: tensor 'b.weight' data"));
    const std::string junk = (dir / "junk.safetensors").string();
    std::ofstream(junk, std::ios::binary) << "this is not a safetensors file at all";
    CHECK_THROWS_WITH(load_safetensors(junk), doctest::Contains("junk.safetensors: truncated or not a safetensors"));
    CHECK_THROWS_WITH(load_safetensors((dir / "missing.safetensors").string()),
                      doctest::Contains("missing.safetensors: cannot open"));
    fs::remove_all(dir);
  }

  TEST_CASE("safetensors reads f16 and bf16 as f32") {
    namespace fs = std::filesystem;
    const fs::path path = fs::temp_directory_path() / "liednet_half.safetensors";
    // 1.0, -2.5, 65504 (max half), 2^-24 (smallest subnormal half) in F16; 1.0, -2.5 in BF16.
    const uint16_t h[] = {0x3c00, 0xc100, 0x7bff, 0x0001};
    const uint16_t bf[] = {0x3f80, 0xc020};
    std::string header =
        R"({"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"bf":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]}})";
    header.append((8 - header.size() % 8) % 8, ' ');
    uint64_t len = header.size();
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(&len), 8);
    out << header;
    out.write(reinterpret_cast<const char*>(h), sizeof h);
    out.write(reinterpret_cast<const char*>(bf), sizeof bf);
    out.close();
    SafetensorsContents c = load_safetensors(path.string());
    CHECK(c.at("h").to_vector() == std::vector<double>{1.0, -2.5, 65504.0, std::ldexp(1.0, -24)});
    CHECK(c.at("bf").to_vector() == std::vector<double>{1.0, -2.5});
    fs::remove(path);
  }
}
