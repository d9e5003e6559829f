// The input range recorded with the weights (data/input_range.h).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "data/input_range.h"
#include "tensor/safetensors.h"

using namespace liednet;
namespace fs = std::filesystem;

TEST_SUITE("data") {
  TEST_CASE("input range: parsed, read from the weights' metadata, assumed [-1, 1] when absent, applied") {
    CHECK(data::parse_input_range("0,1", "x") == data::InputRange::Unit);
    CHECK(data::parse_input_range("[-1, 1]", "x") == data::InputRange::Signed);
    CHECK_THROWS_WITH(data::parse_input_range("0,255", "--input-range"),
                      doctest::Contains("--input-range: the input range must be 0,1 or -1,1, got '0,255'"));
    CHECK(data::input_range_text(data::InputRange::Unit) == "0,1");

    const fs::path d = fs::temp_directory_path() / ("liednet_range_" + std::to_string(::getpid()));
    fs::create_directories(d);
    const Tensor w = Tensor::zeros({2});
    save_safetensors((d / "unit.safetensors").string(), {{"w", w}}, {{"input_range", "0,1"}});
    save_safetensors((d / "plain.safetensors").string(), {{"w", w}}, {{"preset", "liednet"}});
    save_safetensors((d / "bad.safetensors").string(), {{"w", w}}, {{"input_range", "0,255"}});
    const data::WeightsRange u = data::weights_input_range((d / "unit.safetensors").string());
    CHECK(u.recorded);
    CHECK(u.range == data::InputRange::Unit);
    CHECK(u.note.find("input range [0, 1] (recorded in the weights)") != std::string::npos);
    const data::WeightsRange p = data::weights_input_range((d / "plain.safetensors").string());
    CHECK_FALSE(p.recorded);
    CHECK(p.range == data::InputRange::Signed);
    CHECK(p.note.find("assuming [-1, 1]") != std::string::npos);
    CHECK_FALSE(data::weights_input_range((d / "missing.pth").string()).recorded);
    CHECK_THROWS_WITH(data::weights_input_range((d / "bad.safetensors").string()),
                      doctest::Contains("bad.safetensors (metadata input_range): the input range must be 0,1 or -1,1"));
    fs::remove_all(d);

    const Tensor img = Tensor::from_vector({3}, {0.0, 0.25, 1.0});
    CHECK(data::to_network_range(img, data::InputRange::Unit).to_vector() == img.to_vector());
    CHECK(data::to_network_range(img, data::InputRange::Signed).to_vector() == std::vector<double>{-1, -0.5, 1});
    const Tensor out = Tensor::from_vector({3}, {-0.5, 0.5, 1.5});
    CHECK(data::from_network_range(out, data::InputRange::Unit).to_vector() == std::vector<double>{0, 0.5, 1});
    CHECK(data::from_network_range(out, data::InputRange::Signed).to_vector() == std::vector<double>{0.25, 0.75, 1});
  }
}
