// previous: what a killed run's salvage.json says about the files it already
// extracted, for resume, without holding all of it in memory.
//
// Load streams the previous manifest once (a SAX parse: no JSON document in
// memory) and copies the "files" records resume needs (path, inode, size,
// SHA1, intact?) into an unlinked temporary file in `spill_dir`, in blocks of
// kBlock records; memory keeps only each block's first path and offset
// (~2 bytes a file). salvage.json lists files sorted by path (manifest.h), so
// the blocks are sorted; a manifest whose files are not sorted, or that does
// not parse, is refused (kCorrupt) and the run starts from scratch.
// Lookup answers a batch of paths (one group's) in path order, reading each
// block it needs once: O(the group) memory, O(the group's blocks) reads.
// Thread-safety: Lookup from one thread at a time.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace mr::salvage {

// One file of the previous run; `found` false when it did not list the path.
struct PreviousFile {
  bool found = false;
  bool intact = false;  // no damaged ranges, no journal fallback
  std::uint32_t ino = 0;
  std::uint64_t size = 0;
  std::string sha1;     // hex, as recorded
};

class PreviousIndex {
 public:
  static constexpr std::size_t kBlock = 64;

  static Result<std::unique_ptr<PreviousIndex>> Load(const std::string& manifest_path, const std::string& spill_dir);
  ~PreviousIndex();
  PreviousIndex(const PreviousIndex&) = delete;
  PreviousIndex& operator=(const PreviousIndex&) = delete;

  // out[i] = the previous run's record for paths[i]. REQUIRES: paths sorted.
  Status Lookup(const std::vector<std::string_view>& paths, std::vector<PreviousFile>* out) const;
  std::uint64_t files() const { return files_; }

 private:
  PreviousIndex() = default;
  struct Block {
    std::string first;     // first path in the block
    std::uint64_t offset;  // in the spill file
  };
  Status ReadBlock(std::size_t b, std::vector<std::pair<std::string, PreviousFile>>* out) const;

  int fd_ = -1;
  std::string name_;
  std::uint64_t bytes_ = 0, files_ = 0;
  std::vector<Block> blocks_;
};

}  // namespace mr::salvage
