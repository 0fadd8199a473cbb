// Test helper: writes synthetic JBD2 journals in memory (superblock,
// descriptor + data, revoke and commit blocks, with none/v1/v2/v3 checksums,
// 32- or 64-bit tags, wrap-around and escaping), so the log walker can be
// checked against cases debugfs cannot produce (bad checksums, wraps, loops).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "salvage/journal_format.h"
#include "salvage/journal_scan.h"

namespace mr::salvage::testing {

enum class Csum { kNone, kV1, kV2, kV3 };

struct TxnSpec {
  std::vector<std::pair<uint64_t, std::vector<uint8_t>>> writes;  // fs block, content
  std::vector<uint64_t> revokes;
  bool commit = true;
};

// Journal blocks used by one appended transaction.
struct TxnBlocks {
  uint32_t sequence = 0;
  std::vector<uint32_t> descriptors;
  std::vector<uint32_t> data;
  uint32_t revoke = 0;  // 0 = none
  uint32_t commit = 0;  // 0 = none
};

class JournalBuilder {
 public:
  JournalBuilder(uint32_t blocksize, uint32_t maxlen, Csum csum, bool is64, uint32_t fc_blocks = 0);

  // Starts the log at `start` with transaction `sequence` (writes the superblock).
  void Begin(uint32_t start, uint32_t sequence);
  TxnBlocks Append(const TxnSpec& t);
  // Rewrites the superblock (after changing s_start etc. through Begin).
  void WriteSuperblock();

  std::vector<uint8_t>& block(uint32_t i) { return blocks_.at(i); }
  const std::vector<uint8_t>& block(uint32_t i) const { return blocks_.at(i); }
  jbd2::Superblock superblock() const;  // parsed back (asserts success)
  JournalBlockReader Reader() const;
  // Block content filled with `byte`, optionally starting with the JBD2 magic.
  std::vector<uint8_t> Fill(uint8_t byte, bool magic_first = false) const;
  uint32_t blocksize() const { return bs_; }
  uint32_t cursor() const { return cursor_; }

 private:
  uint32_t Take();  // next log block, wrapping at the log end
  void SetTail(std::vector<uint8_t>& b) const;
  uint32_t bs_, maxlen_, fc_;
  Csum csum_;
  bool is64_;
  uint32_t start_ = 1, seq_ = 1, cursor_ = 1, first_seq_ = 1;
  std::vector<std::vector<uint8_t>> blocks_;
  uint32_t seed_ = 0;
};

}  // namespace mr::salvage::testing
