// walker: reads directory trees with our own tolerant directory reader.
//
// For each directory: read its inode, map its blocks (salvage/blockmap.h),
// read each block on its own (ext2fs_read_dir_block4: the buffer is kept even
// on a checksum error), parse it defensively (salvage/dir_parse.h). One bad
// block costs only the entries inside it; the directory is then marked
// incomplete. Entries from garbled blocks are kept only when their inode is
// live and of the type the entry claims. A directory reached twice (a loop or
// a corrupt hard link) is walked once. htree directories are read linearly.
// Breadth-first, so each directory's entries are one run of nodes
// (DirState::first_child/end_child) and the parents of the nodes of a walk
// do not decrease. Memory is one node per entry plus two inode bitmaps, all
// on the tree's SpillSpace.
// Thread-safety: one handle per Walker; the Tree is owned by the caller.
#pragma once

#include <ext2fs/ext2fs.h>

#include <cstdint>
#include <string>
#include <vector>

#include "salvage/tree.h"
#include "salvage/volume.h"

namespace mr::salvage {

class Walker {
 public:
  Walker(ext2_filsys fs, Tree* tree) : fs_(fs), tree_(tree), visited_(tree->space), reached_(tree->space) {}

  // Adds a root node for directory `ino` (parent -1 unless given) and walks
  // everything below it. Returns the root's node index. A directory already
  // walked as the root of an earlier walk is re-attached under this one.
  std::int32_t Walk(std::uint32_t ino, std::int32_t parent, const std::string& name);

  // Whether a node added so far has inode `ino`.
  bool Reached(std::uint32_t ino) const { return reached_.Has(ino); }
  bool Visited(std::uint32_t dir_ino) const { return visited_.Has(dir_ino); }
  // ".." of the last directory read with ReadDir (0 if none).
  std::vector<DamageNote>& notes() { return notes_; }

 private:
  std::int32_t AddNode(std::uint32_t ino, std::int32_t parent, NodeType t, std::string name,
                       bool resynced);
  void ReadDir(std::int32_t node, std::vector<std::int32_t>* subdirs);

  ext2_filsys fs_;
  Tree* tree_;
  SpillBits visited_;  // directories walked
  SpillBits reached_;  // inodes of the nodes added
  std::vector<DamageNote> notes_;
};

NodeType TypeFromMode(std::uint16_t mode);

}  // namespace mr::salvage
