// catalog: everything Scan learns before any file data is copied — the walked
// tree, the lost inodes, where the Cyrus spool and config directory are, where
// each node goes in DIR/, and which user it belongs to.
//
// Steps (each a function below, in this order):
//  1. walk from the root with the tolerant walker;
//  2. inode scan: live inodes the walk did not reach; lost directories are
//     walked as roots of their own (a lost dir found inside a later one is
//     re-attached there), lost files become single-node roots;
//  3. discovery: directories holding cyrus.header are mailboxes (N/I read from
//     the header); their paths give the partition root and the layout (uuid or
//     legacy, hashimapspool); the directory holding mailboxes.db is the config
//     directory; --spool-path/--config-path override. Without any mailbox the
//     whole filesystem is treated as the spool;
//  4. rehome: a lost mailbox directory goes to spool/<its layout path> (missing
//     parents are created as synthetic directories); a lost file whose SHA1
//     equals a GUID in some salvaged cyrus.index goes to that folder as <uid>.;
//     everything else goes to lost+found/#<ino> with a note;
//  5. output paths (sanitised names) and groups: config, rest, one per user.
// The catalog is immutable afterwards and shared read-only by the extractors.
// Output paths are not stored whole (that was ~100 bytes a file): each node
// keeps the offset of its sanitised last component in one arena, and
// OutPath() joins the components up the parent chain.
// Memory: everything per node (tree nodes and names, out_name, the group
// member lists, and the builder's temporary indexes) is a SpillArray on the
// catalog's SpillSpace (salvage/spill_array.h): on the heap below the space's
// threshold, beyond it in unlinked files next to the output with resident
// pages dropped as the space's budget says. What stays on the heap grows with
// directories and damage only (DirStates, mailboxes, notes), plus, while it
// is built, the sibling names of the directories being named (the largest
// directory at most).
#pragma once

#include <ext2fs/ext2fs.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/cyrus_layout.h"
#include "common/status.h"
#include "salvage/manifest.h"
#include "salvage/spill_array.h"
#include "salvage/tree.h"
#include "salvage/volume.h"

namespace mr::salvage {

inline constexpr std::int32_t kGroupNone = -1;    // not extracted
inline constexpr std::int32_t kGroupConfig = 0;   // DIR/conf
inline constexpr std::int32_t kGroupRest = 1;     // spool outside user mailboxes + lost+found
inline constexpr std::int32_t kFirstUserGroup = 2;

struct CatalogOptions {
  std::optional<std::string> spool_path;   // path inside the filesystem
  std::optional<std::string> config_path;
  // Where per-node arrays spill (SpillSpace): dir "" keeps them on the heap.
  SpillSpace::Options spill;
};

struct Catalog {
  static constexpr std::uint32_t kNoOut = 0xffffffffu;  // out_name: not extracted
  static constexpr std::uint32_t kOutSame = 0xfffffffeu;  // out_name: the entry's own name (safe as it is)
  static constexpr std::uint32_t kOutRoot = 0x80000000u;  // out_name: the path is this name alone

  Catalog() = default;
  explicit Catalog(std::shared_ptr<SpillSpace> s) : space(s), tree(s), out_name(s), member_nodes(s) {}

  std::shared_ptr<SpillSpace> space = SpillSpace::Heap();  // holds the per-node arrays below
  Tree tree;
  // Per node: kOutSame (its output name is its entry name), the offset in
  // out_names of its output name (a sanitised or de-duplicated entry name,
  // or a whole prefix "spool", "conf", "lost+found/#<ino>" with kOutRoot), or
  // kNoOut. A node without kOutRoot goes to OutPath(parent) + "/" + its
  // name; its parent is always extracted.
  SpillArray<std::uint32_t> out_name;
  std::string out_names;                   // NUL-terminated names that differ from the entry's
  std::vector<std::string> group_names;    // index = group id; users from kFirstUserGroup
  // Group g's extracted nodes, ascending: member_nodes[member_start[g], member_start[g + 1]).
  SpillArray<std::int32_t> member_nodes;
  std::vector<std::uint64_t> member_start;
  std::vector<LostRecord> lost_found;      // placement notes for lost+found roots
  std::vector<DamageNote> damage;          // walk/scan findings
  std::vector<std::string> notes;          // informational (not damage)
  std::string spool_path = "/";            // inside the filesystem
  std::string config_path;                 // "" when not found
  CyrusLayout layout = CyrusLayout::kUuid;
  bool hashimapspool = false;
  std::uint64_t mailboxes = 0;
  std::uint64_t rehomed_dirs = 0, rehomed_files = 0;
  std::uint64_t live_inodes = 0;
  std::uint64_t dir_nodes = 0, other_nodes = 0;  // tree nodes that are directories / anything else

  std::span<const std::int32_t> Members(std::int32_t group) const {
    if (group < 0 || static_cast<std::size_t>(group) + 1 >= member_start.size()) return {};
    return std::span<const std::int32_t>(member_nodes.data() + member_start[group],
                                         member_start[group + 1] - member_start[group]);
  }
  // Once per unit of work that reads the catalog (salvage/spill_array.h, Tick).
  void Tick() const { space->Tick(); }

  bool Extracted(std::int32_t node) const { return out_name[node] != kNoOut; }
  std::string_view OutName(std::int32_t node) const {
    if (out_name[node] == kOutSame) return tree.Name(node);
    return std::string_view(out_names.c_str() + (out_name[node] & ~kOutRoot));
  }
  bool OutRoot(std::int32_t node) const {
    return out_name[node] != kNoOut && out_name[node] != kOutSame && (out_name[node] & kOutRoot);
  }
  // The node's path relative to DIR ("" when not extracted).
  std::string OutPath(std::int32_t node) const;
  // The same into *out, reusing its buffer (no allocation once it is big enough).
  void OutPathInto(std::int32_t node, std::string* out) const;
};

// kInvalidArgument when an override path does not exist in the filesystem.
Result<Catalog> BuildCatalog(ext2_filsys fs, const CatalogOptions& opts);

// Reads a whole small file (<= cap bytes) by inode; kCorrupt beyond the cap.
Result<std::vector<std::uint8_t>> ReadSmallFile(ext2_filsys fs, std::uint32_t ino, std::uint64_t cap,
                                                bool* damaged);

}  // namespace mr::salvage
