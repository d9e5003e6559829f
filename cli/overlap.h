// No command writes over or into what it was given: an output that is one of
// the inputs, or lies inside an input folder, is refused before anything is
// read or written, with one line naming both paths.
#pragma once

#include <string>
#include <vector>

namespace liednet::cli {

// A path the command was given, and how the user gave it ("--input", "--weights", "IN.pth").
struct NamedPath {
  std::string what;
  std::string path;
};

// Paths compare after resolving symbolic links, "." and ".." (whether or not
// they exist yet), so `a/../a/x.png` and a link to `x.png` are both `x.png`.
// Inputs given as "" (an option left out) are ignored.
void check_outputs_apart(const std::vector<NamedPath>& inputs, const NamedPath& output);

// True when `inner` is `outer` or lies below it (both resolved as above).
bool same_or_inside(const std::string& inner, const std::string& outer);

}  // namespace liednet::cli
