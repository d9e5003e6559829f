#include "ops/flops.h"

#include "autograd/profiler.h"

namespace liednet::ops {

namespace {
thread_local FlopCounter* t_counter = nullptr;
}

FlopCounter::FlopCounter() : previous_(t_counter) { t_counter = this; }
FlopCounter::~FlopCounter() {
  t_counter = previous_;
  if (previous_) previous_->total_ += total_;  // nested counters add up into the outer one
}

void FlopCounter::add(int64_t flops) {
  if (t_counter) t_counter->total_ += flops;
  profiler::add_flops(flops);
}

}  // namespace liednet::ops
