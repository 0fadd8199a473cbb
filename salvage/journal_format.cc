#include "salvage/journal_format.h"

#include <ext2fs/ext2fs.h>

#include <cstdio>

namespace mr::salvage::jbd2 {

uint16_t Be16(std::span<const uint8_t> b, size_t off) {
  return static_cast<uint16_t>((b[off] << 8) | b[off + 1]);
}

uint32_t Be32(std::span<const uint8_t> b, size_t off) {
  return (uint32_t{b[off]} << 24) | (uint32_t{b[off + 1]} << 16) | (uint32_t{b[off + 2]} << 8) |
         uint32_t{b[off + 3]};
}

uint64_t Be64(std::span<const uint8_t> b, size_t off) {
  return (uint64_t{Be32(b, off)} << 32) | Be32(b, off + 4);
}

void PutBe32(std::span<uint8_t> b, size_t off, uint32_t v) {
  b[off] = static_cast<uint8_t>(v >> 24);
  b[off + 1] = static_cast<uint8_t>(v >> 16);
  b[off + 2] = static_cast<uint8_t>(v >> 8);
  b[off + 3] = static_cast<uint8_t>(v);
}

BlockHeader ReadHeader(std::span<const uint8_t> b) {
  return BlockHeader{Be32(b, 0), Be32(b, 4), Be32(b, 8)};
}

uint32_t Superblock::FastCommitBlocks() const {
  if (!HasFastCommit()) return 0;
  return num_fc_blocks ? num_fc_blocks : kDefaultFastCommitBlocks;
}

size_t Superblock::TagBytes() const {
  if (HasCsumV3()) return 16;
  size_t n = 12;
  if (HasCsumV2()) n += 2;
  return Has64Bit() ? n : n - 4;
}

std::vector<std::string> Superblock::FeatureNames() const {
  std::vector<std::string> out;
  if (compat & kCompatChecksum) out.push_back("checksum_v1");
  if (incompat & kIncompatRevoke) out.push_back("revoke");
  if (incompat & kIncompat64Bit) out.push_back("64bit");
  if (incompat & kIncompatAsyncCommit) out.push_back("async_commit");
  if (incompat & kIncompatCsumV2) out.push_back("csum_v2");
  if (incompat & kIncompatCsumV3) out.push_back("csum_v3");
  if (incompat & kIncompatFastCommit) out.push_back("fast_commit");
  if (incompat & ~kIncompatKnown) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "unknown_incompat_0x%x", incompat & ~kIncompatKnown);
    out.push_back(buf);
  }
  return out;
}

namespace {

Error Bad(const std::string& what) { return Error{Code::kCorrupt, "journal superblock: " + what}; }

}  // namespace

Result<Superblock> ParseSuperblock(std::span<const uint8_t> b, uint32_t fs_blocksize,
                                   uint64_t journal_blocks) {
  if (b.size() < kSuperblockBytes) return Bad("block shorter than 1024 bytes");
  Superblock sb;
  BlockHeader h = ReadHeader(b);
  if (h.magic != kMagic) return Bad("bad magic");
  if (h.type != kSuperblockV1 && h.type != kSuperblockV2)
    return Bad("block type " + std::to_string(h.type) + " is not a superblock");
  sb.type = h.type;
  sb.blocksize = Be32(b, 0x0C);
  sb.maxlen = Be32(b, 0x10);
  sb.first = Be32(b, 0x14);
  sb.sequence = Be32(b, 0x18);
  sb.start = Be32(b, 0x1C);
  sb.error = static_cast<int32_t>(Be32(b, 0x20));
  if (sb.type == kSuperblockV2) {
    sb.compat = Be32(b, 0x24);
    sb.incompat = Be32(b, 0x28);
    sb.ro_compat = Be32(b, 0x2C);
    for (size_t i = 0; i < 16; ++i) sb.uuid[i] = b[0x30 + i];
    sb.nr_users = Be32(b, 0x40);
    sb.checksum_type = b[0x50];
    sb.num_fc_blocks = Be32(b, 0x54);
    sb.checksum = Be32(b, 0xFC);
  }
  if (sb.blocksize != fs_blocksize)
    return Bad("s_blocksize " + std::to_string(sb.blocksize) + " differs from the filesystem's " +
               std::to_string(fs_blocksize));
  if (sb.incompat & ~kIncompatKnown) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "unknown incompat features 0x%x", sb.incompat & ~kIncompatKnown);
    return Error{Code::kUnsupported, std::string("journal superblock: ") + buf};
  }
  if (sb.HasCsumV2() && sb.HasCsumV3()) return Bad("both csum_v2 and csum_v3 are set");
  if (sb.HasCsumV2or3() && sb.checksum_type != kChksumCrc32c)
    return Bad("checksum type " + std::to_string(sb.checksum_type) + " is not crc32c");
  if (sb.maxlen < 2 || sb.maxlen > journal_blocks)
    return Bad("s_maxlen " + std::to_string(sb.maxlen) + " does not fit the journal inode (" +
               std::to_string(journal_blocks) + " blocks)");
  if (sb.FastCommitBlocks() >= sb.maxlen) return Bad("fast-commit area larger than the journal");
  if (sb.first < 1 || sb.first >= sb.LogEnd())
    return Bad("s_first " + std::to_string(sb.first) + " out of range");
  if (sb.start != 0 && (sb.start < sb.first || sb.start >= sb.LogEnd()))
    return Bad("s_start " + std::to_string(sb.start) + " out of range");
  return sb;
}

uint32_t Crc32c(uint32_t seed, std::span<const uint8_t> data) {
  return ext2fs_crc32c_le(seed, data.data(), data.size());
}

uint32_t Crc32Be(uint32_t seed, std::span<const uint8_t> data) {
  return ext2fs_crc32_be(seed, data.data(), data.size());
}

uint32_t CsumSeed(const Superblock& sb) { return Crc32c(~0u, sb.uuid); }

namespace {

// crc32c over `block` as if the 4 bytes at `field` were zero.
uint32_t CrcWithFieldZeroed(uint32_t seed, std::span<const uint8_t> block, size_t field) {
  static constexpr uint8_t kZero[4] = {0, 0, 0, 0};
  uint32_t c = Crc32c(seed, block.first(field));
  c = Crc32c(c, kZero);
  return Crc32c(c, block.subspan(field + 4));
}

}  // namespace

bool VerifySuperblockChecksum(const Superblock& sb, std::span<const uint8_t> block) {
  if (!sb.HasCsumV2or3()) return true;
  if (block.size() < kSuperblockBytes) return false;
  return CrcWithFieldZeroed(~0u, block.first(kSuperblockBytes), 0xFC) == sb.checksum;
}

bool VerifyBlockTail(uint32_t seed, std::span<const uint8_t> block) {
  if (block.size() < kHeaderBytes + kBlockTailBytes) return false;
  size_t tail = block.size() - kBlockTailBytes;
  return CrcWithFieldZeroed(seed, block, tail) == Be32(block, tail);
}

bool VerifyCommitChecksum(uint32_t seed, std::span<const uint8_t> block) {
  static constexpr size_t kChksum0 = 16;
  if (block.size() < kChksum0 + 4) return false;
  return CrcWithFieldZeroed(seed, block, kChksum0) == Be32(block, kChksum0);
}

bool VerifyDataChecksum(const Superblock& sb, uint32_t seed, uint32_t sequence, uint32_t tag_csum,
                        std::span<const uint8_t> data) {
  if (!sb.HasCsumV2or3()) return true;
  uint8_t seq[4];
  PutBe32(seq, 0, sequence);
  uint32_t c = Crc32c(Crc32c(seed, seq), data);
  return sb.HasCsumV3() ? c == tag_csum : (c & 0xFFFFu) == (tag_csum & 0xFFFFu);
}

}  // namespace mr::salvage::jbd2
