#include "autograd/profiler.h"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "autograd/autograd.h"
#include "ops/activation.h"
#include "ops/conv2d.h"
#include "ops/flops.h"
#include "ops/reduce.h"
#include "tensor/random.h"

using namespace liednet;

namespace {
#ifdef LIEDNET_NO_PROFILER
constexpr bool kScopesCompiledOut = true;  // -DLIEDNET_PROFILER=OFF: the ops open no scopes
#else
constexpr bool kScopesCompiledOut = false;
#endif

const profiler::OpStats* row(const profiler::Report& r, const std::string& op) {
  for (const auto& o : r.ops)
    if (o.op == op) return &o;
  return nullptr;
}

// Recording on for one test, off and empty afterwards.
struct Recording {
  Recording() {
    profiler::reset();
    profiler::enable(true);
  }
  ~Recording() {
    profiler::enable(false);
    profiler::reset();
  }
};

// relu(conv2d(x, w, b)) summed, and its backward: x (1, 2, 5, 5), w (3, 2, 3, 3), padding 1.
void small_graph() {
  Generator gen(3);
  Tensor x = Tensor::uniform({1, 2, 5, 5}, -1, 1, gen).set_requires_grad();
  Tensor w = Tensor::uniform({3, 2, 3, 3}, -1, 1, gen).set_requires_grad();
  Tensor b = Tensor::uniform({3}, -1, 1, gen).set_requires_grad();
  ops::sum(ops::relu(ops::conv2d(x, w, b, {.padding = 1}))).backward();
}

void busy(int microseconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::microseconds(microseconds);
  while (std::chrono::steady_clock::now() < end) {
  }
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) out.push_back(item);
  return out;
}
}  // namespace

TEST_SUITE("autograd") {
  TEST_CASE("profiler: off records nothing") {
    profiler::enable(false);
    profiler::reset();
    small_graph();
    profiler::add_flops(100);
    { profiler::Scope s("explicit scope"); }
    CHECK(profiler::snapshot().ops.empty());
  }

  TEST_CASE("profiler: calls, FLOPs and bytes of a known graph" * doctest::skip(kScopesCompiledOut)) {
    profiler::Report r;
    {
      Recording on;
      small_graph();
      small_graph();
      r = profiler::snapshot();
    }
    const auto* conv = row(r, "conv2d");
    REQUIRE(conv);
    CHECK(conv->fwd_calls == 2);
    CHECK(conv->bwd_calls == 2);
    // Per call: 3 x 5 x 5 outputs, each 2 x 2 x 9 multiply-adds (2 FLOPs) plus the bias add.
    CHECK(conv->flops == 2 * (3 * 5 * 5) * (2 * 2 * 9 + 1));
    CHECK(conv->bytes >= 2 * 3 * 5 * 5 * 4);  // at least its outputs
    for (const char* op : {"relu", "sum"}) {
      const auto* o = row(r, op);
      REQUIRE(o);
      CHECK(o->fwd_calls == 2);
      CHECK(o->bwd_calls == 2);
      CHECK(o->flops == 0);
    }
    REQUIRE(row(r, "accumulate_grad"));
    CHECK(row(r, "accumulate_grad")->bwd_calls == 6);  // x, w, b twice
    CHECK(row(r, "accumulate_grad")->fwd_calls == 0);
    REQUIRE(row(r, "autograd_engine"));
    CHECK(row(r, "autograd_engine")->bwd_calls == 2);
    CHECK(r.ops.size() == 5);
    // Sorted by total self time; self times never exceed inclusive ones, and a FlopCounter still counts.
    for (size_t i = 1; i < r.ops.size(); ++i) CHECK(r.ops[i - 1].total_ms() >= r.ops[i].total_ms());
    for (const auto& o : r.ops) CHECK(o.fwd_ms + o.bwd_ms <= o.fwd_incl_ms + o.bwd_incl_ms + 1e-9);
    Recording again;
    ops::FlopCounter counter;
    small_graph();
    CHECK(counter.total() == 3 * 5 * 5 * (2 * 2 * 9 + 1));
    const profiler::Report counted = profiler::snapshot();
    REQUIRE(row(counted, "conv2d"));
    CHECK(row(counted, "conv2d")->flops == counter.total());
  }

  TEST_CASE("profiler: nested scopes are charged self time; bytes and phases") {
    profiler::Report r;
    {
      Recording on;
      {
        profiler::Scope outer("outer");
        Tensor a = Tensor::empty({100});
        busy(2000);
        {
          profiler::Scope inner("inner");
          Tensor b = Tensor::empty({1000});
          profiler::add_flops(7);
          busy(2000);
        }
        profiler::add_flops(5);
      }
      {
        profiler::Scope bwd("outer backward", profiler::Phase::Backward);
        profiler::Scope inner("inner");
      }
      r = profiler::snapshot();
    }
    const auto *outer = row(r, "outer"), *inner = row(r, "inner"), *bwd = row(r, "outer backward");
    REQUIRE(outer);
    REQUIRE(inner);
    REQUIRE(bwd);
    CHECK(outer->fwd_calls == 1);
    CHECK(inner->fwd_calls == 1);
    CHECK(inner->bwd_calls == 1);  // opened inside a backward scope
    CHECK(bwd->bwd_calls == 1);
    CHECK(outer->fwd_ms == doctest::Approx(outer->fwd_incl_ms - inner->fwd_incl_ms).epsilon(1e-9));
    CHECK(outer->fwd_ms >= 1.9);
    CHECK(inner->fwd_ms >= 1.9);
    CHECK(outer->fwd_incl_ms >= 3.9);
    CHECK(outer->bytes == 100 * 4);
    CHECK(inner->bytes == 1000 * 4);
    CHECK(outer->flops == 5);
    CHECK(inner->flops == 7);
    CHECK(r.wall_ms >= r.op_ms());
  }

  TEST_CASE("profiler: the table and the CSV" * doctest::skip(kScopesCompiledOut)) {
    profiler::Report r;
    {
      Recording on;
      small_graph();
      r = profiler::snapshot();
    }
    const std::string table = profiler::format_table(r);
    CHECK(table.find("self times") != std::string::npos);
    CHECK(table.find("conv2d") != std::string::npos);
    CHECK(table.find("(outside any op)") != std::string::npos);

    const std::vector<std::string> lines = split(profiler::format_csv(r), '\n');
    REQUIRE(lines.size() == r.ops.size() + 2);  // header, the ops, the time outside them
    const std::vector<std::string> header = split(lines[0], ',');
    REQUIRE(header.size() == 11);
    CHECK(header[0] == "op");
    CHECK(header[7] == "share");
    double shares = 0;
    bool saw_conv = false;
    for (size_t i = 1; i < lines.size(); ++i) {
      const std::vector<std::string> f = split(lines[i], ',');
      REQUIRE(f.size() == header.size());
      for (size_t j = 1; j < f.size(); ++j) {
        char* end = nullptr;
        std::strtod(f[j].c_str(), &end);
        CHECK_MESSAGE(*end == '\0', "field ", header[j], " of line ", i, ": '", f[j], "'");
      }
      shares += std::strtod(f[7].c_str(), nullptr);
      if (f[0] == "conv2d") {
        saw_conv = true;
        CHECK(f[1] == "1");
        CHECK(f[2] == "1");
        CHECK(f[8] == std::to_string(3 * 5 * 5 * (2 * 2 * 9 + 1)));
      }
    }
    CHECK(saw_conv);
    CHECK(shares == doctest::Approx(1.0).epsilon(1e-4));

    const auto path = std::filesystem::temp_directory_path() / "liednet_profiler_test.csv";
    profiler::write_csv(r, path.string());
    std::ifstream in(path);
    std::stringstream read;
    read << in.rdbuf();
    CHECK(read.str() == profiler::format_csv(r));
    std::filesystem::remove(path);
  }
}
