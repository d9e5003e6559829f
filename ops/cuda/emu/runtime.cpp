// The emulated CUDA runtime and the kernel scheduler (see device.h and
// cuda_runtime.h): device memory is host heap memory with guard zones, every
// call runs at once on the calling thread, and a kernel's blocks run one
// after another with their threads as fibers.
#include "ops/cuda/emu/cuda_runtime.h"

#include <algorithm>
#include <boost/context/fiber.hpp>
#include <boost/context/pooled_fixedsize_stack.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <numeric>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define LIEDNET_EMU_ASAN 1
#endif

uint3 threadIdx;
uint3 blockIdx;
dim3 blockDim;
dim3 gridDim;

namespace liednet::emu {

namespace {

namespace bc = boost::context;

// ---- device memory ------------------------------------------------------------
// Each allocation is a heap block with a guard zone on both sides, filled with
// a known byte: a kernel that writes there is reported after the launch
// (under AddressSanitizer the zones are poisoned instead, so any access is
// reported at once).
constexpr size_t kGuard = 256;
constexpr unsigned char kGuardByte = 0xA5;

struct Allocation {
  unsigned char* block;  // the heap block: guard, bytes, guard
  size_t bytes;
};

struct State {
  std::recursive_mutex mutex;
  std::map<uintptr_t, Allocation> device;  // by first byte
  std::set<const void*> pinned;
  cudaError_t last_error = cudaSuccess;
  // The first fault of the launches since the last synchronising call.
  cudaError_t fault_code = cudaSuccess;
  std::string fault_text;
  // The message behind the last error code returned (what cudaGetErrorString says for it).
  cudaError_t message_code = cudaSuccess;
  std::string message;
  int current_device = 0;
  uint64_t launches = 0;
};

State& state() {
  static State* s = new State();  // never destroyed: frees may come from static destructors
  return *s;
}

// The allocation that holds [p, p + bytes), or null.
const Allocation* find_device(const void* p, size_t bytes = 0) {
  auto& dev = state().device;
  const auto a = reinterpret_cast<uintptr_t>(p);
  auto it = dev.upper_bound(a);
  if (it == dev.begin()) return nullptr;
  --it;
  if (a < it->first || a + bytes > it->first + it->second.bytes) return nullptr;
  if (bytes == 0 && a > it->first + it->second.bytes) return nullptr;
  return &it->second;
}

bool inside_any_device(const void* p) {
  auto& dev = state().device;
  const auto a = reinterpret_cast<uintptr_t>(p);
  auto it = dev.upper_bound(a);
  if (it == dev.begin()) return false;
  --it;
  return a < it->first + std::max<size_t>(it->second.bytes, 1);
}

std::string hex(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

// An API error with its one-line explanation.
cudaError_t api_error(cudaError_t code, const std::string& what) {
  State& s = state();
  s.last_error = code;
  s.message_code = code;
  s.message = what;
  std::fprintf(stderr, "liednet emulated CUDA: %s\n", what.c_str());
  return code;
}

// At a synchronising call: the pending kernel fault, once.
cudaError_t take_fault() {
  State& s = state();
  if (s.fault_code == cudaSuccess) return cudaSuccess;
  const cudaError_t code = s.fault_code;
  s.message_code = code;
  s.message = s.fault_text;
  s.fault_code = cudaSuccess;
  s.fault_text.clear();
  return code;
}

bool check_guards(const char* kernel) {
#ifdef LIEDNET_EMU_ASAN
  (void)kernel;
  return true;
#else
  for (const auto& [addr, a] : state().device) {
    const unsigned char* before = a.block;
    const unsigned char* after = a.block + kGuard + a.bytes;
    for (size_t i = 0; i < kGuard; ++i) {
      if (before[i] != kGuardByte || after[i] != kGuardByte) {
        const bool past = after[i] != kGuardByte;
        const long long byte = past ? static_cast<long long>(a.bytes + i) : -static_cast<long long>(kGuard - i);
        fault(std::string("memcheck: kernel ") + kernel + " wrote " + (past ? "past the end" : "before the start") +
              " of the device allocation of " + std::to_string(a.bytes) + " bytes at " + hex(a.block + kGuard) +
              " (byte " + std::to_string(byte) + ")");
        std::memset(a.block, kGuardByte, kGuard);  // report it once
        std::memset(a.block + kGuard + a.bytes, kGuardByte, kGuard);
        return false;
      }
    }
  }
  return true;
#endif
}

// ---- the scheduler --------------------------------------------------------------------
// A block runs in rounds. A round runs every live thread, in order, up to its
// next __syncthreads or its end; then the scheduler checks that every thread
// waits at the same barrier (synccheck) and starts the next round. Control
// passes from one thread's fiber straight to the next one's, and the last
// thread of a round hands it back to the scheduler: one switch per thread per
// barrier.
//
// Every switch goes through pass_control and received, which also tell
// AddressSanitizer which stack runs from now on: Debian's Boost.Context is
// built for fcontext, whose switches ASan cannot see by itself.
enum class ThreadState { fresh, running, at_barrier, done };

struct Stack {  // a fiber's stack, as ASan is told of it
  const void* bottom = nullptr;
  size_t size = 0;
};

struct Slot {
  bc::fiber self;  // the thread's fiber while it is suspended (or not yet started)
  ThreadState st = ThreadState::fresh;
  const char* file = nullptr;
  int line = 0;
  Stack stack;
  void* fake_stack = nullptr;  // ASan's fake stack of the thread while it is switched out
};

struct Run {
  const char* kernel = nullptr;
  void (*body)(void*) = nullptr;
  void* context = nullptr;
  std::vector<Slot> slots;
  std::vector<unsigned char> dynamic;
  std::vector<Shadow> dynamic_shadow;
  size_t dynamic_element = 0;
  bool faulted = false;
  bool barrier_seen = false;
  bool abandoning = false;  // after a fault: every suspended thread unwinds from its barrier
};

Run* g_run = nullptr;
Slot* g_slot = nullptr;
bool g_direct = false;  // the running thread is a plain call, not a fiber

// The scheduler while a thread runs, and the context that passed control last
// (a thread's index, or kScheduler).
constexpr int kScheduler = -1;
bc::fiber g_scheduler;
Stack g_scheduler_stack;
#ifdef LIEDNET_EMU_ASAN
void* g_scheduler_fake_stack = nullptr;
#endif
int g_from = kScheduler;

// Raised by __syncthreads in a thread run as a plain call.
struct BarrierInDirectRun {};
// Raised by __syncthreads in a suspended thread of a faulted block, to end it.
struct Abandon {};

// The fast path: a kernel whose first launch reached no __syncthreads runs
// its later launches' threads as plain calls, one after another, without
// fibers. LIEDNET_EMU_FIBERS=all keeps every launch on fibers.
struct KernelMemory {
  std::map<const void*, bool> uses_barrier;  // by kernel function
  bool always_fibers = false;
  KernelMemory() {
    const char* v = std::getenv("LIEDNET_EMU_FIBERS");
    always_fibers = v && std::string(v) == "all";
  }
};
KernelMemory& kernel_memory() {
  static KernelMemory m;
  return m;
}
int g_thread = 0;
uint64_t g_interval = 0, g_intervals = 0, g_block_serial = 0;

std::string coords(const uint3& v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "(%u,%u,%u)", v.x, v.y, v.z);
  return buf;
}
uint3 thread_coords(int t) {
  const unsigned bx = blockDim.x, by = blockDim.y;
  return {t % bx, (t / bx) % by, t / (bx * by)};
}
std::string thread_name(int t) { return "thread " + coords(thread_coords(t)); }
std::string block_name() { return "block " + coords(blockIdx); }

// How blocks are ordered: LIEDNET_EMU_BLOCK_ORDER=sequential (default) or shuffle:SEED.
struct BlockOrder {
  bool shuffle = false;
  uint64_t seed = 0;
  BlockOrder() {
    const char* v = std::getenv("LIEDNET_EMU_BLOCK_ORDER");
    if (!v || !*v || std::string(v) == "sequential") return;
    const std::string s(v);
    char* end = nullptr;
    if (s.rfind("shuffle:", 0) == 0) {
      seed = std::strtoull(s.c_str() + 8, &end, 10);
      if (end && *end == '\0' && end != s.c_str() + 8) {
        shuffle = true;
        return;
      }
    }
    std::fprintf(stderr, "LIEDNET_EMU_BLOCK_ORDER=%s: expected 'sequential' or 'shuffle:SEED' (SEED a number)\n", v);
    std::exit(2);
  }
};

BlockOrder& block_order() {
  static BlockOrder o;
  return o;
}

// Stacks come from one pool; each new one is recorded for ASan, and handed out
// clean (a reused stack may still carry the poisoned red zones of the frames
// that used it before).
Stack g_new_stack;
struct RecordingStack {
  bc::stack_context allocate() {
    // Big enough for the scans' per-thread state arrays (and AddressSanitizer's larger frames).
    static bc::pooled_fixedsize_stack pool(size_t{512} << 10);
    bc::stack_context sc = pool.allocate();
    g_new_stack = {static_cast<char*>(sc.sp) - sc.size, sc.size};
#ifdef LIEDNET_EMU_ASAN
    ASAN_UNPOISON_MEMORY_REGION(g_new_stack.bottom, g_new_stack.size);
#endif
    pool_ = &pool;
    return sc;
  }
  void deallocate(bc::stack_context& sc) noexcept { pool_->deallocate(sc); }
  bc::pooled_fixedsize_stack* pool_ = nullptr;
};

void set_thread(Run& run, int t) {
  g_thread = t;
  g_slot = &run.slots[t];
  threadIdx = thread_coords(t);
}

// The continuation that came with control: the suspended context of the one
// that passed it (empty when that thread has ended).
void received(Run& run, bc::fiber&& from) {
#ifdef LIEDNET_EMU_ASAN
  const void* bottom = nullptr;
  size_t size = 0;
  __sanitizer_finish_switch_fiber(g_run && g_slot ? g_slot->fake_stack : g_scheduler_fake_stack, &bottom, &size);
  if (g_from == kScheduler) g_scheduler_stack = {bottom, size};
#endif
  if (g_from == kScheduler)
    g_scheduler = std::move(from);
  else
    run.slots[g_from].self = std::move(from);
}

void thread_main(Run& run);

// The next thread of this round after `after` (kScheduler: the first), or
// kScheduler when the round is over. While abandoning, only suspended threads run.
int next_thread(const Run& run, int after, int threads) {
  for (int t = after + 1; t < threads; ++t) {
    const ThreadState st = run.slots[t].st;
    if (st == ThreadState::at_barrier || (st == ThreadState::fresh && !run.abandoning)) return t;
  }
  return kScheduler;
}

// Hands control from the running context (`from`: a thread, or the scheduler)
// to `to`; returns the fiber to resume. `ending`: the running thread will not
// come back (ASan frees its fake stack).
bc::fiber pass_control(Run& run, int from, int to, bool ending) {
  g_from = from;
  Stack target = g_scheduler_stack;
  bc::fiber next;
  if (to == kScheduler) {
    next = std::move(g_scheduler);
    g_slot = nullptr;
  } else {
    Slot& s = run.slots[to];
    if (s.st == ThreadState::fresh) {
      s.self = bc::fiber(std::allocator_arg, RecordingStack{}, [&run, to](bc::fiber&& back) {
        received(run, std::move(back));
        thread_main(run);
        Slot& me = run.slots[to];
        me.st = ThreadState::done;
        return pass_control(run, to, next_thread(run, to, static_cast<int>(run.slots.size())), true);
      });
      s.stack = g_new_stack;
    }
    s.st = ThreadState::running;
    target = s.stack;
    next = std::move(s.self);
    set_thread(run, to);
  }
#ifdef LIEDNET_EMU_ASAN
  void** save = nullptr;
  if (!ending) save = from == kScheduler ? &g_scheduler_fake_stack : &run.slots[from].fake_stack;
  __sanitizer_start_switch_fiber(save, target.bottom, target.size);
#else
  (void)ending;
  (void)target;
#endif
  return next;
}

// A thread's whole life on its fiber.
void thread_main(Run& run) {
  try {
    run.body(run.context);
  } catch (const Abandon&) {
  } catch (const std::exception& e) {
    fault(std::string("kernel ") + run.kernel + " threw: " + e.what());
  }
}

// One round: the scheduler passes control to the first live thread and gets
// it back from the last.
void run_round(Run& run, int threads) {
  const int first = next_thread(run, kScheduler, threads);
  if (first == kScheduler) return;
  bc::fiber back = pass_control(run, kScheduler, first, false).resume();
  received(run, std::move(back));
}

// After a fault: one more round in which every suspended thread unwinds from
// its barrier, so that its stack is released.
void abandon_block(Run& run, int threads) {
  run.abandoning = true;
  run_round(run, threads);
}

// One block: rounds until every thread has ended.
void run_block(Run& run, int threads) {
  ++g_block_serial;
  if (!run.dynamic.empty()) {
    poison(run.dynamic.data(), run.dynamic.size());
  }
  run.abandoning = false;
  for (Slot& s : run.slots) {
    s.st = ThreadState::fresh;
    s.fake_stack = nullptr;
  }
  for (;;) {
    g_interval = ++g_intervals;
    run_round(run, threads);
    if (run.faulted) {
      abandon_block(run, threads);
      return;
    }
    int waiting = -1, exited = -1;
    for (int t = 0; t < threads; ++t) {
      if (run.slots[t].st == ThreadState::at_barrier) {
        if (waiting < 0) waiting = t;
      } else if (exited < 0) {
        exited = t;
      }
    }
    if (waiting < 0) return;  // every thread ended
    // synccheck: every thread must wait at the same barrier.
    const Slot& w = run.slots[waiting];
    std::string problem;
    if (exited >= 0) {
      problem = thread_name(waiting) + " waits at __syncthreads (" + w.file + ":" + std::to_string(w.line) + ") but " +
                thread_name(exited) + " has exited";
    } else {
      for (int t = 0; t < threads && problem.empty(); ++t) {
        const Slot& o = run.slots[t];
        if (o.line != w.line || (o.file != w.file && std::strcmp(o.file, w.file) != 0))
          problem = thread_name(waiting) + " waits at __syncthreads (" + w.file + ":" + std::to_string(w.line) +
                    ") and " + thread_name(t) + " at another (" + o.file + ":" + std::to_string(o.line) + ")";
      }
    }
    if (!problem.empty()) {
      fault(std::string("synccheck: kernel ") + run.kernel + ", " + block_name() + ": divergent barrier: " + problem);
      abandon_block(run, threads);
      return;
    }
  }
}

}  // namespace

// ---- what the instrumented code calls -------------------------------------------
void fault(const std::string& what) {
  State& s = state();
  if (g_run) g_run->faulted = true;
  if (s.fault_code != cudaSuccess) return;  // the first one wins
  s.fault_code = what.rfind("memcheck", 0) == 0 ? cudaErrorIllegalAddress : cudaErrorLaunchFailure;
  s.fault_text = what;
  std::fprintf(stderr, "liednet emulated CUDA: %s\n", what.c_str());
}

bool is_device_pointer(const void* p) {
  if (!p) return true;
  std::lock_guard<std::recursive_mutex> lock(state().mutex);
  return find_device(p) != nullptr;
}

void bad_pointer_argument(const char* kernel, int index, const void* p) {
  const bool pinned = state().pinned.count(p) > 0;
  fault(std::string("memcheck: kernel ") + kernel + " argument " + std::to_string(index) + " (" + hex(p) +
        ") is not in any live device allocation" + (pinned ? " (it is pinned host memory)" : " (a host pointer?)"));
}

uint64_t current_interval() { return g_interval; }
int current_thread() { return g_thread; }
uint64_t current_block_serial() { return g_block_serial; }

void shared_race(const void* address, const char* access, int other, const char* other_access) {
  fault(std::string("racecheck: kernel ") + (g_run ? g_run->kernel : "?") + ", " + block_name() +
        ": shared memory at " + hex(address) + " " + access + " by " + thread_name(g_thread) + " and " +
        other_access + " by " + thread_name(other) + " with no __syncthreads between");
}

void shared_out_of_bounds(const void* base, int64_t index, size_t count) {
  fault(std::string("memcheck: kernel ") + (g_run ? g_run->kernel : "?") + ", " + block_name() + ", " +
        thread_name(g_thread) + ": shared array at " + hex(base) + " of " + std::to_string(count) +
        " elements indexed at " + std::to_string(index));
}

void* dynamic_shared(size_t& bytes, Shadow*& shadow, size_t element_size) {
  if (!g_run) throw std::logic_error("dynamic shared memory outside a kernel");
  Run& run = *g_run;
  if (run.dynamic_element != element_size) {  // one Shadow per element of the type the kernel uses
    run.dynamic_element = element_size;
    run.dynamic_shadow.assign(run.dynamic.size() / element_size, Shadow{});
  }
  bytes = run.dynamic.size();
  shadow = run.dynamic_shadow.data();
  return run.dynamic.data();
}

void syncthreads(const char* file, int line) {
  if (g_direct) {
    fault(std::string("synccheck: kernel ") + (g_run ? g_run->kernel : "?") + " reached __syncthreads (" + file + ":" +
          std::to_string(line) +
          ") in a launch run without fibers, as its first launch reached none: rerun with LIEDNET_EMU_FIBERS=all");
    throw BarrierInDirectRun{};
  }
  if (!g_slot || !g_run) throw std::logic_error("__syncthreads outside a kernel");
  Run& run = *g_run;
  if (run.abandoning) throw Abandon{};
  run.barrier_seen = true;
  const int me = g_thread;
  Slot* s = g_slot;
  s->st = ThreadState::at_barrier;
  s->file = file;
  s->line = line;
  bc::fiber back = pass_control(run, me, next_thread(run, me, static_cast<int>(run.slots.size())), false).resume();
  received(run, std::move(back));
  if (run.abandoning) throw Abandon{};
}

void set_block_order(bool shuffle, uint64_t seed) {
  block_order().shuffle = shuffle;
  block_order().seed = seed;
}

namespace {
std::string g_skipped;  // fault injection: launches whose kernel name starts with this do nothing
}  // namespace

void skip_launches(const std::string& kernel_prefix) { g_skipped = kernel_prefix; }

namespace {
// Every thread of one block as a plain call.
void run_block_direct(Run& run, int threads) {
  ++g_block_serial;
  g_interval = ++g_intervals;
  if (!run.dynamic.empty()) poison(run.dynamic.data(), run.dynamic.size());
  g_direct = true;
  for (int t = 0; t < threads && !run.faulted; ++t) {
    g_thread = t;
    threadIdx = thread_coords(t);
    try {
      run.body(run.context);
    } catch (const BarrierInDirectRun&) {
    } catch (const std::exception& e) {
      fault(std::string("kernel ") + run.kernel + " threw: " + e.what());
    }
  }
  g_direct = false;
}
}  // namespace

int run_launch(const char* kernel, const void* key, dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t,
               void (*body)(void*), void* context) {
  State& st = state();
  std::lock_guard<std::recursive_mutex> lock(st.mutex);
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || threads == 0 || threads > 1024 || grid.y > 65535 ||
      grid.z > 65535 || block.z > 64 || shared_bytes > (size_t{48} << 10)) {
    api_error(cudaErrorInvalidConfiguration,
              std::string("launch of ") + kernel + ": invalid configuration: grid " +
                  coords({grid.x, grid.y, grid.z}) + ", block " + coords({block.x, block.y, block.z}) + ", " +
                  std::to_string(shared_bytes) + " bytes of dynamic shared memory");
    return cudaErrorInvalidConfiguration;
  }
  if (g_run) throw std::logic_error("a kernel launched from inside a kernel");
  if (!g_skipped.empty() && std::string(kernel).rfind(g_skipped, 0) == 0) return cudaSuccess;
  Run run;
  run.kernel = kernel;
  run.body = body;
  run.context = context;
  run.slots.resize(threads);
  run.dynamic.resize(shared_bytes);
  gridDim = grid;
  blockDim = block;
  const uint64_t blocks = uint64_t{grid.x} * grid.y * grid.z;
  std::vector<uint64_t> order(blocks);
  std::iota(order.begin(), order.end(), 0);
  ++st.launches;
  if (block_order().shuffle) {
    std::mt19937_64 rng(block_order().seed * 1000003 + st.launches);
    std::shuffle(order.begin(), order.end(), rng);
  }
  KernelMemory& memory = kernel_memory();
  const auto known = memory.uses_barrier.find(key);
  const bool direct = !memory.always_fibers && known != memory.uses_barrier.end() && !known->second;
  g_run = &run;
  for (uint64_t b : order) {
    blockIdx = {static_cast<unsigned>(b % grid.x), static_cast<unsigned>(b / grid.x % grid.y),
                static_cast<unsigned>(b / (uint64_t{grid.x} * grid.y))};
    if (direct)
      run_block_direct(run, static_cast<int>(threads));
    else
      run_block(run, static_cast<int>(threads));
    if (run.faulted) break;
  }
  if (known == memory.uses_barrier.end() && !run.faulted) memory.uses_barrier[key] = run.barrier_seen;
  g_run = nullptr;
  g_slot = nullptr;
  check_guards(kernel);
  return cudaSuccess;
}

size_t live_allocations() {
  std::lock_guard<std::recursive_mutex> lock(state().mutex);
  return state().device.size();
}

std::string pending_fault() {
  std::lock_guard<std::recursive_mutex> lock(state().mutex);
  return state().fault_text;
}

}  // namespace liednet::emu

// ---- the runtime API ----------------------------------------------------------------
using liednet::emu::api_error;
using liednet::emu::state;

namespace {
using Lock = std::lock_guard<std::recursive_mutex>;

const char* standard_text(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
  }
  return "unknown error";
}

// Where a copy's pointer must be, by its direction.
cudaError_t check_side(const void* p, size_t bytes, bool device, const char* call, const char* which) {
  using namespace liednet::emu;
  if (device) {
    if (find_device(p, bytes)) return cudaSuccess;
    if (inside_any_device(p))
      return api_error(cudaErrorInvalidValue, std::string("memcheck: ") + call + ": " + std::to_string(bytes) +
                                                  " bytes from the " + which + " " + hex(p) +
                                                  " run past the end of its device allocation");
    return api_error(cudaErrorInvalidValue, std::string("memcheck: ") + call + ": the " + which + " " + hex(p) +
                                                " is a host pointer where a device pointer is due");
  }
  if (bytes > 0 && inside_any_device(p))
    return api_error(cudaErrorInvalidValue, std::string("memcheck: ") + call + ": the " + which + " " + hex(p) +
                                                " is device memory where a host pointer is due");
  return cudaSuccess;
}

cudaError_t copy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, const char* call) {
  auto& s = state();
  Lock lock(s.mutex);
  if (const cudaError_t f = liednet::emu::take_fault(); f != cudaSuccess) return f;
  if (bytes == 0) return cudaSuccess;
  if (kind == cudaMemcpyDefault) {
    std::memmove(dst, src, bytes);
    return cudaSuccess;
  }
  const bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault)
    return api_error(cudaErrorInvalidMemcpyDirection, std::string(call) + ": invalid direction");
  if (cudaError_t e = check_side(dst, bytes, dst_dev, call, "destination"); e != cudaSuccess) return e;
  if (cudaError_t e = check_side(src, bytes, src_dev, call, "source"); e != cudaSuccess) return e;
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}

struct Event {
  std::chrono::steady_clock::time_point at;
  bool recorded = false;
};
}  // namespace

const char* cudaGetErrorString(cudaError_t err) {
  auto& s = state();
  if (err != cudaSuccess && err == s.message_code && !s.message.empty()) return s.message.c_str();
  return standard_text(err);
}

const char* cudaGetErrorName(cudaError_t err) { return standard_text(err); }

cudaError_t cudaGetLastError() {
  auto& s = state();
  const cudaError_t e = s.last_error;
  s.last_error = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError() { return state().last_error; }

namespace {
// The devices a process sees: kDeviceCount, or as the real runtime reads
// CUDA_VISIBLE_DEVICES, the listed ordinals up to the first that is not one
// (not a number below kDeviceCount, or repeated); set and empty: none.
int visible_devices() {
  static const int n = [] {
    const char* v = std::getenv("CUDA_VISIBLE_DEVICES");
    if (v == nullptr) return liednet::emu::kDeviceCount;
    std::set<long> seen;
    for (const char* item = v;; ++item) {  // item: the start of one entry of the comma-separated list
      char* stop = nullptr;
      const long d = std::strtol(item, &stop, 10);
      if (stop == item || (*stop != ',' && *stop != '\0') || d < 0 || d >= liednet::emu::kDeviceCount ||
          !seen.insert(d).second)
        break;
      if (*stop == '\0') break;
      item = stop;
    }
    return static_cast<int>(seen.size());
  }();
  return n;
}
}  // namespace

cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return api_error(cudaErrorInvalidValue, "cudaGetDeviceCount: null count");
  *count = visible_devices();
  if (*count == 0) {  // as the real runtime: an error code, nothing printed
    state().last_error = cudaErrorNoDevice;
    return cudaErrorNoDevice;
  }
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (device < 0 || device >= visible_devices())
    return api_error(cudaErrorInvalidDevice, "cudaSetDevice(" + std::to_string(device) + "): invalid device ordinal");
  state().current_device = device;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  *device = state().current_device;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (!prop || device < 0 || device >= visible_devices())
    return api_error(cudaErrorInvalidDevice, "cudaGetDeviceProperties: invalid device ordinal");
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "emulated (no GPU)");
  prop->totalGlobalMem = size_t{16} << 30;
  prop->multiProcessorCount = 1;
  prop->maxThreadsPerBlock = 1024;
  prop->major = 9;
  prop->minor = 0;
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() {
  Lock lock(state().mutex);
  return liednet::emu::take_fault();
}

cudaError_t cudaMalloc(void** p, size_t bytes) {
  using namespace liednet::emu;
  if (!p) return api_error(cudaErrorInvalidValue, "cudaMalloc: null result pointer");
  auto& s = state();
  Lock lock(s.mutex);
  auto* block = static_cast<unsigned char*>(std::malloc(bytes + 2 * kGuard));
  if (!block) {
    *p = nullptr;
    s.last_error = cudaErrorMemoryAllocation;
    return cudaErrorMemoryAllocation;
  }
  std::memset(block, kGuardByte, kGuard);
  std::memset(block + kGuard + bytes, kGuardByte, kGuard);
  poison(block + kGuard, bytes);  // initcheck: memory nobody wrote reads as NaN
#ifdef LIEDNET_EMU_ASAN
  ASAN_POISON_MEMORY_REGION(block, kGuard);
  ASAN_POISON_MEMORY_REGION(block + kGuard + bytes, kGuard);
#endif
  *p = block + kGuard;
  s.device[reinterpret_cast<uintptr_t>(*p)] = Allocation{block, bytes};
  return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
  using namespace liednet::emu;
  if (!p) return cudaSuccess;
  auto& s = state();
  Lock lock(s.mutex);
  auto it = s.device.find(reinterpret_cast<uintptr_t>(p));
  if (it == s.device.end())
    return api_error(cudaErrorInvalidValue,
                     "memcheck: cudaFree(" + hex(p) + "): not the start of a live device allocation");
  unsigned char* block = it->second.block;
#ifdef LIEDNET_EMU_ASAN
  ASAN_UNPOISON_MEMORY_REGION(block, it->second.bytes + 2 * kGuard);
#endif
  s.device.erase(it);
  std::free(block);
  return cudaSuccess;
}

cudaError_t cudaHostAlloc(void** p, size_t bytes, unsigned int) {
  auto& s = state();
  Lock lock(s.mutex);
  *p = std::malloc(bytes ? bytes : 1);
  if (!*p) return cudaErrorMemoryAllocation;
  s.pinned.insert(*p);
  return cudaSuccess;
}

cudaError_t cudaMallocHost(void** p, size_t bytes) { return cudaHostAlloc(p, bytes, 0); }

cudaError_t cudaFreeHost(void* p) {
  if (!p) return cudaSuccess;
  auto& s = state();
  Lock lock(s.mutex);
  if (!s.pinned.erase(p))
    return api_error(cudaErrorInvalidValue,
                     "memcheck: cudaFreeHost(" + liednet::emu::hex(p) + "): not pinned host memory");
  std::free(p);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  return copy(dst, src, bytes, kind, "cudaMemcpy");
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
  return copy(dst, src, bytes, kind, "cudaMemcpyAsync");
}

cudaError_t cudaMemset(void* p, int value, size_t bytes) { return cudaMemsetAsync(p, value, bytes, nullptr); }

cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t) {
  auto& s = state();
  Lock lock(s.mutex);
  if (bytes == 0) return cudaSuccess;
  if (const cudaError_t e = check_side(p, bytes, true, "cudaMemset", "destination"); e != cudaSuccess) return e;
  std::memset(p, value, bytes);
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int) {
  // Streams are names only: every call runs at once, in call order.
  *s = reinterpret_cast<cudaStream_t>(new char);
  return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t s) {
  delete reinterpret_cast<char*>(s);
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t) {
  Lock lock(state().mutex);
  return liednet::emu::take_fault();
}

cudaError_t cudaEventCreate(cudaEvent_t* e) {
  *e = reinterpret_cast<cudaEvent_t>(new Event());
  return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete reinterpret_cast<Event*>(e);
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
  if (!e) return api_error(cudaErrorInvalidResourceHandle, "cudaEventRecord: null event");
  auto* ev = reinterpret_cast<Event*>(e);
  ev->at = std::chrono::steady_clock::now();
  ev->recorded = true;
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t) {
  Lock lock(state().mutex);
  return liednet::emu::take_fault();
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t begin, cudaEvent_t end) {
  auto* b = reinterpret_cast<Event*>(begin);
  auto* e = reinterpret_cast<Event*>(end);
  if (!b || !e || !b->recorded || !e->recorded)
    return api_error(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: an event was not recorded");
  *ms = std::chrono::duration<float, std::milli>(e->at - b->at).count();
  return cudaSuccess;
}
