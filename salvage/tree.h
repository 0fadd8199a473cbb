// tree: what Scan found in the filesystem, before any file data is read.
//
// Nodes are directory entries (or the roots of walks): the filesystem root is
// node 0; every lost directory or file found by the inode scan becomes a root
// of its own (parent -1) until rehome decides where it goes. A node's name is
// the raw on-disk name (sanitised only when an output path is built).
// Plain data; no libext2fs types.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mr::salvage {

enum class NodeType : std::uint8_t { kUnknown, kFile, kDir, kSymlink, kOther };

struct Node {
  std::uint32_t ino = 0;
  std::int32_t parent = -1;
  NodeType type = NodeType::kUnknown;
  bool resynced = false;  // came from a garbled directory block; verify against the inode
  std::string name;
};

struct DirState {
  std::int32_t node = -1;
  bool complete = true;
  std::string problem;  // why it is incomplete
  bool from_journal = false;  // its inode or a listing block came from the journal fallback
};

struct Tree {
  std::vector<Node> nodes;
  std::vector<DirState> dirs;          // one per directory whose listing was read
  std::vector<std::int32_t> lost;      // roots found by the inode scan (files and dirs)
  std::vector<std::uint32_t> lost_parent_hint;  // parallel to lost: ".." of a lost dir, or 0

  // "/a/b" for nodes under node 0, "#<ino>/a" for nodes under a lost root.
  std::string PathOf(std::int32_t node) const;
  // Index into dirs for a directory node, or -1.
  std::int32_t DirIndex(std::int32_t node) const;
  std::vector<std::int32_t> dir_index_of_node;  // node -> dirs index or -1
};

}  // namespace mr::salvage
