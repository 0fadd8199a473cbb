// JBD2 on-disk format: constants, big-endian field access, the journal
// superblock and the checksum rules (v1 crc32, v2/v3 crc32c).
//
// Pure functions over byte buffers; no libext2fs handle, no I/O. Facts from
// the kernel's Documentation/filesystems/ext4/journal.rst; the code is ours.
// Every decoder checks the buffer length before reading a field.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace mr::salvage::jbd2 {

inline constexpr uint32_t kMagic = 0xC03B3998u;

enum BlockType : uint32_t {
  kDescriptor = 1,
  kCommit = 2,
  kSuperblockV1 = 3,
  kSuperblockV2 = 4,
  kRevoke = 5,
};

// Feature bits.
inline constexpr uint32_t kCompatChecksum = 0x1;  // v1: crc32 in the commit block
inline constexpr uint32_t kIncompatRevoke = 0x1;
inline constexpr uint32_t kIncompat64Bit = 0x2;
inline constexpr uint32_t kIncompatAsyncCommit = 0x4;
inline constexpr uint32_t kIncompatCsumV2 = 0x8;
inline constexpr uint32_t kIncompatCsumV3 = 0x10;
inline constexpr uint32_t kIncompatFastCommit = 0x20;
inline constexpr uint32_t kIncompatKnown = kIncompatRevoke | kIncompat64Bit | kIncompatAsyncCommit |
                                          kIncompatCsumV2 | kIncompatCsumV3 | kIncompatFastCommit;

// Block tag flags.
inline constexpr uint32_t kTagEscape = 0x1;
inline constexpr uint32_t kTagSameUuid = 0x2;
inline constexpr uint32_t kTagDeleted = 0x4;
inline constexpr uint32_t kTagLast = 0x8;

// Commit block checksum types (h_chksum_type).
inline constexpr uint8_t kChksumCrc32 = 1;
inline constexpr uint8_t kChksumCrc32c = 4;

inline constexpr uint32_t kDefaultFastCommitBlocks = 256;
inline constexpr size_t kHeaderBytes = 12;
inline constexpr size_t kSuperblockBytes = 1024;
inline constexpr size_t kBlockTailBytes = 4;  // descriptor/revoke checksum tail (v2/v3)

uint16_t Be16(std::span<const uint8_t> b, size_t off);
uint32_t Be32(std::span<const uint8_t> b, size_t off);
uint64_t Be64(std::span<const uint8_t> b, size_t off);
void PutBe32(std::span<uint8_t> b, size_t off, uint32_t v);

struct BlockHeader {
  uint32_t magic = 0;
  uint32_t type = 0;
  uint32_t sequence = 0;
};
// REQUIRES: b.size() >= kHeaderBytes (callers pass whole journal blocks).
BlockHeader ReadHeader(std::span<const uint8_t> b);

// The journal superblock (journal block 0), decoded.
struct Superblock {
  uint32_t type = 0;  // kSuperblockV1 or kSuperblockV2
  uint32_t blocksize = 0;
  uint32_t maxlen = 0;    // journal length in blocks
  uint32_t first = 0;     // first log block
  uint32_t sequence = 0;  // first transaction expected in the log
  uint32_t start = 0;     // log start block; 0 = nothing to replay
  int32_t error = 0;      // s_errno
  uint32_t compat = 0, incompat = 0, ro_compat = 0;
  std::array<uint8_t, 16> uuid{};
  uint32_t nr_users = 0;
  uint8_t checksum_type = 0;
  uint32_t num_fc_blocks = 0;  // as stored; see FastCommitBlocks()
  uint32_t checksum = 0;

  bool Has64Bit() const { return incompat & kIncompat64Bit; }
  bool HasCsumV2() const { return incompat & kIncompatCsumV2; }
  bool HasCsumV3() const { return incompat & kIncompatCsumV3; }
  bool HasCsumV2or3() const { return HasCsumV2() || HasCsumV3(); }
  bool HasRevoke() const { return incompat & kIncompatRevoke; }
  bool HasFastCommit() const { return incompat & kIncompatFastCommit; }
  bool HasV1Checksum() const { return compat & kCompatChecksum; }
  // Blocks reserved at the end of the journal for fast commits (0 without the feature).
  uint32_t FastCommitBlocks() const;
  // One past the last block of the regular log area (the log wraps here).
  uint32_t LogEnd() const { return maxlen - FastCommitBlocks(); }
  // Bytes of one descriptor tag (without the optional 16-byte UUID).
  size_t TagBytes() const;
  // Names of the feature bits that are set ("revoke", "64bit", "csum_v3", ...).
  std::vector<std::string> FeatureNames() const;
};

// Decodes and sanity-checks the superblock against the filesystem block size
// and the journal's size in blocks (from its inode). Errors name the field:
// "journal superblock: s_first 0 out of range".
Result<Superblock> ParseSuperblock(std::span<const uint8_t> block, uint32_t fs_blocksize,
                                   uint64_t journal_blocks);

// crc32c seed for v2/v3 checksums: crc32c(~0, uuid).
uint32_t CsumSeed(const Superblock& sb);
bool VerifySuperblockChecksum(const Superblock& sb, std::span<const uint8_t> block);
// Descriptor and revoke blocks carry a crc32c tail (v2/v3).
bool VerifyBlockTail(uint32_t seed, std::span<const uint8_t> block);
// v2/v3 commit block checksum (h_chksum[0] over the block with that field zeroed).
bool VerifyCommitChecksum(uint32_t seed, std::span<const uint8_t> block);
// Data block checksum stored in its tag: 32 bits with v3, low 16 bits with v2.
bool VerifyDataChecksum(const Superblock& sb, uint32_t seed, uint32_t sequence, uint32_t tag_csum,
                        std::span<const uint8_t> data);

// Checksum helpers exposed for tests that build synthetic journals.
uint32_t Crc32c(uint32_t seed, std::span<const uint8_t> data);
uint32_t Crc32Be(uint32_t seed, std::span<const uint8_t> data);

}  // namespace mr::salvage::jbd2
