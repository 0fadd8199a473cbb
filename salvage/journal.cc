#include "salvage/journal.h"

#include <algorithm>

#include "salvage/source.h"

namespace mr::salvage {

Result<JournalMode> ParseJournalMode(std::string_view s) {
  if (s == "replay") return JournalMode::kReplay;
  if (s == "ignore") return JournalMode::kIgnore;
  if (s == "auto") return JournalMode::kAuto;
  return Error{Code::kInvalidArgument,
               "--journal: expected replay or ignore, got '" + std::string(s) + "'"};
}

const char* JournalModeName(JournalMode m) {
  switch (m) {
    case JournalMode::kAuto: return "auto";
    case JournalMode::kReplay: return "replay";
    case JournalMode::kIgnore: return "ignore";
  }
  return "auto";
}

bool Journal::ShouldReplay(JournalMode mode) const {
  if (replay_.empty()) return false;
  switch (mode) {
    case JournalMode::kIgnore: return false;
    case JournalMode::kReplay: return true;
    case JournalMode::kAuto: return info_.needs_recovery || (info_.start != 0 && info_.transactions > 0);
  }
  return false;
}

const JournalCopy* Journal::Lookup(uint64_t fs_block) const {
  auto it = replay_.find(fs_block);
  return it == replay_.end() ? nullptr : &it->second;
}

Status Journal::ReadCopy(ext2_filsys fs, const JournalCopy& c, std::span<uint8_t> out) const {
  Status s = ReadJournalBlock(fs, loc_, c.journal_block, out);
  if (!s.ok()) return s;
  if (c.escaped) jbd2::PutBe32(out, 0, jbd2::kMagic);
  return Status::Ok();
}

std::vector<JournalCopy> Journal::OlderCopies(ext2_filsys fs, uint64_t fs_block) const {
  JournalBlockReader read = [&](uint32_t lblk, std::span<uint8_t> buf) -> Status {
    ReadDamageScope one(true);  // zero-filled by the source: unreadable, not zeros
    Status s = ReadJournalBlock(fs, loc_, lblk, buf);
    if (s.ok() && !one.ranges().empty())
      return Error{Code::kIoError, "journal block " + std::to_string(lblk) + " is unreadable"};
    return s;
  };
  return OlderCopies(read, fs_block);
}

std::vector<JournalCopy> Journal::OlderCopies(const JournalBlockReader& read, uint64_t fs_block) const {
  if (!info_.present || sb_.blocksize == 0) return {};
  std::call_once(scavenged_, [&] {
    Scavenged sc = ScavengeCopies(sb_, fs_blocks_, read);
    history_ = std::move(sc.copies);
    scavenge_note_ = std::move(sc.gave_up);
    scavenged_done_.store(true, std::memory_order_release);
  });
  auto it = history_.find(fs_block);
  if (it == history_.end()) return {};
  std::vector<JournalCopy> out;
  const JournalCopy* served = Lookup(fs_block);
  for (const auto& c : it->second)
    if (!served || served->journal_block != c.journal_block) out.push_back(c);
  return out;
}

std::string Journal::ScavengeNote() const {
  // Written once inside call_once, before the release store.
  return scavenged_done_.load(std::memory_order_acquire) ? scavenge_note_ : std::string();
}

std::string Journal::Summary() const {
  const JournalInfo& i = info_;
  std::string s = "journal: ";
  if (!i.present) return s + "none" + (i.needs_recovery ? " (but needs_recovery is set)" : "");
  s += "inode " + std::to_string(i.inode) + (i.inode_from_backup ? " (from the superblock backup)" : "") +
       ", " + std::to_string(i.size_bytes / 1024) + " KiB, features";
  if (i.features.empty()) s += " none";
  for (const auto& f : i.features) s += " " + f;
  s += ", sequence " + std::to_string(i.sequence) + ", start " + std::to_string(i.start);
  s += i.needs_recovery ? ", needs_recovery" : "";
  s += "; " + std::to_string(i.transactions) + " committed transaction" + (i.transactions == 1 ? "" : "s");
  if (i.transactions)
    s += " (" + std::to_string(i.first_transaction) + ".." + std::to_string(i.last_transaction) + ")";
  s += ", " + std::to_string(i.blocks_to_replay) + " blocks to replay; log end: " + i.end;
  if (!i.end_detail.empty()) s += " (" + i.end_detail + ")";
  if (!i.problems.empty()) s += "; " + std::to_string(i.problems.size()) + " problems";
  return s;
}

nlohmann::json Journal::ToJson(bool with_blocks) const {
  const JournalInfo& i = info_;
  nlohmann::json j = {{"present", i.present}, {"needs_recovery", i.needs_recovery}};
  if (!i.present) return j;
  j["inode"] = i.inode;
  j["size"] = i.size_bytes;
  j["inode_from_backup"] = i.inode_from_backup;
  j["blocksize"] = i.blocksize;
  j["maxlen"] = i.maxlen;
  j["first"] = i.first;
  j["sequence"] = i.sequence;
  j["start"] = i.start;
  j["errno"] = i.error;
  j["features"] = i.features;
  j["checksum"] = i.checksum;
  j["superblock_checksum_ok"] = i.superblock_checksum_ok;
  j["transactions"] = i.transactions;
  if (i.transactions) {
    j["first_transaction"] = i.first_transaction;
    j["last_transaction"] = i.last_transaction;
  }
  j["end"] = i.end;
  if (!i.end_detail.empty()) j["end_detail"] = i.end_detail;
  j["blocks_to_replay"] = i.blocks_to_replay;
  j["revoked_blocks"] = i.revoked_blocks;
  j["problems"] = i.problems;
  if (with_blocks) {
    nlohmann::json blocks = nlohmann::json::array();
    for (const auto& [blk, c] : replay_) blocks.push_back({blk, c.sequence});
    j["blocks_from_journal"] = std::move(blocks);
  }
  return j;
}

Result<std::shared_ptr<const Journal>> LoadJournal(ext2_filsys fs) {
  auto j = std::make_shared<Journal>();
  JournalInfo& info = j->info_;
  info.needs_recovery = NeedsRecovery(fs);
  if (!ext2fs_has_feature_journal(fs->super)) return std::shared_ptr<const Journal>(j);

  Result<JournalLocation> loc = LocateJournal(fs);
  if (!loc.ok()) return loc.error();
  j->loc_ = std::move(*loc);
  j->fs_blocks_ = ext2fs_blocks_count(fs->super);
  info.present = true;
  info.inode = j->loc_.inode;
  info.size_bytes = j->loc_.size_bytes;
  info.inode_from_backup = j->loc_.from_superblock_backup;

  std::vector<uint8_t> block(fs->blocksize);
  Status s = ReadJournalBlock(fs, j->loc_, 0, block);
  if (!s.ok()) return Error{s.code(), "journal superblock: " + s.message()};
  Result<jbd2::Superblock> sb = jbd2::ParseSuperblock(block, fs->blocksize, j->loc_.blocks);
  if (!sb.ok()) return sb.error();
  j->sb_ = *sb;
  info.blocksize = sb->blocksize;
  info.maxlen = sb->maxlen;
  info.first = sb->first;
  info.sequence = sb->sequence;
  info.start = sb->start;
  info.error = sb->error;
  info.features = sb->FeatureNames();
  info.checksum = sb->HasCsumV2or3() ? "crc32c" : sb->HasV1Checksum() ? "crc32" : "none";
  if (sb->error != 0)
    info.problems.push_back("journal superblock: s_errno " + std::to_string(sb->error) +
                            " (the journal was aborted after an error)");
  info.superblock_checksum_ok = jbd2::VerifySuperblockChecksum(*sb, block);
  if (!info.superblock_checksum_ok) {
    info.end = JournalEndName(JournalEnd::kBadChecksum);
    info.end_detail = "journal superblock checksum mismatch; the log is not replayed";
    return std::shared_ptr<const Journal>(j);
  }

  const JournalLocation& where = j->loc_;
  JournalBlockReader read = [fs, &where](uint32_t lblk, std::span<uint8_t> buf) {
    return ReadJournalBlock(fs, where, lblk, buf);
  };
  JournalScan scan = ScanLog(*sb, j->fs_blocks_, read);
  info.transactions = scan.committed.size();
  if (!scan.committed.empty()) {
    info.first_transaction = scan.committed.front().sequence;
    info.last_transaction = scan.committed.back().sequence;
  }
  info.end = JournalEndName(scan.end);
  info.end_detail = scan.end_detail;
  for (auto& p : scan.problems) info.problems.push_back(std::move(p));
  info.revoked_blocks = scan.revoked.size();
  j->replay_ = BuildReplayMap(scan);
  j->committed_ = std::move(scan.committed);
  info.blocks_to_replay = j->replay_.size();
  return std::shared_ptr<const Journal>(j);
}

}  // namespace mr::salvage
