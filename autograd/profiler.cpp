#include "autograd/profiler.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "tensor/error.h"
#include "tensor/parallel.h"
#include "tensor/safetensors.h"
#include "tensor/storage.h"

namespace liednet::profiler {

namespace detail {
constexpr int kMaxDepth = 64;  // deeper scopes are not recorded (ops nest two or three deep)

struct ThreadTable;

// An open scope.
struct Frame {
  ThreadTable* table;
  const char* op;
  Phase phase;
  int64_t t0_ns, child_ns;
  uint64_t bytes0, child_bytes;
  int64_t flops;
};

// Sums for one op name on one thread.
struct Stats {
  int64_t calls[2] = {0, 0};
  int64_t self_ns[2] = {0, 0}, incl_ns[2] = {0, 0};
  int64_t flops = 0;
  uint64_t bytes = 0;
};

// Each thread records into its own table; the registry owns the tables (so
// they outlive their threads) and the report merges them by name.
struct ThreadTable {
  std::mutex mutex;  // taken by its thread when a scope closes and by snapshot/reset
  std::unordered_map<const char*, Stats> stats;
  Frame stack[kMaxDepth];
  int depth = 0;
};
}  // namespace detail

namespace {
using detail::Frame;
using detail::Stats;
using detail::ThreadTable;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Registry {
  std::mutex mutex;
  std::vector<std::unique_ptr<ThreadTable>> tables;
  int64_t start_ns = 0, stop_ns = 0;  // the wall clock: since the first enable or the last reset
  bool report_at_exit = false;
};

// Never destroyed: the report runs from atexit, after static destructors may have begun.
Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}

ThreadTable& this_thread_table() {
  thread_local ThreadTable* table = [] {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    r.tables.push_back(std::make_unique<ThreadTable>());
    return r.tables.back().get();
  }();
  return *table;
}

std::string csv_path() {
  const char* p = std::getenv("LIEDNET_PROFILE_CSV");
  return p && *p ? p : "liednet_profile.csv";
}

void report_at_exit() {
  const Report r = snapshot();
  std::fputs(format_table(r).c_str(), stderr);
  const std::string path = csv_path();
  try {
    write_csv(r, path);
    std::fprintf(stderr, "profile written to %s\n", path.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "profile: %s\n", e.what());
  }
}

// LIEDNET_PROFILE=1 (any value but empty or 0) turns the profiler on at program start.
[[maybe_unused]] const bool g_from_env = [] {
  const char* v = std::getenv("LIEDNET_PROFILE");
  const bool on = v && *v && std::strcmp(v, "0") != 0;
  if (on) enable_with_exit_report();
  return on;
}();
}  // namespace

void enable(bool on) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (on && !enabled()) {
    if (r.start_ns == 0) r.start_ns = now_ns();
    r.stop_ns = 0;
  } else if (!on && enabled()) {
    r.stop_ns = now_ns();
  }
  detail::g_enabled.store(on, std::memory_order_relaxed);
}

void enable_with_exit_report() {
  enable(true);
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (!r.report_at_exit) {
    r.report_at_exit = true;
    std::atexit(report_at_exit);
  }
}

void reset() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (auto& t : r.tables) {
    std::lock_guard<std::mutex> tl(t->mutex);
    t->stats.clear();
  }
  r.start_ns = now_ns();
  r.stop_ns = enabled() ? 0 : r.start_ns;
}

void add_flops(int64_t flops) {
  if (!enabled()) return;
  ThreadTable& t = this_thread_table();
  if (t.depth > 0) t.stack[t.depth - 1].flops += flops;
}

void Scope::begin(const char* op, Phase phase) {
  ThreadTable& t = this_thread_table();
  if (t.depth >= detail::kMaxDepth) return;
  // Inside a backward node everything is backward work.
  if (t.depth > 0 && t.stack[t.depth - 1].phase == Phase::Backward) phase = Phase::Backward;
  frame_ = &t.stack[t.depth++];
  *frame_ = Frame{&t, op, phase, 0, 0, thread_bytes_allocated(), 0, 0};
  frame_->t0_ns = now_ns();  // last, so the set-up above is not charged to the op
}

void Scope::end() {
  const int64_t t1 = now_ns();
  Frame& f = *frame_;
  ThreadTable& t = *f.table;
  const int64_t incl = t1 - f.t0_ns;
  const uint64_t bytes = thread_bytes_allocated() - f.bytes0;
  const int ph = static_cast<int>(f.phase);
  {
    std::lock_guard<std::mutex> lock(t.mutex);
    Stats& s = t.stats[f.op];
    s.calls[ph] += 1;
    s.incl_ns[ph] += incl;
    s.self_ns[ph] += incl - f.child_ns;
    s.flops += f.flops;
    s.bytes += bytes - f.child_bytes;
  }
  --t.depth;
  if (t.depth > 0) {
    Frame& parent = t.stack[t.depth - 1];
    parent.child_ns += incl;
    parent.child_bytes += bytes;
  }
}

double Report::op_ms() const {
  double s = 0;
  for (const OpStats& o : ops) s += o.total_ms();
  return s;
}

Report snapshot() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::map<std::string, OpStats> merged;  // by name: a literal may have several addresses
  for (auto& t : r.tables) {
    std::lock_guard<std::mutex> tl(t->mutex);
    for (const auto& [name, s] : t->stats) {
      OpStats& o = merged[name];
      o.op = name;
      o.fwd_calls += s.calls[0];
      o.bwd_calls += s.calls[1];
      o.fwd_ms += s.self_ns[0] * 1e-6;
      o.bwd_ms += s.self_ns[1] * 1e-6;
      o.fwd_incl_ms += s.incl_ns[0] * 1e-6;
      o.bwd_incl_ms += s.incl_ns[1] * 1e-6;
      o.flops += s.flops;
      o.bytes += static_cast<int64_t>(s.bytes);
    }
  }
  Report rep;
  for (auto& [name, o] : merged) rep.ops.push_back(std::move(o));
  std::stable_sort(rep.ops.begin(), rep.ops.end(),
                   [](const OpStats& a, const OpStats& b) { return a.total_ms() > b.total_ms(); });
  const int64_t end = r.stop_ns ? r.stop_ns : now_ns();
  rep.wall_ms = r.start_ns ? (end - r.start_ns) * 1e-6 : 0.0;
  rep.threads = num_threads();
  return rep;
}

namespace {
// Time outside every op (the caller's own code, data loading, printing); zero
// when ops on several threads overlap and add up to more than the wall time.
double outside_ms(const Report& r) { return std::max(0.0, r.wall_ms - r.op_ms()); }
double denominator(const Report& r) { return std::max(r.op_ms() + outside_ms(r), 1e-9); }
double gflops(const OpStats& o) { return o.flops > 0 && o.fwd_ms > 0 ? o.flops / (o.fwd_ms * 1e6) : 0.0; }

std::string format(const char* fmt, auto... args) {
  char buf[256];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}
}  // namespace

std::string format_table(const Report& r) {
  const double den = denominator(r);
  std::string s = format("op profile: %.1f ms wall, %d threads. Times are self times (an op's time minus the ops it "
                         "calls),\nso no time is counted twice and the shares add up to 100%%. GFLOP/s: forward FLOPs "
                         "over forward self time.\n",
                         r.wall_ms, r.threads);
  s += format("%-24s %9s %9s %11s %11s %7s %11s %11s\n", "op", "fwd calls", "bwd calls", "fwd ms", "bwd ms", "share",
              "fwd GFLOP/s", "alloc MiB");
  for (const OpStats& o : r.ops) {
    const std::string gf = o.flops > 0 ? format("%.2f", gflops(o)) : "-";
    s += format("%-24s %9lld %9lld %11.1f %11.1f %6.1f%% %11s %11.1f\n", o.op.c_str(), (long long)o.fwd_calls,
                (long long)o.bwd_calls, o.fwd_ms, o.bwd_ms, 100.0 * o.total_ms() / den, gf.c_str(),
                o.bytes / 1048576.0);
  }
  s += format("%-24s %9s %9s %11s %11s %6.1f%% %11s %11s\n", "(outside any op)", "", "", "", "",
              100.0 * outside_ms(r) / den, "", "");
  double fwd = 0, bwd = 0;
  for (const OpStats& o : r.ops) fwd += o.fwd_ms, bwd += o.bwd_ms;
  s += format("%-24s %9s %9s %11.1f %11.1f %7s %11s %11s\n", "total in ops", "", "", fwd, bwd, "", "", "");
  return s;
}

std::string format_csv(const Report& r) {
  const double den = denominator(r);
  std::string s =
      "op,fwd_calls,bwd_calls,fwd_self_ms,bwd_self_ms,fwd_inclusive_ms,bwd_inclusive_ms,share,fwd_flops,"
      "fwd_gflops_per_s,alloc_bytes\n";
  for (const OpStats& o : r.ops)
    s += format("%s,%lld,%lld,%.6f,%.6f,%.6f,%.6f,%.6f,%lld,%.6f,%lld\n", o.op.c_str(), (long long)o.fwd_calls,
                (long long)o.bwd_calls, o.fwd_ms, o.bwd_ms, o.fwd_incl_ms, o.bwd_incl_ms, o.total_ms() / den,
                (long long)o.flops, gflops(o), (long long)o.bytes);
  s += format("(outside any op),0,0,%.6f,0,%.6f,0,%.6f,0,0,0\n", outside_ms(r), outside_ms(r), outside_ms(r) / den);
  return s;
}

void write_csv(const Report& r, const std::string& path) { write_file_atomically(path, format_csv(r)); }

}  // namespace liednet::profiler
