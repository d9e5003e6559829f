#include "data/dataset.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <functional>
#include <sstream>
#include <system_error>

#include "tensor/error.h"

namespace liednet::data {

namespace fs = std::filesystem;

namespace {

constexpr size_t kListed = 10;  // unpaired files named in a message, per side

// "a.png, b.png, ... and 7 more"
std::string some_of(const std::vector<std::string>& names) {
  std::ostringstream s;
  for (size_t i = 0; i < names.size() && i < kListed; ++i) s << (i ? ", " : "") << names[i];
  if (names.size() > kListed) s << " ... and " << names.size() - kListed << " more";
  return s.str();
}

std::string describe_unpaired(const PairedFolders& f, const std::vector<std::string>& only_lq,
                              const std::vector<std::string>& only_gt) {
  std::ostringstream s;
  if (!only_lq.empty())
    s << only_lq.size() << " only in the " << f.lq_role << " folder " << f.lq << " (" << some_of(only_lq) << ")";
  if (!only_lq.empty() && !only_gt.empty()) s << "; ";
  if (!only_gt.empty())
    s << only_gt.size() << " only in the " << f.gt_role << " folder " << f.gt << " (" << some_of(only_gt) << ")";
  return s.str();
}

std::vector<std::string> image_names(const std::string& folder, const std::string& role,
                                     std::vector<std::string>* problems = nullptr) {
  const std::string what = role.empty() ? "image folder " : role + " folder ";
  std::error_code ec;
  LIEDNET_CHECK(!folder.empty(), what, "not given (empty path)");
  LIEDNET_CHECK(fs::exists(folder, ec), what, folder, " does not exist");
  LIEDNET_CHECK(fs::is_directory(folder, ec), what, folder, " is not a folder");
  std::vector<std::string> found_problems;
  std::vector<std::string> names = walk_images(folder, &found_problems);
  if (!found_problems.empty() && !problems)  // here every file counts: the first problem is the error
    fail(what, folder, ": ", found_problems[0],
         found_problems.size() > 1 ? " (and " + std::to_string(found_problems.size() - 1) + " more problems)" : "");
  if (problems) problems->insert(problems->end(), found_problems.begin(), found_problems.end());
  LIEDNET_CHECK(!names.empty() || !found_problems.empty(), what, folder,
                " holds no images (png, jpg, jpeg, bmp; searched recursively)");
  return names;
}

}  // namespace

bool is_image_file(const std::string& path) {
  const std::string name = fs::path(path).filename().string();
  if (name.empty() || name[0] == '.') return false;
  std::string ext = fs::path(name).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

std::vector<std::string> walk_images(const std::string& folder, std::vector<std::string>* problems,
                                     const std::string& skip) {
  std::vector<std::string> names;
  std::error_code ec;
  const fs::path root(folder);
  const fs::path skip_path = skip.empty() ? fs::path() : fs::weakly_canonical(skip, ec);
  // Folders on the path from the root to where we are, by their real path:
  // a link to one of them is a loop.
  std::vector<fs::path> open_folders;
  auto problem = [&](const std::string& p) {
    if (problems) problems->push_back(p);
  };
  std::function<void(const fs::path&)> walk = [&](const fs::path& dir) {
    std::error_code e;
    const fs::path real = fs::canonical(dir, e);
    if (e) {
      problem(dir.string() + ": cannot read this folder (" + e.message() + ")");
      return;
    }
    if (!skip.empty() && real == skip_path) return;
    for (const fs::path& f : open_folders)
      if (f == real) {
        problem(dir.string() + ": a link back to " + f.string() + " (a loop), not followed");
        return;
      }
    fs::directory_iterator it(dir, e);
    if (e) {
      problem(dir.string() + ": cannot read this folder (" + e.message() + ")");
      return;
    }
    open_folders.push_back(real);
    std::vector<fs::path> subfolders;
    for (fs::directory_iterator end; it != end; it.increment(e)) {
      const fs::path p = it->path();
      std::error_code s;
      const bool is_dir = it->is_directory(s);  // follows links
      if (!s && is_dir) {
        subfolders.push_back(p);
        continue;
      }
      if (!is_image_file(p.filename().string())) continue;
      const bool regular = it->is_regular_file(s);
      if (regular) {
        names.push_back(p.lexically_relative(root).generic_string());
      } else if (it->is_symlink(s)) {
        std::error_code r;
        problem(p.string() + ": a link to " + fs::read_symlink(p, r).string() + ", which does not exist");
      } else {
        problem(p.string() + ": not a regular file");
      }
    }
    if (e) problem(dir.string() + ": cannot read all of this folder (" + e.message() + ")");
    for (const fs::path& sub : subfolders) walk(sub);
    open_folders.pop_back();
  };
  walk(root);
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> list_image_names(const std::string& folder, std::vector<std::string>* problems) {
  return image_names(folder, "", problems);
}

std::vector<std::string> list_images(const std::string& folder) {
  std::vector<std::string> paths;
  for (const std::string& name : image_names(folder, "")) paths.push_back((fs::path(folder) / name).string());
  return paths;
}

std::vector<Pair> pair_folders(const PairedFolders& f, std::string* warning) {
  const std::vector<std::string> lq = image_names(f.lq, f.lq_role), gt = image_names(f.gt, f.gt_role);
  std::vector<Pair> pairs;
  std::vector<std::string> only_lq, only_gt;
  // Both lists are sorted: one merge pass.
  size_t i = 0, j = 0;
  while (i < lq.size() || j < gt.size()) {
    if (j == gt.size() || (i < lq.size() && lq[i] < gt[j])) {
      only_lq.push_back(lq[i++]);
    } else if (i == lq.size() || gt[j] < lq[i]) {
      only_gt.push_back(gt[j++]);
    } else {
      pairs.push_back({lq[i], (fs::path(f.lq) / lq[i]).string(), (fs::path(f.gt) / gt[j]).string()});
      ++i, ++j;
    }
  }
  const size_t unpaired = only_lq.size() + only_gt.size();
  if (unpaired > 0) {
    const std::string which = describe_unpaired(f, only_lq, only_gt);
    LIEDNET_CHECK(f.skip_unpaired, "pairing ", f.lq_role, " folder ", f.lq, " with ", f.gt_role, " folder ", f.gt,
                  " by relative path: ", unpaired, " image", unpaired == 1 ? "" : "s", " without a partner: ", which);
    if (warning)
      *warning = "skipped " + std::to_string(unpaired) + " unpaired image" + (unpaired == 1 ? "" : "s") + ": " + which;
  } else if (warning) {
    warning->clear();
  }
  LIEDNET_CHECK(!pairs.empty(), "pairing ", f.lq_role, " folder ", f.lq, " with ", f.gt_role, " folder ", f.gt,
                ": no image has the same relative path in both");
  return pairs;
}

}  // namespace liednet::data
