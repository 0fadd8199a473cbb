#include "salvage/journal_scan.h"

#include <algorithm>
#include <set>
#include <utility>

namespace mr::salvage {

using namespace jbd2;

const char* JournalEndName(JournalEnd e) {
  switch (e) {
    case JournalEnd::kClean: return "clean";
    case JournalEnd::kIncomplete: return "incomplete";
    case JournalEnd::kBadChecksum: return "bad_checksum";
    case JournalEnd::kReadError: return "read_error";
    case JournalEnd::kMalformed: return "malformed";
  }
  return "unknown";
}

bool RevokeCancels(uint32_t revoke_seq, uint32_t copy_seq) {
  return static_cast<int32_t>(revoke_seq - copy_seq) >= 0;
}

namespace {

// One transaction parsed from its first block up to (and including) its commit.
struct TxnParse {
  // kClean here means "no block of this sequence at the start": nothing began.
  JournalEnd outcome = JournalEnd::kClean;
  bool committed = false;
  std::string detail;
  JournalTransaction txn;
  std::vector<JournalCopy> copies;
  std::vector<uint64_t> revokes;
  std::vector<std::string> problems;
  uint32_t next_block = 0;  // block after the commit
  uint32_t blocks_used = 0;
};

class Walker {
 public:
  Walker(const Superblock& sb, uint64_t fs_blocks, const JournalBlockReader& read)
      : sb_(sb), fs_blocks_(fs_blocks), read_(read), seed_(CsumSeed(sb)), csum_(sb.HasCsumV2or3()),
        buf_(sb.blocksize), data_(sb.blocksize) {}

  uint32_t Next(uint32_t b) const { return b + 1 >= sb_.LogEnd() ? sb_.first : b + 1; }
  uint32_t LogLength() const { return sb_.LogEnd() - sb_.first; }

  // Parses the transaction `seq` starting at `blk`, using at most `budget` log blocks.
  TxnParse Parse(uint32_t blk, uint32_t seq, uint32_t budget);

  // Reads a journal block into buf_; false (and fills out) on failure.
  bool ReadInto(uint32_t blk, std::vector<uint8_t>& buf, TxnParse& out) {
    Status s = read_(blk, buf);
    if (s.ok()) return true;
    out.outcome = JournalEnd::kReadError;
    out.detail = "journal block " + std::to_string(blk) + ": " + s.message();
    return false;
  }

 private:
  bool Descriptor(uint32_t& blk, uint32_t seq, uint32_t& used, uint32_t budget, uint32_t& v1crc,
                  TxnParse& out);
  bool Revoke(uint32_t blk, uint32_t seq, TxnParse& out);

  const Superblock& sb_;
  uint64_t fs_blocks_;
  const JournalBlockReader& read_;
  uint32_t seed_;
  bool csum_;
  std::vector<uint8_t> buf_;
  std::vector<uint8_t> data_;
};

std::string TxnName(uint32_t seq) { return "transaction " + std::to_string(seq); }

TxnParse Walker::Parse(uint32_t blk, uint32_t seq, uint32_t budget) {
  TxnParse out;
  out.txn.sequence = seq;
  out.txn.first_block = blk;
  uint32_t used = 0;
  uint32_t v1crc = ~0u;
  bool started = false;
  for (;;) {
    if (used >= budget) {
      // A log that fills the journal exactly simply ends; one that overruns it loops.
      out.outcome = started ? JournalEnd::kMalformed : JournalEnd::kClean;
      if (started) out.detail = TxnName(seq) + ": log runs past the end of the journal";
      return out;
    }
    if (!ReadInto(blk, buf_, out)) return out;
    ++used;
    BlockHeader h = ReadHeader(buf_);
    if (h.magic != kMagic || h.sequence != seq) {
      out.outcome = started ? JournalEnd::kIncomplete : JournalEnd::kClean;
      if (started) out.detail = TxnName(seq) + ": no commit block (log ends at journal block " +
                                std::to_string(blk) + ")";
      return out;
    }
    const std::string where = TxnName(seq) + ": journal block " + std::to_string(blk);
    switch (h.type) {
      case kDescriptor: {
        if (csum_ && !VerifyBlockTail(seed_, buf_)) {
          out.outcome = JournalEnd::kBadChecksum;
          out.detail = where + ": descriptor block checksum mismatch";
          return out;
        }
        started = true;
        if (!Descriptor(blk, seq, used, budget, v1crc, out)) return out;
        break;
      }
      case kRevoke: {
        if (csum_ && !VerifyBlockTail(seed_, buf_)) {
          out.outcome = JournalEnd::kBadChecksum;
          out.detail = where + ": revoke block checksum mismatch";
          return out;
        }
        started = true;
        if (!Revoke(blk, seq, out)) return out;
        blk = Next(blk);
        break;
      }
      case kCommit: {
        if (csum_ && !VerifyCommitChecksum(seed_, buf_)) {
          out.outcome = JournalEnd::kBadChecksum;
          out.detail = where + ": commit block checksum mismatch";
          return out;
        }
        // v1: either a matching crc32 of the transaction, or an unused (all zero) field.
        const bool v1_ok = (buf_[12] == kChksumCrc32 && buf_[13] == 4 && Be32(buf_, 16) == v1crc) ||
                           (buf_[12] == 0 && buf_[13] == 0 && Be32(buf_, 16) == 0);
        if (!csum_ && sb_.HasV1Checksum() && !v1_ok) {
          out.outcome = JournalEnd::kBadChecksum;
          out.detail = where + ": commit block crc32 does not match the transaction";
          return out;
        }
        out.committed = true;
        out.txn.commit_block = blk;
        out.txn.commit_sec = Be64(buf_, 48);
        out.next_block = Next(blk);
        out.blocks_used = used;
        return out;
      }
      default:
        out.outcome = JournalEnd::kMalformed;
        out.detail = where + ": unexpected block type " + std::to_string(h.type);
        return out;
    }
  }
}

// Consumes the descriptor in buf_ at `blk` and its data blocks; leaves `blk`
// on the block after the last data block.
bool Walker::Descriptor(uint32_t& blk, uint32_t seq, uint32_t& used, uint32_t budget,
                        uint32_t& v1crc, TxnParse& out) {
  const std::vector<uint8_t>& desc = buf_;  // data blocks are read into data_, not buf_
  const uint32_t desc_blk = blk;
  if (sb_.HasV1Checksum()) v1crc = Crc32Be(v1crc, desc);
  const size_t tag_bytes = sb_.TagBytes();
  const size_t limit = desc.size() - (csum_ ? kBlockTailBytes : 0);
  size_t off = kHeaderBytes;
  uint32_t data_blk = blk;
  while (off + tag_bytes <= limit) {
    std::span<const uint8_t> d(desc);
    uint64_t fs_block = Be32(d, off);
    uint32_t flags, tag_csum = 0;
    if (sb_.HasCsumV3()) {
      flags = Be32(d, off + 4);
      fs_block |= uint64_t{Be32(d, off + 8)} << 32;
      tag_csum = Be32(d, off + 12);
    } else {
      tag_csum = Be16(d, off + 4);
      flags = Be16(d, off + 6);
      if (sb_.Has64Bit()) fs_block |= uint64_t{Be32(d, off + 8)} << 32;
    }
    if (!sb_.Has64Bit()) fs_block &= 0xFFFFFFFFu;
    off += tag_bytes;
    if (!(flags & kTagSameUuid)) off += 16;
    if (off > limit) {
      out.outcome = JournalEnd::kMalformed;
      out.detail = TxnName(seq) + ": descriptor at journal block " + std::to_string(desc_blk) +
                   ": tag runs past the block";
      return false;
    }
    data_blk = Next(data_blk);
    if (used >= budget) {
      out.outcome = JournalEnd::kMalformed;
      out.detail = TxnName(seq) + ": log runs past the end of the journal";
      return false;
    }
    ++used;
    const std::string what = TxnName(seq) + ": journal copy of fs block " +
                             std::to_string(fs_block) + " at journal block " +
                             std::to_string(data_blk);
    Status s = read_(data_blk, data_);
    if (!s.ok()) {
      out.problems.push_back(what + " unreadable (" + s.message() + "); not replayed");
    } else if (!VerifyDataChecksum(sb_, seed_, seq, tag_csum, data_)) {
      out.problems.push_back(what + ": checksum mismatch; not replayed");
    } else if (fs_block >= fs_blocks_) {
      out.problems.push_back(what + ": block beyond the filesystem; not replayed");
    } else {
      out.copies.push_back(JournalCopy{fs_block, data_blk, seq, (flags & kTagEscape) != 0});
    }
    if (s.ok() && sb_.HasV1Checksum()) v1crc = Crc32Be(v1crc, data_);
    if (flags & kTagLast) break;
  }
  blk = Next(data_blk);
  return true;
}

bool Walker::Revoke(uint32_t blk, uint32_t seq, TxnParse& out) {
  const size_t rec = sb_.Has64Bit() ? 8 : 4;
  const size_t max = buf_.size() - (csum_ ? kBlockTailBytes : 0);
  const uint32_t count = Be32(buf_, kHeaderBytes);
  if (count > max) {  // a count below the header just holds no records
    out.outcome = JournalEnd::kMalformed;
    out.detail = TxnName(seq) + ": revoke block at journal block " + std::to_string(blk) +
                 ": r_count " + std::to_string(count) + " out of range";
    return false;
  }
  for (size_t off = 16; off + rec <= count; off += rec) {
    uint64_t b = rec == 8 ? Be64(buf_, off) : Be32(buf_, off);
    out.revokes.push_back(b);
    ++out.txn.revoke_records;
  }
  return true;
}

// Reports a fast-commit area that holds a transaction newer than the log.
void CheckFastCommit(const Superblock& sb, const JournalBlockReader& read, JournalScan& scan) {
  if (!sb.HasFastCommit()) return;
  std::vector<uint8_t> b(sb.blocksize);
  if (!read(sb.LogEnd(), b).ok()) return;
  const uint16_t tag = static_cast<uint16_t>(b[0] | (b[1] << 8));  // little-endian, ext4 side
  constexpr uint16_t kFcTagHead = 9;
  if (tag != kFcTagHead) return;
  const uint32_t tid = b[8] | (b[9] << 8) | (b[10] << 16) | (uint32_t{b[11]} << 24);
  if (static_cast<int32_t>(tid - scan.next_sequence) < 0) return;  // already covered by the log
  scan.problems.push_back("fast-commit area holds transaction " + std::to_string(tid) +
                          ": fast-commit replay is not supported; those changes are ignored");
}

}  // namespace

JournalScan ScanLog(const Superblock& sb, uint64_t fs_blocks, const JournalBlockReader& read) {
  JournalScan scan;
  scan.next_sequence = sb.sequence;
  if (sb.start == 0) return scan;
  Walker w(sb, fs_blocks, read);
  uint32_t blk = sb.start, seq = sb.sequence, budget = w.LogLength();
  for (;;) {
    TxnParse t = w.Parse(blk, seq, budget);
    for (auto& p : t.problems) scan.problems.push_back(std::move(p));
    if (!t.committed) {
      scan.end = t.outcome;
      scan.end_detail = t.detail;
      break;
    }
    t.txn.data_blocks = static_cast<uint32_t>(t.copies.size());
    scan.committed.push_back(t.txn);
    for (const auto& c : t.copies) scan.copies.push_back(c);
    for (uint64_t b : t.revokes) {
      if (b >= fs_blocks) continue;  // cannot cancel anything we would serve
      auto [it, fresh] = scan.revoked.emplace(b, seq);
      if (!fresh && RevokeCancels(seq, it->second)) it->second = seq;
    }
    budget -= t.blocks_used;
    blk = t.next_block;
    ++seq;
  }
  scan.next_sequence = seq;
  CheckFastCommit(sb, read, scan);
  return scan;
}

std::map<uint64_t, JournalCopy> BuildReplayMap(const JournalScan& scan) {
  std::map<uint64_t, JournalCopy> out;
  for (const auto& c : scan.copies) {
    auto r = scan.revoked.find(c.fs_block);
    if (r != scan.revoked.end() && RevokeCancels(r->second, c.sequence)) continue;
    out[c.fs_block] = c;  // log order: later transactions overwrite earlier ones
  }
  return out;
}

Scavenged ScavengeCopies(const Superblock& sb, uint64_t fs_blocks, const JournalBlockReader& read,
                         uint32_t max_unreadable) {
  Scavenged result;
  auto& out = result.copies;
  // Every read goes through here, Parse's too, so the budget bounds the whole scavenge.
  JournalBlockReader counted = [&](uint32_t lblk, std::span<uint8_t> buf) {
    Status s = read(lblk, buf);
    if (!s.ok()) ++result.unreadable;
    return s;
  };
  Walker w(sb, fs_blocks, counted);
  std::vector<uint8_t> b(sb.blocksize);
  std::set<uint32_t> done;
  std::unordered_map<uint64_t, uint32_t> revoked;  // block -> newest revoking sequence
  for (uint32_t blk = sb.first; blk < sb.LogEnd(); ++blk) {
    if (result.unreadable >= max_unreadable) {
      result.gave_up = "stopped looking for older journal copies at journal block " + std::to_string(blk) +
                       " of " + std::to_string(sb.LogEnd()) + " after " + std::to_string(result.unreadable) +
                       " unreadable journal blocks";
      break;
    }
    if (!counted(blk, b).ok()) continue;
    BlockHeader h = ReadHeader(b);
    if (h.magic != kMagic || (h.type != kDescriptor && h.type != kRevoke)) continue;
    if (done.count(h.sequence)) continue;
    TxnParse t = w.Parse(blk, h.sequence, w.LogLength());
    if (!t.committed) continue;
    done.insert(h.sequence);
    for (const auto& c : t.copies) out[c.fs_block].push_back(c);
    for (uint64_t r : t.revokes) {
      auto [it, fresh] = revoked.emplace(r, h.sequence);
      if (!fresh && RevokeCancels(h.sequence, it->second)) it->second = h.sequence;
    }
  }
  // A revoked copy describes a block that was freed afterwards: not a fallback.
  for (auto& [blk, v] : out) {
    auto r = revoked.find(blk);
    if (r == revoked.end()) continue;
    std::erase_if(v, [&](const JournalCopy& c) { return RevokeCancels(r->second, c.sequence); });
  }
  std::erase_if(out, [](const auto& kv) { return kv.second.empty(); });
  const uint32_t ref = sb.sequence;
  for (auto& [blk, v] : out) {
    std::sort(v.begin(), v.end(), [ref](const JournalCopy& a, const JournalCopy& c) {
      int32_t da = static_cast<int32_t>(a.sequence - ref), dc = static_cast<int32_t>(c.sequence - ref);
      if (da != dc) return da > dc;
      return a.journal_block > c.journal_block;
    });
  }
  return result;
}

}  // namespace mr::salvage
