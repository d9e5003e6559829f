#include "cli/overlap.h"

#include <filesystem>
#include <system_error>

#include "tensor/error.h"

namespace liednet::cli {

namespace {
namespace fs = std::filesystem;

fs::path resolved(const std::string& p) {
  std::error_code ec;
  fs::path abs = fs::absolute(p, ec);
  if (ec) abs = fs::path(p);
  fs::path r = fs::weakly_canonical(abs, ec);
  if (ec) r = abs.lexically_normal();
  // "dir/" and "dir" are the same folder.
  if (!r.has_filename() && r.has_parent_path() && r != r.root_path()) r = r.parent_path();
  return r;
}
}  // namespace

bool same_or_inside(const std::string& inner, const std::string& outer) {
  const fs::path i = resolved(inner), o = resolved(outer);
  auto oi = o.begin();
  auto ii = i.begin();
  for (; oi != o.end(); ++oi, ++ii) {
    if (oi->empty()) continue;  // a trailing separator
    if (ii == i.end() || *ii != *oi) return false;
  }
  return true;
}

void check_outputs_apart(const std::vector<NamedPath>& inputs, const NamedPath& output) {
  if (output.path.empty()) return;
  for (const NamedPath& in : inputs) {
    if (in.path.empty()) continue;
    if (resolved(in.path) == resolved(output.path))
      fail(output.what, " ", output.path, " is ", in.what, " ", in.path, ": refusing to write over an input");
    if (same_or_inside(output.path, in.path))
      fail(output.what, " ", output.path, " is inside ", in.what, " ", in.path,
           ": refusing to write into an input folder");
  }
}

}  // namespace liednet::cli
