#include "salvage/dir_parse.h"

namespace mr::salvage {
namespace {

constexpr unsigned kHeader = 8;  // inode(4) rec_len(2) name_len(1) file_type(1)
constexpr std::uint8_t kMaxFileType = 7;

std::uint16_t Le16(const std::uint8_t* p) { return std::uint16_t(p[0] | (p[1] << 8)); }
std::uint32_t Le32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) | (std::uint32_t(p[1]) << 8) | (std::uint32_t(p[2]) << 16) |
         (std::uint32_t(p[3]) << 24);
}

std::uint32_t RecLen(const std::uint8_t* p, std::uint32_t blocksize) {
  std::uint32_t len = Le16(p + 4);
  if (blocksize < 65536) return len;
  if (len == 65535 || len == 0) return blocksize;
  return (len & 65532) | ((len & 3) << 16);
}

enum class Verdict { kOk, kBad };

// Checks the entry at off; `strict` adds the plausibility rules used when resyncing.
Verdict Check(const std::uint8_t* buf, std::size_t size, std::size_t off, const DirParseParams& p,
              bool strict, std::uint32_t* rec_len_out) {
  if (off + kHeader > size) return Verdict::kBad;
  const std::uint8_t* e = buf + off;
  const std::uint32_t ino = Le32(e);
  const std::uint32_t rec_len = RecLen(e, p.blocksize);
  const unsigned name_len = e[6];
  const std::uint8_t ft = e[7];
  if (rec_len < kHeader + name_len || rec_len % 4 != 0 || rec_len > size - off) return Verdict::kBad;
  if (rec_len < 12 && !(rec_len == kHeader && name_len == 0)) return Verdict::kBad;
  if (ino != 0) {
    if (ino > p.inodes_count || name_len == 0) return Verdict::kBad;
    if (p.has_filetype && ft > kMaxFileType) return Verdict::kBad;
    for (unsigned i = 0; i < name_len; ++i) {
      const std::uint8_t c = e[kHeader + i];
      if (c == '/' || c == 0) return Verdict::kBad;
      if (strict && (c < 0x20 || c == 0x7f)) return Verdict::kBad;
    }
  } else if (strict) {
    return Verdict::kBad;  // resync only on live entries
  }
  if (strict && p.has_filetype && ft == 0) return Verdict::kBad;
  *rec_len_out = rec_len;
  return Verdict::kOk;
}

void Parse(const std::uint8_t* buf, std::size_t size, std::size_t start, const DirParseParams& p,
           DirBlockParse* out) {
  std::size_t off = start;
  bool resyncing = false;
  while (off + kHeader <= size) {
    std::uint32_t rec_len = 0;
    if (Check(buf, size, off, p, resyncing, &rec_len) != Verdict::kOk) {
      if (!resyncing) {
        out->clean = false;
        if (out->problem.empty())
          out->problem = "garbled directory entry at offset " + std::to_string(off);
        resyncing = true;
      }
      off += 4;
      continue;
    }
    const std::uint8_t* e = buf + off;
    const std::uint32_t ino = Le32(e);
    if (ino != 0) {
      std::string name(reinterpret_cast<const char*>(e + kHeader), e[6]);
      if (name == ".") {
      } else if (name == "..") {
        out->dotdot = ino;
      } else {
        out->entries.push_back({ino, p.has_filetype ? e[7] : std::uint8_t(0), std::move(name), !out->clean});
      }
    }
    resyncing = resyncing && ino == 0;
    off += rec_len;
  }
}

}  // namespace

DirBlockParse ParseDirBlock(const std::uint8_t* buf, std::size_t size, const DirParseParams& p) {
  DirBlockParse out;
  Parse(buf, size, 0, p, &out);
  return out;
}

DirBlockParse ParseInlineDir(const std::uint8_t* buf, std::size_t size, bool skip_parent,
                             const DirParseParams& p) {
  DirBlockParse out;
  std::size_t start = 0;
  if (skip_parent) {
    if (size < 4) {
      out.clean = false;
      out.problem = "inline directory too short";
      return out;
    }
    out.dotdot = Le32(buf);
    start = 4;
  }
  Parse(buf, size, start, p, &out);
  return out;
}

}  // namespace mr::salvage
