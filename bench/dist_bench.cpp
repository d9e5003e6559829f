// Data-parallel training on this machine: LIEDNet training steps (pixel and
// side losses, random 256x256 data) of 1 process x 2 threads against 2 MPI
// ranks x 1 thread each, at global batch 2 and 8, in images/s; the all-reduce
// time per step; and the communication volume per step, with what it would
// cost on 8 GPUs over NVLink and over 100 Gb/s Ethernet.
//
// On a 2-core machine both configurations use the same two cores, so the
// ratio measures the overhead of running as 2 ranks (gradient all-reduce,
// two copies of the model, no threads inside a rank), not a speed-up.
//
//   usage: bench_dist [--batches 2,8] [--steps N] [--gpu-step-ms MS]
// It runs itself twice: `LIEDNET_THREADS=2 bench_dist --measure ...` and
// `mpirun -np 2 bench_dist --measure --ranks ...` (mpirun from PATH; as root
// with --allow-run-as-root).
//
//   bench_dist --reduce-only [--reps N] [--launch 'COMMAND PREFIX']
// times the all-reduce alone: LIEDNet's f32 gradient buffer (19 MB) averaged
// over 2 ranks, N times after one warm-up, started with `mpirun -np 2` or with
// the given prefix (scripts/netns_bench_dist.sh passes an mpirun across test
// hosts, over TCP, with and without a slowed link).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.h"
#include "tensor/parallel.h"
#include "train/comm.h"
#include "liednet/liednet.h"
#include "train/trainer.h"

using namespace liednet;

namespace {

struct Options {
  std::vector<int64_t> batches{2, 8};
  int steps = 3;
  double gpu_step_ms = 0;
  bool measure = false, ranks = false;
  int64_t batch = 2;  // --measure: per process
  bool reduce_only = false, measure_reduce = false;
  int reps = 10;
  std::string launch;  // --reduce-only: what starts the 2 ranks
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_dist: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--batches") {
      o.batches.clear();
      std::stringstream s(value());
      for (std::string part; std::getline(s, part, ',');) o.batches.push_back(std::stoll(part));
    } else if (a == "--steps") {
      o.steps = std::stoi(value());
    } else if (a == "--gpu-step-ms") {
      o.gpu_step_ms = std::stod(value());
    } else if (a == "--measure") {
      o.measure = true;
    } else if (a == "--ranks") {
      o.ranks = true;
    } else if (a == "--batch") {
      o.batch = std::stoll(value());
    } else if (a == "--reduce-only") {
      o.reduce_only = true;
    } else if (a == "--measure-reduce") {
      o.measure_reduce = true;
    } else if (a == "--reps") {
      o.reps = std::stoi(value());
    } else if (a == "--launch") {
      o.launch = value();
    } else {
      std::fprintf(stderr, "bench_dist: unknown option %s\n", a.c_str());
      std::exit(2);
    }
  }
  return o;
}

train::TrainConfig bench_config() {
  train::TrainConfig c;
  c.path = "bench_dist";
  c.network = net::preset("liednet");
  c.loss.perceptual_weight = 0;  // no VGG19 weights in the repository; the step is the demo's
  return c;
}

// One process (or one rank) of the measurement: prints, on rank 0, one line
// "result step_ms=... reduce_ms=... params=..." for the orchestrating run to read.
int measure(const Options& o) {
  std::unique_ptr<train::Communicator> comm = o.ranks ? train::make_mpi(Device::CPU) : train::make_single_process();
  train::Trainer trainer(bench_config(), o.ranks ? comm.get() : nullptr);
  trainer.broadcast_state(0);
  Generator g(100 + comm->rank());
  const Tensor gt = Tensor::uniform({o.batch, 3, 256, 256}, -0.8, 0.8, g);
  const Tensor lq = Tensor::uniform({o.batch, 3, 256, 256}, -1, -0.4, g);
  trainer.step(lq, gt);  // warm-up: Adam's moments, the allocator
  double step_ms = 0, reduce_ms = 0;
  for (int i = 0; i < o.steps; ++i) {
    comm->barrier();  // the ranks start each timed step together
    const double t0 = bench::now_ms();
    trainer.step(lq, gt);
    step_ms += bench::now_ms() - t0;
    reduce_ms += trainer.last_reduce_ms();
  }
  if (comm->rank() == 0)
    std::printf("result step_ms=%.3f reduce_ms=%.3f params=%lld threads=%d\n", step_ms / o.steps,
                reduce_ms / o.steps, static_cast<long long>(trainer.model().parameter_count()), num_threads());
  return 0;
}

// One rank of --reduce-only: the all-reduce of a buffer the size of LIEDNet's
// gradients; rank 0 prints "result reduce_ms=MEAN min_ms=MIN bytes=B host=H".
int measure_reduce(const Options& o) {
  std::unique_ptr<train::Communicator> comm = train::make_mpi(Device::CPU);
  Generator init(1);
  const int64_t params = net::LIEDNet(net::preset("liednet"), init).parameter_count();
  Generator g(7 + comm->rank());
  Tensor flat = Tensor::uniform({params}, -1, 1, g);  // f32
  comm->all_reduce_mean(flat);                        // warm-up: connections, buffers
  double total = 0, least = 1e300;
  for (int i = 0; i < o.reps; ++i) {
    comm->barrier();
    const double t0 = bench::now_ms();
    comm->all_reduce_mean(flat);
    const double ms = bench::now_ms() - t0;
    total += ms;
    least = std::min(least, ms);
  }
  if (comm->rank() == 0)
    std::printf("result reduce_ms=%.3f min_ms=%.3f bytes=%lld\n", total / o.reps, least,
                static_cast<long long>(params * 4));
  return 0;
}

int reduce_only(const Options& o, const std::string& self) {
  const std::string launch =
      o.launch.empty() ? std::string("mpirun ") + (geteuid() == 0 ? "--allow-run-as-root " : "") + "-np 2" : o.launch;
  const std::string command = "LIEDNET_THREADS=1 OMP_NUM_THREADS=1 " + launch + " " + self +
                              " --measure-reduce --reps " + std::to_string(o.reps);
  std::FILE* p = popen(command.c_str(), "r");
  if (!p) return 1;
  char line[512];
  double mean = 0, least = 0;
  long long bytes = 0;
  bool ok = false;
  while (std::fgets(line, sizeof line, p))
    if (std::sscanf(line, "result reduce_ms=%lf min_ms=%lf bytes=%lld", &mean, &least, &bytes) == 3) ok = true;
  if (pclose(p) != 0 || !ok) {
    std::fprintf(stderr, "bench_dist: failed: %s\n", command.c_str());
    return 1;
  }
  // Each of the 2 ranks sends (and receives) 2 (K - 1) / K = 1 buffer's worth per all-reduce.
  std::printf("all-reduce of %lld bytes (f32 gradients) over 2 ranks, %d times: mean %.2f ms, min %.2f ms "
              "(%.0f MB/s sent per rank at the mean)\n",
              bytes, o.reps, mean, least, bytes / (mean / 1e3) / 1e6);
  return 0;
}

struct Result {
  double step_ms = 0, reduce_ms = 0;
  long long params = 0;
  bool ok = false;
};

Result run(const std::string& command) {
  Result r;
  std::FILE* p = popen(command.c_str(), "r");
  if (!p) return r;
  char line[512];
  while (std::fgets(line, sizeof line, p))
    if (std::sscanf(line, "result step_ms=%lf reduce_ms=%lf params=%lld", &r.step_ms, &r.reduce_ms, &r.params) == 3)
      r.ok = true;
  r.ok = pclose(p) == 0 && r.ok;
  if (!r.ok) std::fprintf(stderr, "bench_dist: failed: %s\n", command.c_str());
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (o.measure) return measure(o);
  if (o.measure_reduce) return measure_reduce(o);
  if (!train::mpi_built()) {
    std::fprintf(stderr, "bench_dist: this build has no MPI (configure with -DLIEDNET_MPI=ON)\n");
    return 1;
  }
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  if (o.reduce_only) return reduce_only(o, self);
  const std::string mpirun = std::string("mpirun ") + (geteuid() == 0 ? "--allow-run-as-root " : "") + "-np 2 ";
  const std::string steps = " --steps " + std::to_string(o.steps);
  std::printf("LIEDNet training step (L1 + side L1, Adam), 256x256, %d timed steps after one warm-up, %s\n\n",
              o.steps, train::mpi_version().c_str());
  std::printf("%-26s %6s %10s %9s %15s %7s\n", "configuration", "batch", "step ms", "images/s", "all-reduce ms",
              "ratio");
  long long params = 0;
  for (int64_t b : o.batches) {
    const Result one = run("LIEDNET_THREADS=2 OMP_NUM_THREADS=2 " + self + " --measure --batch " +
                           std::to_string(b) + steps);
    const Result two = run("LIEDNET_THREADS=1 OMP_NUM_THREADS=1 " + mpirun + self + " --measure --ranks --batch " +
                           std::to_string(b / 2) + steps);
    if (!one.ok || !two.ok) return 1;
    params = one.params;
    const double ips1 = b * 1000.0 / one.step_ms, ips2 = b * 1000.0 / two.step_ms;
    std::printf("%-26s %6lld %10.1f %9.2f %15s %7s\n", "1 process x 2 threads", static_cast<long long>(b),
                one.step_ms, ips1, "-", "1.00");
    std::printf("%-26s %6lld %10.1f %9.2f %15.1f %7.2f\n", "2 ranks x 1 thread", static_cast<long long>(b),
                two.step_ms, ips2, two.reduce_ms, ips2 / ips1);
  }

  // The communication per step: one f32 gradient buffer. The fixed-order
  // all-reduce (all-to-all, then all-gather) sends and receives 2 (K - 1) / K
  // of it per rank, as a ring all-reduce does.
  const double bytes = 4.0 * static_cast<double>(params);
  std::printf("\ncommunication per step: %lld parameters = %.0f bytes (%.1f MB) of f32 gradients; each rank sends "
              "(and receives) 2 (K-1)/K of it: %.0f bytes at K = 2, %.0f bytes (%.1f MB) at K = 8\n",
              params, bytes, bytes / 1e6, bytes * 2 * 1 / 2, bytes * 2 * 7 / 8, bytes * 2 * 7 / 8 / 1e6);
  // Link rates per GPU and direction: NVLink 4 (H100/H200) 450 GB/s, 100 Gb/s
  // Ethernet 12.5 GB/s. Real bus bandwidth is lower (NCCL reaches roughly
  // 70-85% on NVLink), so these are lower bounds on the time.
  const double at_nvlink_ms = bytes * 2 * 7 / 8 / 450e9 * 1e3, at_ethernet_ms = bytes * 2 * 7 / 8 / 12.5e9 * 1e3;
  std::printf("8 GPUs, all-reduce time per step at link rate: NVLink 4 (450 GB/s) %.3f ms, 100 Gb/s Ethernet "
              "(12.5 GB/s) %.2f ms\n", at_nvlink_ms, at_ethernet_ms);
  if (o.gpu_step_ms > 0) {
    const double s = o.gpu_step_ms;
    std::printf("with a GPU step of %.1f ms and no overlap of the all-reduce with the backward: efficiency %.1f%% "
                "(NVLink), %.1f%% (Ethernet)\n", s, 100 * s / (s + at_nvlink_ms), 100 * s / (s + at_ethernet_ms));
  } else {
    std::printf("efficiency = step / (step + all-reduce) without overlap; give --gpu-step-ms (bench_train --device "
                "cuda, batch 8) to have it computed\n");
  }
  return 0;
}
