// A JSON-lines log open for appending. Each line reaches the file whole or not
// at all: it goes out in one write(2), and a write that stops short (a full
// disk) is cut back off before the error. Every failure is an error naming the
// file; a full disk says "no space left on device".
#pragma once

#include <string>

namespace liednet::train {

class LogFile {
 public:
  // Opens `path` for appending, creating it when absent.
  explicit LogFile(std::string path);
  ~LogFile();
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;

  void append_line(const std::string& line);  // `line` without its "\n"
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace liednet::train
