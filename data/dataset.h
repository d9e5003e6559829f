// Image folders: finding the images, and pairing an input folder with a target
// folder by relative path (LOL-Blur: train/low_blur_noise/<video>/<frame>.png
// with train/high_sharp_scaled/<video>/<frame>.png). Upstream pairs the two
// sorted lists position by position and compares only the file names, which
// mis-pairs as soon as one folder has a file the other lacks; we match the
// whole relative path.
#pragma once

#include <string>
#include <vector>

namespace liednet::data {

struct Pair {
  std::string name;  // the relative path, '/'-separated: "0012/0034.png"
  std::string lq_path, gt_path;
};

struct PairedFolders {
  std::string lq, gt;
  bool skip_unpaired = false;
  // What the two folders are called in messages ("pred" for `liednet eval`).
  std::string lq_role = "lq", gt_role = "gt";
};

// Image files: png, jpg, jpeg, bmp by extension, any case. Names starting with
// '.' (macOS's "._x.png" resource forks, editor files) are not images.
bool is_image_file(const std::string& path);

// Every image file under `folder`, recursively (following links to folders),
// as relative '/'-separated paths, sorted. Each problem met on the way is one
// line in `problems` naming the path, and the walk goes on past it: a folder
// that cannot be read, a link back to a folder above it (a loop, not
// followed), an image name that is a dangling link or not a regular file.
// A folder equal to `skip` is not entered.
std::vector<std::string> walk_images(const std::string& folder, std::vector<std::string>* problems,
                                     const std::string& skip = "");

// walk_images with errors naming the folder when it is missing, not a folder,
// or holds no images (and no problems). Without `problems`, the first problem
// is the error; with it, they are added there for the caller to report.
std::vector<std::string> list_image_names(const std::string& folder, std::vector<std::string>* problems = nullptr);

// The same images as full paths (folder joined with the relative path), in the
// same order: single-folder mode (inference).
std::vector<std::string> list_images(const std::string& folder);

// The images of both folders paired by relative path, sorted by name. Files
// with no partner are one error that names both folders and lists them (the
// first ten on each side and a count); with skip_unpaired they are left out
// and `warning` (when not null) receives one line saying how many and which.
std::vector<Pair> pair_folders(const PairedFolders& f, std::string* warning = nullptr);

}  // namespace liednet::data
