#include "data/dataset.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
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

std::vector<std::string> image_names(const std::string& folder, const std::string& role) {
  const std::string what = role.empty() ? "image folder " : role + " folder ";
  std::error_code ec;
  LIEDNET_CHECK(!folder.empty(), what, "not given (empty path)");
  LIEDNET_CHECK(fs::exists(folder, ec), what, folder, " does not exist");
  LIEDNET_CHECK(fs::is_directory(folder, ec), what, folder, " is not a folder");
  std::vector<std::string> names;
  try {
    const fs::path root(folder);
    for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::follow_directory_symlink);
         it != fs::recursive_directory_iterator(); ++it) {
      if (!it->is_regular_file() || !is_image_file(it->path().filename().string())) continue;
      names.push_back(it->path().lexically_relative(root).generic_string());
    }
  } catch (const fs::filesystem_error& e) {
    fail(what, folder, ": cannot list its files (", e.what(), ")");
  }
  LIEDNET_CHECK(!names.empty(), what, folder, " holds no images (png, jpg, jpeg, bmp; searched recursively)");
  std::sort(names.begin(), names.end());
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

std::vector<std::string> list_image_names(const std::string& folder) { return image_names(folder, ""); }

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
