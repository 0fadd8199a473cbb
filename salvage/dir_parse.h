// dir_parse: a defensive parser for one ext2/3/4 directory block (linear
// entries; htree index blocks parse as one empty entry and yield nothing).
//
// Valid entries are taken as they are. At the first invalid entry the block
// is marked unclean and the parser resynchronises: it scans forward on 4-byte
// boundaries for the next plausible entry (inode in range, sane rec_len and
// name_len, no '/', NUL or control bytes in the name, known file type) and
// continues from there; such entries are flagged `resynced` so the caller can
// check them against their inode before trusting them. Never reads outside
// the buffer. Pure; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mr::salvage {

struct RawDirEntry {
  std::uint32_t ino = 0;
  std::uint8_t file_type = 0;  // EXT2_FT_*; 0 = unknown
  std::string name;
  bool resynced = false;
};

struct DirBlockParse {
  std::vector<RawDirEntry> entries;  // excluding "." and ".."
  std::uint32_t dotdot = 0;          // inode of "..", when seen
  bool clean = true;
  std::string problem;  // first problem, "" when clean
};

struct DirParseParams {
  std::uint32_t blocksize = 4096;
  std::uint32_t inodes_count = 0;
  bool has_filetype = true;
};

DirBlockParse ParseDirBlock(const std::uint8_t* buf, std::size_t size, const DirParseParams& p);
// Inline-data directories: i_block holds a 4-byte parent inode then entries;
// the xattr part holds entries only. `skip_parent` selects the first form.
DirBlockParse ParseInlineDir(const std::uint8_t* buf, std::size_t size, bool skip_parent,
                             const DirParseParams& p);

}  // namespace mr::salvage
