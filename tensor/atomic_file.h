// Files written whole or not at all. Every file the program writes (weights,
// checkpoints, images, CSV tables, curves) goes through write_file_atomically:
// the bytes go to "<path>.tmp.<pid>" in the same folder, are flushed to the
// disk, and the temporary file is renamed over `path`. A full disk or any other
// write error is a one-line error naming `path` ("no space left on device"),
// the temporary file is removed, and the previous file under `path` is intact.
// A process killed mid-write leaves only its temporary file, which
// remove_stale_temporaries deletes at the next start of the same run.
#pragma once

#include <string>
#include <vector>

namespace liednet {

// The temporary name write_file_atomically uses for `path` in this process:
// "<path>.tmp.<pid>", or where the file name is too long to take the suffix
// within 255 bytes, "<its first bytes>~<hash of the name>.tmp.<pid>".
std::string temporary_path(const std::string& path);
// The part of a temporary's file name before ".tmp.<pid>", for the file name `filename`.
std::string temporary_stem(const std::string& filename);

// Whether a file name has the form temporary_path gives ("<name>.tmp.<digits>"); `pid` receives the digits.
bool is_temporary_name(const std::string& filename, long* pid = nullptr);

void write_file_atomically(const std::string& path, const std::string& bytes);

// Deletes the temporary files in `folder` (not its subfolders; nothing when it
// does not exist) of writers that are no longer running: those of another
// process that is still alive are kept. Call it before this process writes
// there. Returns the paths removed.
std::vector<std::string> remove_stale_temporaries(const std::string& folder);

// The same for the temporary files of the given target files only
// ("<path>.tmp.<pid>"), reading each folder once.
std::vector<std::string> remove_stale_temporaries_of(const std::vector<std::string>& paths);

}  // namespace liednet
