#include "ops/isa.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "tensor/error.h"

namespace liednet::isa {

const char* name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "generic";
  }
}

bool supported(Isa isa) {
#ifdef LIEDNET_ISA_DISPATCH
  __builtin_cpu_init();
  // __builtin_cpu_supports reports what the CPU and the OS (XSAVE state) enable.
  switch (isa) {
    case Isa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") && supported(Isa::avx2);
    case Isa::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c") &&
             __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("popcnt");
    default: return true;
  }
#else
  return isa == Isa::generic;
#endif
}

Isa best() {
  if (supported(Isa::avx512)) return Isa::avx512;
  if (supported(Isa::avx2)) return Isa::avx2;
  return Isa::generic;
}

namespace {
Isa choose() {
  const char* env = std::getenv("LIEDNET_ISA");
  if (!env || !*env) return best();
  for (Isa isa : {Isa::generic, Isa::avx2, Isa::avx512})
    if (!std::strcmp(env, name(isa))) {
      if (!supported(isa))
        fail("LIEDNET_ISA=", env, ": this CPU cannot run the ", env, " kernels (best here: ", name(best()), ")");
      return isa;
    }
  fail("LIEDNET_ISA=", env, ": unknown instruction set (generic, avx2 or avx512)");
}
}  // namespace

Isa current() {
  static const Isa chosen = choose();
  return chosen;
}

}  // namespace liednet::isa
