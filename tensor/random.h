// Generator: a seeded pseudo-random source (xoshiro256**, seeded through
// splitmix64) whose whole state is four integers, so that checkpoints can save
// it and a resumed run draws exactly the numbers an unbroken run would.
#pragma once

#include <array>
#include <cstdint>

namespace liednet {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) { seed_with(seed); }
  void seed_with(uint64_t seed);

  uint64_t next_u64();
  double uniform();                 // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  double normal();                  // standard normal (Box-Muller, one value per call)
  uint64_t below(uint64_t n);       // uniform integer in [0, n), n > 0

  using State = std::array<uint64_t, 4>;
  State state() const { return s_; }
  void set_state(const State& s) { s_ = s; }

 private:
  State s_{};
};

}  // namespace liednet
