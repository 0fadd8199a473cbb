#include "test_journal_builder.h"

#include <gtest/gtest.h>

#include <cstring>
#include <stdexcept>

namespace mr::salvage::testing {

using namespace jbd2;

namespace {
const uint8_t kUuid[16] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
                           0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xf0, 0x01};

void PutBe16(std::vector<uint8_t>& b, size_t off, uint16_t v) {
  b[off] = static_cast<uint8_t>(v >> 8);
  b[off + 1] = static_cast<uint8_t>(v);
}

void Header(std::vector<uint8_t>& b, uint32_t type, uint32_t seq) {
  PutBe32(b, 0, kMagic);
  PutBe32(b, 4, type);
  PutBe32(b, 8, seq);
}
}  // namespace

JournalBuilder::JournalBuilder(uint32_t blocksize, uint32_t maxlen, Csum csum, bool is64, uint32_t fc)
    : bs_(blocksize), maxlen_(maxlen), fc_(fc), csum_(csum), is64_(is64),
      blocks_(maxlen, std::vector<uint8_t>(blocksize, 0)) {
  seed_ = Crc32c(~0u, std::span<const uint8_t>(kUuid, 16));
}

void JournalBuilder::Begin(uint32_t start, uint32_t sequence) {
  start_ = start;
  cursor_ = start ? start : 1;
  seq_ = first_seq_ = sequence;
  WriteSuperblock();
}

void JournalBuilder::WriteSuperblock() {
  auto& b = blocks_[0];
  std::fill(b.begin(), b.end(), 0);
  Header(b, kSuperblockV2, 0);
  PutBe32(b, 0x0C, bs_);
  PutBe32(b, 0x10, maxlen_);
  PutBe32(b, 0x14, 1);
  PutBe32(b, 0x18, first_seq_);
  PutBe32(b, 0x1C, start_);
  uint32_t compat = csum_ == Csum::kV1 ? kCompatChecksum : 0;
  uint32_t incompat = kIncompatRevoke;
  if (is64_) incompat |= kIncompat64Bit;
  if (csum_ == Csum::kV2) incompat |= kIncompatCsumV2;
  if (csum_ == Csum::kV3) incompat |= kIncompatCsumV3;
  if (fc_) incompat |= kIncompatFastCommit;
  PutBe32(b, 0x24, compat);
  PutBe32(b, 0x28, incompat);
  std::memcpy(&b[0x30], kUuid, 16);
  PutBe32(b, 0x40, 1);
  if (csum_ == Csum::kV2 || csum_ == Csum::kV3) b[0x50] = kChksumCrc32c;
  PutBe32(b, 0x54, fc_);
  if (csum_ == Csum::kV2 || csum_ == Csum::kV3) {
    PutBe32(b, 0xFC, 0);
    PutBe32(b, 0xFC, Crc32c(~0u, std::span<const uint8_t>(b.data(), kSuperblockBytes)));
  }
}

Superblock JournalBuilder::superblock() const {
  auto sb = ParseSuperblock(blocks_[0], bs_, maxlen_);
  if (!sb.ok()) throw std::logic_error("builder wrote a bad superblock: " + sb.error().message);
  return *sb;
}

JournalBlockReader JournalBuilder::Reader() const {
  return [this](uint32_t lblk, std::span<uint8_t> buf) -> Status {
    if (lblk >= blocks_.size()) return Error{Code::kIoError, "test journal: block out of range"};
    std::memcpy(buf.data(), blocks_[lblk].data(), bs_);
    return Status::Ok();
  };
}

std::vector<uint8_t> JournalBuilder::Fill(uint8_t byte, bool magic_first) const {
  std::vector<uint8_t> v(bs_, byte);
  if (magic_first) PutBe32(v, 0, kMagic);
  return v;
}

uint32_t JournalBuilder::Take() {
  uint32_t b = cursor_;
  cursor_ = cursor_ + 1 >= maxlen_ - fc_ ? 1 : cursor_ + 1;
  return b;
}

void JournalBuilder::SetTail(std::vector<uint8_t>& b) const {
  if (csum_ != Csum::kV2 && csum_ != Csum::kV3) return;
  PutBe32(b, bs_ - 4, 0);
  PutBe32(b, bs_ - 4, Crc32c(seed_, b));
}

TxnBlocks JournalBuilder::Append(const TxnSpec& t) {
  TxnBlocks out;
  out.sequence = seq_;
  const bool v23 = csum_ == Csum::kV2 || csum_ == Csum::kV3;
  Superblock sb = superblock();
  const size_t tag_bytes = sb.TagBytes();
  const size_t limit = bs_ - (v23 ? 4 : 0);
  uint32_t v1 = ~0u;
  size_t i = 0;
  while (i < t.writes.size()) {
    uint32_t dblk = Take();
    out.descriptors.push_back(dblk);
    std::vector<uint8_t> desc(bs_, 0);
    Header(desc, kDescriptor, seq_);
    size_t off = kHeaderBytes;
    std::vector<std::pair<uint32_t, std::vector<uint8_t>>> datas;
    bool first = true;
    while (i < t.writes.size()) {
      size_t need = tag_bytes + (first ? 16 : 0);
      if (off + need > limit) break;
      auto [fsblk, content] = t.writes[i];
      uint32_t flags = first ? 0 : kTagSameUuid;
      if (Be32(content, 0) == kMagic) {
        flags |= kTagEscape;
        PutBe32(content, 0, 0);
      }
      bool last = i + 1 == t.writes.size() || off + need + tag_bytes > limit;
      if (last) flags |= kTagLast;
      uint8_t seqb[4];
      PutBe32(std::span<uint8_t>(seqb, 4), 0, seq_);
      uint32_t dcs = Crc32c(Crc32c(seed_, std::span<const uint8_t>(seqb, 4)), content);
      PutBe32(desc, off, static_cast<uint32_t>(fsblk));
      if (csum_ == Csum::kV3) {
        PutBe32(desc, off + 4, flags);
        PutBe32(desc, off + 8, static_cast<uint32_t>(fsblk >> 32));
        PutBe32(desc, off + 12, dcs);
      } else {
        PutBe16(desc, off + 4, csum_ == Csum::kV2 ? static_cast<uint16_t>(dcs) : 0);
        PutBe16(desc, off + 6, static_cast<uint16_t>(flags));
        if (is64_) PutBe32(desc, off + 8, static_cast<uint32_t>(fsblk >> 32));
      }
      off += tag_bytes;
      if (first) {
        std::memcpy(&desc[off], kUuid, 16);
        off += 16;
      }
      first = false;
      datas.emplace_back(Take(), std::move(content));
      ++i;
      if (last) break;
    }
    SetTail(desc);
    blocks_[dblk] = desc;
    if (csum_ == Csum::kV1) v1 = Crc32Be(v1, desc);
    for (auto& [blk, content] : datas) {
      if (csum_ == Csum::kV1) v1 = Crc32Be(v1, content);
      blocks_[blk] = content;
      out.data.push_back(blk);
    }
  }
  if (!t.revokes.empty()) {
    uint32_t rblk = Take();
    out.revoke = rblk;
    std::vector<uint8_t> r(bs_, 0);
    Header(r, kRevoke, seq_);
    size_t off = 16;
    for (uint64_t b : t.revokes) {
      if (is64_) {
        PutBe32(r, off, static_cast<uint32_t>(b >> 32));
        PutBe32(r, off + 4, static_cast<uint32_t>(b));
        off += 8;
      } else {
        PutBe32(r, off, static_cast<uint32_t>(b));
        off += 4;
      }
    }
    PutBe32(r, 12, static_cast<uint32_t>(off));
    SetTail(r);
    blocks_[rblk] = r;
  }
  if (t.commit) {
    uint32_t cblk = Take();
    out.commit = cblk;
    std::vector<uint8_t> c(bs_, 0);
    Header(c, kCommit, seq_);
    PutBe32(c, 48, 0);
    PutBe32(c, 52, 1700000000u);
    if (csum_ == Csum::kV1) {
      c[12] = kChksumCrc32;
      c[13] = 4;
      PutBe32(c, 16, v1);
    } else if (v23) {
      c[12] = kChksumCrc32c;
      c[13] = 4;
      PutBe32(c, 16, Crc32c(seed_, c));
    }
    blocks_[cblk] = c;
  }
  ++seq_;
  return out;
}

}  // namespace mr::salvage::testing
