#include "train/interrupt.h"

#include <csignal>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tensor/error.h"

namespace liednet::train {

namespace {
// Set from the handler: only lock-free atomics of sig_atomic_t size are safe there.
volatile std::sig_atomic_t g_first = 0;         // the first signal
volatile std::sig_atomic_t g_writing = 0;       // open FileWriteScopes (main thread)
volatile std::sig_atomic_t g_pending_exit = 0;  // exit code a second signal left for the end of a write
bool g_installed = false;
bool g_announce = false;
bool g_launched = false;
struct sigaction g_old_int, g_old_term, g_old_pipe;

void say(const char* text) {  // async-signal-safe
  ssize_t ignored = ::write(STDERR_FILENO, text, std::strlen(text));
  (void)ignored;
}

// After the first signal, output that nobody reads any more must not hold up
// the checkpoint: mpirun stops reading its ranks' output as soon as it is
// interrupted, and a rank that prints then blocks in write() for good (Open MPI
// gives its ranks a pseudo-terminal). Output into a pipe or socket, or under a
// launcher any terminal, becomes non-blocking (a line that does not fit is
// dropped; train_log.jsonl has them all). The user's own terminal is left
// alone: its open file is shared with the shell. (fstat and fcntl are
// async-signal-safe.)
void stop_blocking_on_output() {
  for (int fd : {STDOUT_FILENO, STDERR_FILENO}) {
    struct stat st;
    if (::fstat(fd, &st) != 0) continue;
    if (!(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || (g_launched && S_ISCHR(st.st_mode)))) continue;
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  }
}

void on_signal(int sig) {
  if (g_first == 0) {
    g_first = sig;
    stop_blocking_on_output();
    if (g_announce)
      say("liednet train: interrupted: finishing this step, then writing a checkpoint (interrupt again to stop at "
          "once)\n");
    return;
  }
  if (g_writing > 0) {
    g_pending_exit = 128 + sig;
    say("liednet train: interrupted again: stopping once the file being written is complete\n");
    return;
  }
  say("liednet train: interrupted again: stopping now, without a checkpoint of the current iteration\n");
  ::_exit(128 + sig);
}
}  // namespace

InterruptHandler::InterruptHandler(bool announce, bool launched) {
  LIEDNET_CHECK(!g_installed, "InterruptHandler: already installed");
  g_announce = announce;
  g_launched = launched;
  g_first = 0;
  g_pending_exit = 0;
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

int InterruptHandler::requested() { return g_first; }

FileWriteScope::FileWriteScope() { g_writing = g_writing + 1; }

FileWriteScope::~FileWriteScope() {
  g_writing = g_writing - 1;
  if (g_writing == 0 && g_pending_exit != 0) ::_exit(g_pending_exit);
}

}  // namespace liednet::train
