#include "train/log_file.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tensor/error.h"

namespace liednet::train {

namespace {
std::string reason(int err) {
  return err == ENOSPC ? std::string("no space left on device") : std::string(std::strerror(err));
}
}  // namespace

LogFile::LogFile(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  LIEDNET_CHECK(fd_ >= 0, path_, ": cannot open the log for appending (", reason(errno), ")");
}

LogFile::~LogFile() {
  if (fd_ >= 0) ::close(fd_);
}

void LogFile::append_line(const std::string& line) {
  const std::string text = line + "\n";
  struct stat st;
  LIEDNET_CHECK(::fstat(fd_, &st) == 0, path_, ": cannot append to the log (", reason(errno), ")");
  size_t done = 0;
  int err = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : ENOSPC;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (err == 0) return;
  // Cut back what part of the line got out, so the log keeps whole lines.
  if (done > 0 && ::ftruncate(fd_, st.st_size) != 0)
    fail(path_, ": cannot append to the log (", reason(err), ") and cannot remove the partial line (",
         reason(errno), ")");
  fail(path_, ": cannot append to the log (", reason(err), "); it keeps its whole lines");
}

}  // namespace liednet::train
