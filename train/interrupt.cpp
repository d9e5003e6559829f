#include "train/interrupt.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tensor/error.h"

namespace liednet::train {

namespace {
// Shared with the handler, which may run on any thread (an OpenMP or loader
// worker too): lock-free atomics only.
std::atomic<int> g_first{0};          // the first signal
std::atomic<int64_t> g_first_ns{0};   // when it came (CLOCK_MONOTONIC)
std::atomic<int> g_writing{0};        // open FileWriteScopes (main thread)
std::atomic<int> g_pending_exit{0};   // exit code a second signal left for the end of a write
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<int64_t>::is_always_lock_free,
              "the signal handler needs lock-free atomics");
// Signals this close together (half a second) are one: coreutils' timeout sends SIGTERM to the
// process and then to its group, a terminal's Ctrl-C reaches every process of
// the foreground group, and a launcher may forward the same signal again.
// Half a second, or $LIEDNET_SIGNAL_MERGE_MS (read when the handler is
// installed; tests that need two signals to count as two set it to 0).
int64_t g_same_signal_ns = 500'000'000;
bool g_installed = false;
bool g_announce = false;
bool g_launched = false;
struct sigaction g_old_int, g_old_term, g_old_pipe;

void say(const char* text) {  // async-signal-safe
  ssize_t ignored = ::write(STDERR_FILENO, text, std::strlen(text));
  (void)ignored;
}

int64_t now_ns() {  // async-signal-safe
  struct timespec t;
  ::clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

// After the first signal, output that nobody reads any more must not hold up
// the checkpoint: mpirun stops reading its ranks' output as soon as it is
// interrupted, and a rank that prints then blocks in write() for good (Open MPI
// gives its ranks a pseudo-terminal). Output into a pipe, or under a launcher
// any terminal, goes on through a private, non-blocking description of the
// same file: the pipe or terminal is opened again through /proc/self/fd and
// the new description replaces ours (dup2). The shared one, which other
// processes on the same pipe write through (`liednet train | tee log` in a
// script), keeps its flags: setting O_NONBLOCK on it would make their writes
// fail. A line that does not fit is dropped; train_log.jsonl has them all.
// Sockets cannot be reopened and are left as they are. (fstat, open, dup2 and
// close are async-signal-safe.)
void stop_blocking_on_output() {
  for (int fd : {STDOUT_FILENO, STDERR_FILENO}) {
    struct stat st;
    if (::fstat(fd, &st) != 0) continue;
    if (!(S_ISFIFO(st.st_mode) || (g_launched && S_ISCHR(st.st_mode)))) continue;
    char path[32] = "/proc/self/fd/";
    path[14] = static_cast<char>('0' + fd);
    const int mine = ::open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (mine < 0) continue;
    ::dup2(mine, fd);
    ::close(mine);
  }
}

void on_signal(int sig) {
  const int saved_errno = errno;  // the interrupted code may be about to read it
  int expected = 0;
  if (g_first.compare_exchange_strong(expected, sig)) {
    g_first_ns.store(now_ns());
    stop_blocking_on_output();
    if (g_announce)
      say("liednet train: interrupted: finishing this step, then writing a checkpoint (interrupt again to stop at "
          "once)\n");
  } else if (now_ns() - g_first_ns.load() < g_same_signal_ns) {
    // The same interruption, delivered twice.
  } else if (g_writing.load() > 0) {
    g_pending_exit.store(128 + sig);
    say("liednet train: interrupted again: stopping once the file being written is complete\n");
  } else {
    say("liednet train: interrupted again: stopping now, without a checkpoint of the current iteration\n");
    ::_exit(128 + sig);
  }
  errno = saved_errno;
}
}  // namespace

InterruptHandler::InterruptHandler(bool announce, bool launched) {
  LIEDNET_CHECK(!g_installed, "InterruptHandler: already installed");
  g_announce = announce;
  g_launched = launched;
  const char* merge_ms = std::getenv("LIEDNET_SIGNAL_MERGE_MS");
  g_same_signal_ns = merge_ms && *merge_ms ? std::max(0LL, std::atoll(merge_ms)) * 1'000'000 : 500'000'000;
  g_first.store(0);
  g_first_ns.store(0);
  g_pending_exit.store(0);
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // file and thread calls carry on
  sigaction(SIGINT, &sa, &g_old_int);
  sigaction(SIGTERM, &sa, &g_old_term);
  // A reader of our output that goes away (`liednet train | tee log` and Ctrl-C,
  // which ends tee too) must not end the run before its checkpoint: writes to
  // it fail instead (EPIPE).
  struct sigaction ignore;
  std::memset(&ignore, 0, sizeof ignore);
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  sigaction(SIGPIPE, &ignore, &g_old_pipe);
  g_installed = true;
}

InterruptHandler::~InterruptHandler() {
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
  sigaction(SIGPIPE, &g_old_pipe, nullptr);
  g_installed = false;
}

int InterruptHandler::requested() { return g_first.load(); }

FileWriteScope::FileWriteScope() { g_writing.fetch_add(1); }

FileWriteScope::~FileWriteScope() {
  if (g_writing.fetch_sub(1) == 1 && g_pending_exit.load() != 0) ::_exit(g_pending_exit.load());
}

}  // namespace liednet::train
