// The emulated CUDA device (-DLIEDNET_CUDA=EMULATE): what a kernel sees.
//
// In the emulated build the .cu files are compiled by the host C++ compiler.
// This header gives them CUDA's built-ins: the qualifiers (__global__,
// __device__, ... expand to nothing), dim3, threadIdx/blockIdx/blockDim/
// gridDim, __syncthreads, shared memory (LIEDNET_SHARED, an instrumented
// array) and the kernel launch (LIEDNET_LAUNCH, ops/cuda/launch.cuh).
//
// How a launch runs (ops/cuda/emu/runtime.cpp): at once, on the calling
// thread. Blocks run one after another (in order, or in a seeded permutation
// with LIEDNET_EMU_BLOCK_ORDER=shuffle:SEED); the threads of a block run as
// cooperative fibers (Boost.Context) that switch only at __syncthreads, so a
// barrier interval of a block is executed thread by thread. A kernel whose
// first launch reached no barrier runs its later launches' threads as plain
// calls (LIEDNET_EMU_FIBERS=all: always fibers). The checks
// (docs/cuda.md, "Running the CUDA code without a GPU") record the first
// fault of a launch; it is reported, as on a GPU, by the next synchronising
// call (cudaStreamSynchronize, cudaMemcpy, ...), whose error string is the
// one-line report.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <math.h>  // expf, sqrtf, erff, isnan, ...: CUDA's device math, in the global namespace
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#ifndef __restrict__
#define __restrict__ __restrict
#endif

struct uint3 {
  unsigned int x = 0, y = 0, z = 0;
};
struct dim3 {
  unsigned int x = 1, y = 1, z = 1;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
};

using cudaStream_t = struct CUstream_st*;

// The executing thread's coordinates (set by the scheduler before each fiber runs).
extern uint3 threadIdx;
extern uint3 blockIdx;
extern dim3 blockDim;
extern dim3 gridDim;

namespace liednet::emu {

// A barrier: suspends this fiber until every thread of the block is at a
// barrier (synccheck: they must all be at this one).
void syncthreads(const char* file, int line);

// ---- checks called by the instrumented pieces -------------------------------
// The first fault of the running launch wins; later ones are dropped.
void fault(const std::string& what);
// Launch-time argument check (memcheck): p null or inside a live device allocation.
bool is_device_pointer(const void* p);
void bad_pointer_argument(const char* kernel, int index, const void* p);

// ---- shared memory ------------------------------------------------------------
// Bookkeeping of one shared element for racecheck: who last wrote it, and in
// which barrier interval (a number unique over the whole process), and who
// read it in the current interval.
struct Shadow {
  uint64_t write_interval = ~uint64_t{0}, read_interval = ~uint64_t{0};
  int writer = -1, reader = -1, second_reader = -1;  // readers: the first two distinct ones
};
// The interval and linear thread id of the running thread, and the serial of
// the running block (shared memory is fresh, NaN-filled, in every block).
uint64_t current_interval();
int current_thread();
uint64_t current_block_serial();
void shared_race(const void* address, const char* access, int other, const char* other_access);
void shared_out_of_bounds(const void* base, int64_t index, size_t count);

inline void note_read(Shadow& s, const void* addr) {
  const uint64_t now = current_interval();
  const int me = current_thread();
  if (s.write_interval == now && s.writer != me) shared_race(addr, "read", s.writer, "written");
  if (s.read_interval != now) {
    s.read_interval = now;
    s.reader = me;
    s.second_reader = -1;
  } else if (s.reader != me && s.second_reader == -1) {
    s.second_reader = me;
  }
}

inline void note_write(Shadow& s, const void* addr) {
  const uint64_t now = current_interval();
  const int me = current_thread();
  if (s.write_interval == now && s.writer != me) shared_race(addr, "written", s.writer, "written");
  if (s.read_interval == now && (s.reader != me || s.second_reader != -1))
    shared_race(addr, "written", s.reader != me ? s.reader : s.second_reader, "read");
  s.write_interval = now;
  s.writer = me;
}

// One element of shared memory as an lvalue: reads and writes are recorded.
template <typename T>
class SharedRef {
 public:
  SharedRef(T* v, Shadow* s) : v_(v), s_(s) {}
  operator T() const {
    note_read(*s_, v_);
    return *v_;
  }
  SharedRef& operator=(T x) {
    note_write(*s_, v_);
    *v_ = x;
    return *this;
  }
  SharedRef& operator=(const SharedRef& o) { return *this = static_cast<T>(o); }
  SharedRef& operator+=(T x) { return *this = static_cast<T>(*this) + x; }
  SharedRef& operator-=(T x) { return *this = static_cast<T>(*this) - x; }
  SharedRef& operator*=(T x) { return *this = static_cast<T>(*this) * x; }

 private:
  T* v_;
  Shadow* s_;
};

// A pointer into shared memory (what a __device__ helper receives).
template <typename T>
class SharedPtr {
 public:
  SharedPtr(T* data, Shadow* shadow, size_t count) : data_(data), shadow_(shadow), count_(count) {}
  SharedRef<T> operator[](int64_t i) const {
    if (i < 0 || static_cast<size_t>(i) >= count_) {
      shared_out_of_bounds(data_, i, count_);
      static T sink;
      static Shadow sink_shadow;
      return SharedRef<T>(&sink, &sink_shadow);
    }
    return SharedRef<T>(data_ + i, shadow_ + i);
  }

 private:
  T* data_;
  Shadow* shadow_;
  size_t count_;
};

// Fills fresh shared memory with the initcheck pattern (all bits set: NaN).
inline void poison(void* p, size_t bytes) { std::memset(p, 0xFF, bytes); }

// `__shared__ T name[N]` of a block: one array for the process (blocks run
// one at a time), refilled with the NaN pattern when a new block first touches it.
template <typename T, size_t N>
class SharedArray {
 public:
  SharedRef<T> operator[](int64_t i) { return ptr()[i]; }
  operator SharedPtr<T>() { return ptr(); }

 private:
  SharedPtr<T> ptr() {
    const uint64_t serial = current_block_serial();
    if (serial_ != serial) {
      poison(data_, sizeof data_);
      serial_ = serial;
    }
    return SharedPtr<T>(data_, shadow_, N);
  }
  T data_[N];
  Shadow shadow_[N];
  uint64_t serial_ = ~uint64_t{0};
};

// `extern __shared__ T name[]`: the launch's dynamic shared memory as T.
void* dynamic_shared(size_t& bytes, Shadow*& shadow, size_t element_size);
template <typename T>
SharedPtr<T> dynamic_shared_as() {
  size_t bytes = 0;
  Shadow* shadow = nullptr;
  void* p = dynamic_shared(bytes, shadow, sizeof(T));
  return SharedPtr<T>(static_cast<T*>(p), shadow, bytes / sizeof(T));
}

// ---- launch ---------------------------------------------------------------------
// Runs body(context) once per thread of grid x block (runtime.cpp).
// key: the kernel function (the emulator remembers whether it uses barriers).
int run_launch(const char* kernel, const void* key, dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
               void (*body)(void*), void* context);
// Fault injection for tests: every launch of a kernel whose name starts with
// kernel_prefix does nothing, until called again ("" for none).
void skip_launches(const std::string& kernel_prefix);
// The block order of the launches that follow (what LIEDNET_EMU_BLOCK_ORDER sets at start-up).
void set_block_order(bool shuffle, uint64_t seed);

template <typename... P>
class Launch {
 public:
  Launch(const char* name, void (*fn)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t s)
      : name_(name), fn_(fn), grid_(grid), block_(block), smem_(smem), stream_(s) {}

  template <typename... A>
  void operator()(A&&... a) const {
    static_assert(sizeof...(A) == sizeof...(P), "kernel launched with the wrong number of arguments");
    Call call{fn_, std::tuple<std::decay_t<P>...>(std::forward<A>(a)...)};
    bool ok = true;
    check_pointers(call.args, ok, std::index_sequence_for<P...>{});
    if (!ok) return;  // reported at the next synchronising call; the kernel does not run
    run_launch(name_, reinterpret_cast<const void*>(fn_), grid_, block_, smem_, stream_, &Launch::body, &call);
  }

 private:
  struct Call {
    void (*fn)(P...);
    std::tuple<std::decay_t<P>...> args;
  };
  static void body(void* c) {
    Call* call = static_cast<Call*>(c);
    std::apply(call->fn, call->args);  // each thread gets its own copies, as on a GPU
  }
  template <typename Tuple, size_t... I>
  void check_pointers(const Tuple& args, bool& ok, std::index_sequence<I...>) const {
    (check_one(std::get<I>(args), static_cast<int>(I), ok), ...);
  }
  template <typename T>
  void check_one(const T& v, int index, bool& ok) const {
    if constexpr (std::is_pointer_v<T>) {
      if (ok && !is_device_pointer(static_cast<const void*>(v))) {
        bad_pointer_argument(name_, index, static_cast<const void*>(v));
        ok = false;
      }
    }
  }

  const char* name_;
  void (*fn_)(P...);
  dim3 grid_, block_;
  size_t smem_;
  cudaStream_t stream_;
};

template <typename... P>
Launch<P...> launch(const char* name, void (*fn)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t s) {
  return Launch<P...>(name, fn, grid, block, smem, s);
}

}  // namespace liednet::emu

#define __syncthreads() ::liednet::emu::syncthreads(__FILE__, __LINE__)
