#include "tensor/atomic_file.h"

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

#include "tensor/error.h"

namespace liednet {

namespace {
namespace fs = std::filesystem;

constexpr const char* kTemporaryInfix = ".tmp.";

// errno in words; a full disk (or quota) is spelled out the same way everywhere.
std::string describe(int err) {
  if (err == ENOSPC) return "no space left on device";
  if (err == EDQUOT) return "no space left (disk quota exceeded)";
  return std::strerror(err);
}

// write(2) until every byte is out; false with errno set on failure.
bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// Makes the rename itself durable. A failure here loses nothing that is not
// already on the disk (the file's bytes were synced before the rename), so it
// is not an error.
void sync_folder(const fs::path& folder) {
  const int fd = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}
}  // namespace

std::string temporary_stem(const std::string& filename) {
  // ".tmp." and up to 9 digits of pid: 14 bytes. A name too long for them (file
  // names hold at most 255 bytes) keeps its start and ends in a hash of the whole.
  constexpr size_t kMaxStem = 255 - 14, kHash = 17;  // "~" and 16 hex digits
  if (filename.size() <= kMaxStem) return filename;
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : filename) h = (h ^ c) * 1099511628211ull;
  char hex[kHash + 1];
  std::snprintf(hex, sizeof hex, "~%016llx", static_cast<unsigned long long>(h));
  return filename.substr(0, kMaxStem - kHash) + hex;
}

std::string temporary_path(const std::string& path) {
  const fs::path p(path);
  const std::string stem = temporary_stem(p.filename().string());
  return (p.has_parent_path() ? (p.parent_path() / stem).string() : stem) + kTemporaryInfix + std::to_string(::getpid());
}

bool is_temporary_name(const std::string& filename, long* pid) {
  const size_t at = filename.rfind(kTemporaryInfix);
  if (at == std::string::npos || at == 0) return false;
  const std::string digits = filename.substr(at + std::strlen(kTemporaryInfix));
  if (digits.empty() || digits.size() > 9) return false;
  for (char c : digits)
    if (c < '0' || c > '9') return false;
  if (pid) *pid = std::stol(digits);
  return true;
}

void write_file_atomically(const std::string& path, const std::string& bytes) {
  const fs::path target(path);
  if (target.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    LIEDNET_CHECK(!ec, path, ": cannot create its folder (", describe(ec.value()), ")");
  }
  const std::string tmp = temporary_path(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  LIEDNET_CHECK(fd >= 0, path, ": cannot create the temporary file ", fs::path(tmp).filename().string(), " (",
                describe(errno), ")");
  // fsync before the rename: otherwise a crash soon after could leave the new
  // name pointing at an empty or partial file.
  bool ok = write_all(fd, bytes.data(), bytes.size()) && ::fsync(fd) == 0;
  int err = ok ? 0 : errno;
  if (::close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    ::unlink(tmp.c_str());
    fail(path, ": ", describe(err), " while writing ", bytes.size(), " bytes; nothing was written under this name",
         " (a previous file there is unchanged)");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    ::unlink(tmp.c_str());
    fail(path, ": cannot rename the temporary file into place (", describe(err), ")");
  }
  sync_folder(target.parent_path());
}

namespace {
// Temporaries in `folder` whose name, less ".tmp.<pid>", is one of `stems` (any when empty).
std::vector<std::string> remove_stale(const fs::path& folder, const std::set<std::string>& stems) {
  std::vector<std::string> removed;
  std::error_code ec;
  if (!fs::is_directory(folder.empty() ? fs::path(".") : folder, ec)) return removed;
  for (fs::directory_iterator it(folder.empty() ? fs::path(".") : folder, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    long pid = 0;
    if (!is_temporary_name(name, &pid) || !it->is_regular_file(ec)) continue;
    if (!stems.empty() && !stems.count(name.substr(0, name.rfind(kTemporaryInfix)))) continue;
    // Another process that is still alive may be writing it right now. Our own
    // pid is a previous process's (pids are reused): we have written nothing yet.
    const bool other_alive =
        pid != static_cast<long>(::getpid()) && pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
    if (other_alive) continue;
    std::error_code rm;
    if (fs::remove(it->path(), rm)) removed.push_back(it->path().string());
  }
  return removed;
}
}  // namespace

std::vector<std::string> remove_stale_temporaries(const std::string& folder) { return remove_stale(folder, {}); }

std::vector<std::string> remove_stale_temporaries_of(const std::vector<std::string>& paths) {
  std::map<fs::path, std::set<std::string>> by_folder;
  for (const std::string& p : paths)
    by_folder[fs::path(p).parent_path()].insert(temporary_stem(fs::path(p).filename().string()));
  std::vector<std::string> removed;
  for (const auto& [folder, names] : by_folder) {
    const std::vector<std::string> r = remove_stale(folder, names);
    removed.insert(removed.end(), r.begin(), r.end());
  }
  return removed;
}

}  // namespace liednet
