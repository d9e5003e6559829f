// The one-process communicator and the pieces every backend shares.
#include "train/comm.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "tensor/error.h"

#include "tensor/parallel.h"

namespace liednet::train {

namespace {
class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  int local_rank() const override { return 0; }
  int local_size() const override { return 1; }
  std::string backend() const override { return "none"; }
  void all_reduce_mean(Tensor&) override {}  // the mean of one copy is itself
  void broadcast(Tensor&, int) override {}
  void barrier() override {}
  [[noreturn]] void abort(int exit_code) override { std::_Exit(exit_code); }
};
}  // namespace

std::unique_ptr<Communicator> make_single_process() { return std::make_unique<SingleProcess>(); }

std::vector<std::string> all_gather_strings(Communicator& comm, const std::string& mine) {
  const int k = comm.world_size(), r = comm.rank();
  if (k == 1) return {mine};
  // The lengths, then the bytes: each rank fills its own row, zeros elsewhere;
  // the mean times K is the row's owner's value (small integers: exact).
  Tensor lengths = Tensor::zeros({k}, DType::F64);
  lengths.data<double>()[r] = static_cast<double>(mine.size());
  comm.all_reduce_mean(lengths);
  std::vector<int64_t> len(k);
  int64_t longest = 0;
  for (int j = 0; j < k; ++j) longest = std::max(longest, len[j] = std::llround(lengths.data<double>()[j] * k));
  std::vector<std::string> out(k);
  if (longest == 0) return out;
  Tensor bytes = Tensor::zeros({k * longest}, DType::F64);
  double* b = bytes.data<double>() + r * longest;
  for (size_t i = 0; i < mine.size(); ++i) b[i] = static_cast<unsigned char>(mine[i]);
  comm.all_reduce_mean(bytes);
  for (int j = 0; j < k; ++j) {
    const double* row = bytes.data<double>() + j * longest;
    out[j].resize(static_cast<size_t>(len[j]));
    for (int64_t i = 0; i < len[j]; ++i) out[j][i] = static_cast<char>(std::lround(row[i] * k));
  }
  return out;
}

double comm_timeout() {
  const char* v = std::getenv("LIEDNET_COMM_TIMEOUT");
  if (!v || !*v) return 300;
  char* end = nullptr;
  const double t = std::strtod(v, &end);
  LIEDNET_CHECK(end && *end == 0 && std::isfinite(t) && t >= 0,
                "LIEDNET_COMM_TIMEOUT must be a number of seconds >= 0 (0: no limit), got '", v, "'");
  return t;
}

Chunk chunk_of(int64_t n, int k, int r) {
  const int64_t per = (n + k - 1) / k;
  const int64_t begin = std::min(n, per * r), end = std::min(n, per * (r + 1));
  return {begin, end - begin};
}

template <typename T>
void mean_in_rank_order(T* out, const T* parts, int64_t n, int64_t stride, int k) {
  const T ranks = static_cast<T>(k);
  parallel_chunks(n, 1 << 14, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      T s = parts[i];
      for (int r = 1; r < k; ++r) s += parts[r * stride + i];
      out[i] = s / ranks;
    }
  });
}

template void mean_in_rank_order<float>(float*, const float*, int64_t, int64_t, int);
template void mean_in_rank_order<double>(double*, const double*, int64_t, int64_t, int);

}  // namespace liednet::train
