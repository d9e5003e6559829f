// SIGINT and SIGTERM during training. The first one asks the training loop to
// stop: it finishes the current step, writes a checkpoint of that iteration
// and exits 130 (SIGINT) or 143 (SIGTERM). A second one ends the process at
// once with the same code, except while a FileWriteScope is open: then it ends
// as soon as the file being written is complete, so only whole files remain
// (each is written to a temporary name and renamed; a temporary left by a
// killed run is removed when the run starts again). Signals within half a
// second of the first count as the first (`timeout` sends SIGTERM to the
// process and to its group); $LIEDNET_SIGNAL_MERGE_MS sets that window in
// milliseconds (0: none). The handler keeps errno as it was.
#pragma once

namespace liednet::train {

class InterruptHandler {
 public:
  // Installs the handlers (one InterruptHandler at a time). `announce`: say
  // on stderr, when the first signal comes, that the run is stopping.
  // `launched`: stdout and stderr belong to a launcher (mpirun), which stops
  // reading them when it is interrupted. At the first signal, output into a
  // pipe (and under a launcher, a terminal) goes on through a private
  // non-blocking description of it; the shared one is never changed.
  explicit InterruptHandler(bool announce, bool launched = false);
  ~InterruptHandler();  // restores the previous ones
  InterruptHandler(const InterruptHandler&) = delete;
  InterruptHandler& operator=(const InterruptHandler&) = delete;

  // The first signal received: 0, SIGINT or SIGTERM.
  static int requested();
};

// While one is open, a second signal waits for it to close.
class FileWriteScope {
 public:
  FileWriteScope();
  ~FileWriteScope();  // ends the process here if a second signal came meanwhile
  FileWriteScope(const FileWriteScope&) = delete;
  FileWriteScope& operator=(const FileWriteScope&) = delete;
};

// 128 + the signal: the shell's exit status for a process ended by it.
inline int exit_code_for_signal(int signal) { return 128 + signal; }

}  // namespace liednet::train
