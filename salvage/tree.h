// tree: what Scan found in the filesystem, before any file data is read.
//
// Nodes are directory entries (or the roots of walks): the filesystem root is
// node 0; every lost directory or file found by the inode scan becomes a root
// of its own (parent -1) until rehome decides where it goes. A node's name is
// the raw on-disk name (sanitised only when an output path is built).
// Memory: a node is 16 bytes; names live in a NameArena (one never-moving
// byte array, 32-bit offsets). Both are SpillArrays (salvage/spill_array.h)
// on the tree's SpillSpace: on the heap while small, in an unlinked file
// beyond the space's threshold, so a huge tree costs bounded RAM.
// Plain data; no libext2fs types. Thread-safety: as SpillArray (written by
// one thread, then read by many).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "salvage/spill_array.h"

namespace mr::salvage {

enum class NodeType : std::uint8_t { kUnknown, kFile, kDir, kSymlink, kOther };

// Append-only byte arena; Add returns a 32-bit handle valid for its lifetime
// (the bytes never move: views into them stay valid).
class NameArena {
 public:
  NameArena() = default;
  explicit NameArena(std::shared_ptr<SpillSpace> space) : bytes_(std::move(space), std::size_t{1} << 32) {}
  std::uint32_t Add(std::string_view s);
  std::string_view Get(std::uint32_t at, std::uint16_t len) const {
    if (len == 0) return {};
    return std::string_view(bytes_.data() + at, len);
  }
  bool spilled() const { return bytes_.spilled(); }

 private:
  SpillArray<char> bytes_{SpillSpace::Heap(), std::size_t{1} << 32};
};

struct Node {
  std::uint32_t ino = 0;
  std::int32_t parent = -1;
  std::uint32_t name_at = 0;   // in Tree::names
  std::uint16_t name_len = 0;
  NodeType type = NodeType::kUnknown;
  bool resynced = false;  // came from a garbled directory block; verify against the inode
};

struct DirState {
  std::int32_t node = -1;
  bool complete = true;
  std::string problem;  // why it is incomplete
  bool from_journal = false;  // its inode or a listing block came from the journal fallback
  // The nodes its listing added: [first_child, end_child) (the walker adds a
  // directory's entries in one run; salvage/catalog.cc indexes them by run).
  std::int32_t first_child = 0, end_child = 0;
};

struct Tree {
  Tree() = default;
  explicit Tree(std::shared_ptr<SpillSpace> s) : space(s), nodes(s), names(s) {}

  std::shared_ptr<SpillSpace> space = SpillSpace::Heap();  // where nodes and names live
  SpillArray<Node> nodes;
  NameArena names;
  std::vector<DirState> dirs;          // one per directory whose listing was read
  std::vector<std::int32_t> lost;      // roots found by the inode scan (files and dirs)
  // ".." of each directory walked as a root (the fs root and lost dirs), when
  // its listing showed one: where a lost directory used to hang.
  std::unordered_map<std::int32_t, std::uint32_t> root_dotdot;

  // Appends a node; returns its index. Names longer than 65535 bytes are cut
  // (ext2/3/4 names are at most 255).
  std::int32_t Add(std::uint32_t ino, std::int32_t parent, NodeType type, bool resynced, std::string_view name);
  std::string_view Name(std::int32_t node) const { return names.Get(nodes[node].name_at, nodes[node].name_len); }
  void SetName(std::int32_t node, std::string_view name);

  // "/a/b" for nodes under node 0, "#<ino>/a" for nodes under a lost root.
  std::string PathOf(std::int32_t node) const;
  // Index into dirs for a directory node, or -1.
  std::int32_t DirIndex(std::int32_t node) const;
  void SetDirIndex(std::int32_t node, std::int32_t dir) { dir_index_of_node_[node] = dir; }

 private:
  // Only directories are in it (a vector over all nodes cost 4 bytes a file).
  std::unordered_map<std::int32_t, std::int32_t> dir_index_of_node_;
};

}  // namespace mr::salvage
