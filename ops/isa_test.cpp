#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "ops/isa.h"

using namespace liednet;

TEST_SUITE("ops") {
  TEST_CASE("isa: the kernels' ISA is one this CPU runs, the best unless LIEDNET_ISA names another") {
    const isa::Isa now = isa::current();
    CHECK(isa::supported(now));
    CHECK(isa::supported(isa::Isa::generic));
    const char* env = std::getenv("LIEDNET_ISA");
    if (env && *env)
      CHECK(std::string(isa::name(now)) == env);
    else
      CHECK(now == isa::best());
    // The body runs once, compiled for that ISA, and knows which.
    int runs = 0;
    isa::Isa seen = isa::Isa::generic;
    isa::on_isa([&](auto tag) {
      ++runs;
      seen = decltype(tag)::value;
    });
    CHECK(runs == 1);
    CHECK(seen == now);
  }

  TEST_CASE("isa: kernels flush denormals to zero, and the caller's setting comes back") {
    volatile float tiny = 1e-30f, small = 1e-10f;  // their product, 1e-40, is denormal in f32
    volatile double dtiny = 1e-300, dsmall = 1e-10;
    float inside = -1, outside = -1;
    double dinside = -1;
    isa::on_isa([&] {
      inside = tiny * small;
      dinside = dtiny * dsmall;
    });
    outside = tiny * small;
    CHECK(inside == 0.0f);
    CHECK(dinside == 0.0);
    CHECK(outside > 0.0f);  // the caller's arithmetic keeps its denormals
    CHECK(outside < 1.2e-38f);
    // An exception leaves the same way.
    CHECK_THROWS(isa::on_isa([] { throw std::runtime_error("x"); }));
    outside = tiny * small;
    CHECK(outside > 0.0f);
  }
}
