// The op profiler: where a forward or a training step spends its time.
//
// Every op opens a Scope at its entry (LIEDNET_PROFILE_OP("name")); the
// autograd engine opens one around each node's backward, keyed by the op that
// recorded the node. When profiling is on, a scope measures its wall time, the
// FLOPs the op reports (ops/flops.h) and the bytes of tensor storage allocated
// on its thread. Times are SELF times: an op that calls another op is charged
// its own time minus the callee's, so no time is counted twice and the shares
// of a table add up to 100%; the CSV also gives the inclusive times. A scope
// opened while a backward scope is open counts as backward time.
//
// Off by default. Turned on by LIEDNET_PROFILE=1 in the environment (at program
// start) or profiler::enable() (the CLI's --profile); either way the table is
// printed to stderr at exit and written as CSV to $LIEDNET_PROFILE_CSV, or
// ./liednet_profile.csv when that is unset. When off, a scope costs one load
// and one predictable branch at entry and one at exit; the build option
// LIEDNET_PROFILER=OFF compiles the scopes out altogether (to measure that).
//
// Times are host wall time. On CUDA, kernels run asynchronously, so an op's time
// is mostly its launch; the first op that synchronises is charged the wait.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace liednet::profiler {

enum class Phase : uint8_t { Forward, Backward };

namespace detail {
inline std::atomic<bool> g_enabled{false};
inline std::atomic<void (*)()> g_op_boundary_hook{nullptr};
struct Frame;
}  // namespace detail

// A function called at every op's entry (forward, and each node's backward),
// before the op does anything; it may throw to stop the computation there. The
// Python module sets one that turns Ctrl-C into KeyboardInterrupt at the next
// op boundary. Null (the default): one load and one branch per op.
inline void set_op_boundary_hook(void (*hook)()) { detail::g_op_boundary_hook.store(hook); }
inline void at_op_boundary() {
  if (auto hook = detail::g_op_boundary_hook.load(std::memory_order_relaxed)) [[unlikely]]
    hook();
}

inline bool enabled() { return detail::g_enabled.load(std::memory_order_relaxed); }

// Starts (or stops) recording.
void enable(bool on = true);
// Starts recording and arranges the report at exit (LIEDNET_PROFILE, --profile).
void enable_with_exit_report();
// Drops every record and restarts the wall clock (e.g. after a warm-up).
void reset();
// Adds FLOPs to the innermost open scope of this thread (ops/flops.h calls it).
void add_flops(int64_t flops);

class Scope {
 public:
  explicit Scope(const char* op, Phase phase = Phase::Forward) {
    at_op_boundary();
    if (enabled()) [[unlikely]]
      begin(op, phase);
  }
  ~Scope() {
    if (frame_) [[unlikely]]
      end();
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  void begin(const char* op, Phase phase);
  void end();
  detail::Frame* frame_ = nullptr;
};

// One row of the table: one op, summed over calls and threads.
struct OpStats {
  std::string op;
  int64_t fwd_calls = 0, bwd_calls = 0;
  double fwd_ms = 0, bwd_ms = 0;            // self time
  double fwd_incl_ms = 0, bwd_incl_ms = 0;  // inclusive time (with the ops it calls)
  int64_t flops = 0;                        // FLOPs the op reported (forward only: backward counts none)
  int64_t bytes = 0;                        // tensor storage allocated by the op itself (self)
  double total_ms() const { return fwd_ms + bwd_ms; }
};

struct Report {
  std::vector<OpStats> ops;  // by total self time, largest first
  double wall_ms = 0;        // since the profiler was first enabled or last reset
  int threads = 1;           // CPU threads in use
  double op_ms() const;      // sum of the self times
};

Report snapshot();
// The table: one line per op with calls, forward and backward self time, share
// of the wall time, forward GFLOP/s, MiB allocated; then the time outside any op
// and the total.
std::string format_table(const Report& r);
// Header plus one line per op; times in ms, bytes and FLOPs as integers.
std::string format_csv(const Report& r);
// Writes format_csv to path (through a temporary name).
void write_csv(const Report& r, const std::string& path);

}  // namespace liednet::profiler

// An op's entry: LIEDNET_PROFILE_OP("conv2d"); the engine's backward nodes use
// LIEDNET_PROFILE_SCOPE(op, Backward).
#ifdef LIEDNET_NO_PROFILER
#define LIEDNET_PROFILE_SCOPE(name, phase) ::liednet::profiler::at_op_boundary()
#else
#define LIEDNET_PROFILE_SCOPE(name, phase) \
  ::liednet::profiler::Scope liednet_profile_scope_(name, ::liednet::profiler::Phase::phase)
#endif
#define LIEDNET_PROFILE_OP(name) LIEDNET_PROFILE_SCOPE(name, Forward)
