#include "train/interrupt.h"

#include <csignal>
#include <cstring>

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
struct sigaction g_old_int, g_old_term;

void say(const char* text) {  // async-signal-safe
  ssize_t ignored = ::write(STDERR_FILENO, text, std::strlen(text));
  (void)ignored;
}

void on_signal(int sig) {
  if (g_first == 0) {
    g_first = sig;
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

InterruptHandler::InterruptHandler(bool announce) {
  LIEDNET_CHECK(!g_installed, "InterruptHandler: already installed");
  g_announce = announce;
  g_first = 0;
  g_pending_exit = 0;
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // file and thread calls carry on
  sigaction(SIGINT, &sa, &g_old_int);
  sigaction(SIGTERM, &sa, &g_old_term);
  g_installed = true;
}

InterruptHandler::~InterruptHandler() {
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
  g_installed = false;
}

int InterruptHandler::requested() { return g_first; }

FileWriteScope::FileWriteScope() { g_writing = g_writing + 1; }

FileWriteScope::~FileWriteScope() {
  g_writing = g_writing - 1;
  if (g_writing == 0 && g_pending_exit != 0) ::_exit(g_pending_exit);
}

}  // namespace liednet::train
