#include "salvage/walker.h"

#include <ext2fs/ext2_err.h>
#include <sys/stat.h>

#include <algorithm>
#include <deque>

#include "salvage/blockmap.h"
#include "salvage/dir_parse.h"
#include "salvage/ext2_error.h"
#include "salvage/inode.h"
#include "salvage/journal_overlay.h"
#include "salvage/source.h"

namespace mr::salvage {
namespace {

constexpr std::uint64_t kMaxDirBytes = 4ull << 30;

NodeType TypeFromFt(std::uint8_t ft) {
  switch (ft) {
    case EXT2_FT_REG_FILE: return NodeType::kFile;
    case EXT2_FT_DIR: return NodeType::kDir;
    case EXT2_FT_SYMLINK: return NodeType::kSymlink;
    case 0: return NodeType::kUnknown;
    default: return NodeType::kOther;
  }
}

}  // namespace

NodeType TypeFromMode(std::uint16_t mode) {
  if (S_ISREG(mode)) return NodeType::kFile;
  if (S_ISDIR(mode)) return NodeType::kDir;
  if (S_ISLNK(mode)) return NodeType::kSymlink;
  if (mode == 0) return NodeType::kUnknown;
  return NodeType::kOther;
}

std::int32_t Walker::AddNode(std::uint32_t ino, std::int32_t parent, NodeType t, std::string name,
                             bool resynced) {
  reached_.Set(ino);
  tree_->nodes.Tick();
  return tree_->Add(ino, parent, t, resynced, name);
}

std::int32_t Walker::Walk(std::uint32_t ino, std::int32_t parent, const std::string& name) {
  std::int32_t root = AddNode(ino, parent, NodeType::kDir, name, false);
  visited_.Set(ino);
  std::deque<std::int32_t> queue{root};
  std::vector<std::int32_t> subdirs;
  while (!queue.empty()) {
    std::int32_t n = queue.front();
    queue.pop_front();
    subdirs.clear();
    ReadDir(n, &subdirs);
    queue.insert(queue.end(), subdirs.begin(), subdirs.end());
  }
  return root;
}

void Walker::ReadDir(std::int32_t node, std::vector<std::int32_t>* subdirs) {
  const std::uint32_t dir_ino = tree_->nodes[node].ino;
  DirState st;
  st.node = node;
  auto fail = [&](const std::string& why) {
    if (st.complete) st.problem = why;
    st.complete = false;
  };
  DirParseParams pp;
  pp.blocksize = fs_->blocksize;
  pp.inodes_count = fs_->super->s_inodes_count;
  pp.has_filetype = ext2fs_has_feature_filetype(fs_->super);
  std::vector<DirBlockParse> parsed;

  auto inode = ReadInode(fs_, dir_ino);
  JournalFallbackScope listing;  // blocks of the listing served from older journal copies
  if (!inode.ok()) {
    fail(inode.error().message);
  } else if (!inode->live || !IsDir(inode->mode)) {
    fail("inode " + std::to_string(dir_ino) + " is not a live directory");
  } else if (inode->flags & EXT4_INLINE_DATA_FL) {
    size_t sz = 0;
    errcode_t rc = ext2fs_inline_data_size(fs_, dir_ino, &sz);
    if (rc != 0 || sz > fs_->blocksize) {
      fail(rc ? Ext2Error("inline directory", rc).message : "inline directory too large");
    } else {
      std::vector<std::uint8_t> buf(std::max<size_t>(fs_->blocksize, EXT4_MIN_INLINE_DATA_SIZE));
      size_t got = buf.size();
      ext2_inode_large raw = inode->raw;
      rc = ext2fs_inline_data_get(fs_, dir_ino, reinterpret_cast<ext2_inode*>(&raw), buf.data(), &got);
      if (rc != 0) {
        fail(Ext2Error("inline directory", rc).message);
      } else {
        got = std::min(got, buf.size());
        const size_t first = std::min<size_t>(got, EXT4_MIN_INLINE_DATA_SIZE);
        parsed.push_back(ParseInlineDir(buf.data(), first, true, pp));
        if (got > first) parsed.push_back(ParseInlineDir(buf.data() + first, got - first, false, pp));
      }
    }
  } else {
    const std::uint64_t bs = fs_->blocksize;
    std::uint64_t size = std::min(inode->size, kMaxDirBytes);
    if (inode->size > kMaxDirBytes) fail("directory size beyond 4 GiB");
    const std::uint64_t nblocks = (size + bs - 1) / bs;
    BlockMap map = MapBlocks(fs_, *reinterpret_cast<const ext2_inode*>(&inode->raw), nblocks);
    if (!map.bad.empty()) fail(map.problem);
    std::uint64_t covered = 0;
    std::vector<std::uint8_t> buf(bs);
    for (const auto& run : map.runs) {
      covered += run.len;
      if (run.uninit) continue;
      for (std::uint64_t i = 0; i < run.len; ++i) {
        const std::uint64_t blk = run.pblk + i;
        ReadDamageScope scope;
        errcode_t rc = ext2fs_read_dir_block4(fs_, blk, buf.data(), 0, dir_ino);
        // The handle ignores checksum errors: verify here (htree nodes included).
        if (rc == 0 && ext2fs_has_feature_metadata_csum(fs_->super) &&
            !ext2fs_dir_block_csum_verify(fs_, dir_ino, reinterpret_cast<ext2_dir_entry*>(buf.data())))
          rc = EXT2_ET_DIR_CSUM_INVALID;
        if (rc != 0 && rc != EXT2_ET_DIR_CSUM_INVALID) {
          fail(Ext2Error("directory block " + std::to_string(blk), rc).message);
          continue;
        }
        if (!scope.ranges().empty()) fail("directory block " + std::to_string(blk) + " unreadable");
        DirBlockParse p = ParseDirBlock(buf.data(), buf.size(), pp);
        if (rc == EXT2_ET_DIR_CSUM_INVALID)  // a changed byte may be a changed name
          fail("directory block " + std::to_string(blk) + ": checksum mismatch" +
               (p.clean ? std::string() : "; " + p.problem));
        else if (!p.clean)
          fail("directory block " + std::to_string(blk) + ": " + p.problem);
        parsed.push_back(std::move(p));
      }
    }
    if (covered < nblocks && map.bad.empty()) fail("directory has unmapped blocks");
  }

  st.from_journal = (inode.ok() && inode->from_journal) || !listing.pieces().empty();
  st.first_child = static_cast<std::int32_t>(tree_->nodes.size());
  for (auto& p : parsed) {
    for (auto& e : p.entries) {
      NodeType t = TypeFromFt(e.file_type);
      if (e.resynced || t == NodeType::kUnknown) {
        auto ei = ReadInode(fs_, e.ino);
        if (!ei.ok() || !ei->live) {
          if (!e.resynced) fail("entry '" + e.name + "': inode " + std::to_string(e.ino) + " missing");
          continue;
        }
        NodeType it = TypeFromMode(ei->mode);
        if (t != NodeType::kUnknown && it != t) continue;  // garbage that looked like an entry
        t = it;
      }
      if (t == NodeType::kDir) {
        if (visited_.Has(e.ino)) {
          // A lost root walked earlier turns out to live here: re-attach it.
          auto it = std::find_if(tree_->lost.begin(), tree_->lost.end(), [&](std::int32_t r) {
            return r >= 0 && tree_->nodes[r].ino == e.ino && tree_->nodes[r].parent < 0;
          });
          if (it != tree_->lost.end()) {
            tree_->nodes[*it].parent = node;
            tree_->SetName(*it, e.name);
            *it = -1;
          } else {
            notes_.push_back({"directory_loop", "directory inode " + std::to_string(e.ino) +
                                                    " reached twice (at '" + e.name + "'); walked once"});
          }
          continue;
        }
        visited_.Set(e.ino);
        subdirs->push_back(AddNode(e.ino, node, t, std::move(e.name), e.resynced));
      } else {
        AddNode(e.ino, node, t, std::move(e.name), e.resynced);
      }
    }
  }
  st.end_child = static_cast<std::int32_t>(tree_->nodes.size());
  if (tree_->nodes[node].parent < 0)
    for (const auto& p : parsed)
      if (p.dotdot != 0) {
        tree_->root_dotdot[node] = p.dotdot;
        break;
      }
  tree_->SetDirIndex(node, static_cast<std::int32_t>(tree_->dirs.size()));
  tree_->dirs.push_back(std::move(st));
}

}  // namespace mr::salvage
