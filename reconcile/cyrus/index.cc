// cyrus.index parse/serialize and the header fields Cyrus derives from the
// records (counts, sync_crc, sync_crc_annot). See index.h for the contract
// and docs/formats.md for the byte layout of each minor version.
#include "reconcile/cyrus/index.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <string_view>

#include "common/fsutil.h"
#include "reconcile/cyrus/crc32.h"

namespace mr::cyrus {
namespace {

std::uint32_t Get32(std::span<const std::uint8_t> b, std::size_t off) {
  return (std::uint32_t{b[off]} << 24) | (std::uint32_t{b[off + 1]} << 16) |
         (std::uint32_t{b[off + 2]} << 8) | std::uint32_t{b[off + 3]};
}
std::uint64_t Get64(std::span<const std::uint8_t> b, std::size_t off) {
  return (std::uint64_t{Get32(b, off)} << 32) | Get32(b, off + 4);
}
void Put32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}
void Put64(std::uint8_t* p, std::uint64_t v) {
  Put32(p, static_cast<std::uint32_t>(v >> 32));
  Put32(p + 4, static_cast<std::uint32_t>(v));
}
std::uint32_t Lo32(std::int64_t v) { return static_cast<std::uint32_t>(v); }

// Header length (CRC included) per minor version; 0 = unsupported.
std::size_t HeaderLenFor(std::uint32_t minor) {
  switch (minor) {
    case 12: case 13: return 128;
    case 14: case 15: case 16: case 17: return 160;
    default: return 0;
  }
}

// Bytes of a record covered by its CRC (the CRC follows them) per version.
std::size_t RecordCrcOffsetFor(std::uint32_t minor) {
  if (minor < 13) return 92;
  if (minor < 16) return 100;
  return 108;
}

// Sanity bound for record_size: anything larger is not a Cyrus index.
constexpr std::uint32_t kMaxRecordSize = 1024;
constexpr std::uint32_t kMaxStartOffset = 4096;

std::string Where(std::string_view what) { return "cyrus.index: " + std::string(what); }

IndexRecord DecodeRecord(std::span<const std::uint8_t> b, std::uint32_t minor) {
  IndexRecord r;
  r.uid = Get32(b, 0);
  r.internaldate = Get32(b, 4);
  r.sentdate = Get32(b, 8);
  r.size = Get32(b, 12);
  r.header_size = Get32(b, 16);
  r.gmtime = Get32(b, 20);
  const std::uint64_t off_lo = Get32(b, 24);
  r.last_updated = Get32(b, 28);
  r.system_flags = Get32(b, 32);
  for (int i = 0; i < 4; ++i) r.user_flags[i] = Get32(b, 36 + 4 * i);
  const std::uint32_t ver_field = Get32(b, 56);
  r.cache_version = static_cast<std::uint16_t>(ver_field & 0xffff);
  r.cache_offset = off_lo | (std::uint64_t{ver_field & 0xffff0000u} << 16);
  std::copy_n(b.begin() + 60, 20, r.guid.begin());
  r.modseq = Get64(b, 80);
  if (minor < 13) {
    r.cache_crc = Get32(b, 88);
    return r;
  }
  r.thrid = Get64(b, 88);
  if (minor >= 15) r.savedate = Get32(b, 52);
  if (minor < 16) {
    r.cache_crc = Get32(b, 96);
    return r;
  }
  r.createdmodseq = Get64(b, 96);
  r.cache_crc = Get32(b, 104);
  return r;
}

void EncodeRecord(const IndexRecord& r, std::uint8_t* p) {
  std::fill_n(p, kIndexRecordSize, 0);
  Put32(p + 0, r.uid);
  Put32(p + 4, Lo32(r.internaldate));
  Put32(p + 8, Lo32(r.sentdate));
  Put32(p + 12, static_cast<std::uint32_t>(r.size));
  Put32(p + 16, r.header_size);
  Put32(p + 20, Lo32(r.gmtime));
  Put32(p + 24, static_cast<std::uint32_t>(r.cache_offset));
  Put32(p + 28, Lo32(r.last_updated));
  Put32(p + 32, r.system_flags);
  for (int i = 0; i < 4; ++i) Put32(p + 36 + 4 * i, r.user_flags[i]);
  Put32(p + 52, Lo32(r.savedate));
  const std::uint32_t hi = static_cast<std::uint32_t>((r.cache_offset >> 32) & 0xffff);
  Put32(p + 56, (hi << 16) | r.cache_version);
  std::copy(r.guid.begin(), r.guid.end(), p + 60);
  Put64(p + 80, r.modseq);
  Put64(p + 88, r.thrid);
  Put64(p + 96, r.createdmodseq);
  Put32(p + 104, r.cache_crc);
  Put32(p + 108, Crc32(std::span<const std::uint8_t>(p, 108)));
}

void EncodeHeader(const IndexHeader& h, std::uint8_t* p) {
  std::fill_n(p, kIndexHeaderSize, 0);
  Put32(p + 0, h.generation_no);
  Put32(p + 4, h.format);
  Put32(p + 8, kIndexMinorVersion);
  Put32(p + 12, kIndexHeaderSize);
  Put32(p + 16, kIndexRecordSize);
  Put32(p + 20, h.num_records);
  Put32(p + 24, h.last_appenddate);
  Put32(p + 28, h.last_uid);
  Put64(p + 32, h.quota_mailbox_used);
  Put32(p + 40, h.pop3_last_login);
  Put32(p + 44, h.uidvalidity);
  Put32(p + 48, h.deleted);
  Put32(p + 52, h.answered);
  Put32(p + 56, h.flagged);
  Put32(p + 60, h.options);
  Put32(p + 64, h.leaked_cache);
  Put64(p + 68, h.highestmodseq);
  Put64(p + 76, h.deletedmodseq);
  Put32(p + 84, h.exists);
  Put32(p + 88, h.first_expunged);
  Put32(p + 92, h.last_repack_time);
  Put32(p + 96, h.header_file_crc);
  Put32(p + 100, h.sync_crc);
  Put32(p + 104, h.recentuid);
  Put32(p + 108, h.recenttime);
  Put32(p + 112, h.pop3_show_after);
  Put32(p + 116, h.quota_annot_used);
  Put32(p + 120, h.sync_crc_annot);
  Put32(p + 124, h.unseen);
  Put64(p + 128, h.createdmodseq);
  Put32(p + 136, h.changes_epoch);
  Put32(p + 156, Crc32(std::span<const std::uint8_t>(p, 156)));
}

std::uint32_t CrcString(std::string_view s) { return Crc32(s); }

bool AllZero(std::span<const std::uint8_t> b) {
  return std::all_of(b.begin(), b.end(), [](std::uint8_t c) { return c == 0; });
}

// Reads `count` records of `rec_size` bytes from `area`: good ones into
// f.records, others into f.problems (a run of all-zero records -- an
// unreadable, zero-filled area -- is one problem).
void ScanRecords(std::span<const std::uint8_t> area, std::size_t rec_size, std::uint64_t count,
                 std::uint32_t minor, IndexFile& f) {
  const std::size_t crc_off = RecordCrcOffsetFor(minor);
  f.records.reserve(f.records.size() + static_cast<std::size_t>(count));
  std::uint32_t prev_uid = 0;
  for (std::uint64_t i = 0; i < count; ++i) {
    const auto rec = area.subspan(static_cast<std::size_t>(i * rec_size), rec_size);
    const auto recno = static_cast<std::uint32_t>(i);
    const std::uint32_t uid = Get32(rec, 0);
    if (AllZero(rec)) {
      std::uint64_t j = i + 1;
      while (j < count && AllZero(area.subspan(static_cast<std::size_t>(j * rec_size), rec_size)))
        ++j;
      f.problems.push_back({recno, 0, "records " + std::to_string(i) + ".." +
                                          std::to_string(j - 1) + ": all zero bytes"});
      i = j - 1;
      continue;
    }
    if (Get32(rec, crc_off) != Crc32(rec.subspan(0, crc_off))) {
      f.problems.push_back({recno, uid, "record " + std::to_string(recno) + " (uid " +
                                            std::to_string(uid) + "): record CRC mismatch"});
      continue;
    }
    if (uid == 0 || uid <= prev_uid) {
      f.problems.push_back({recno, uid, "record " + std::to_string(recno) + ": uid " +
                                            std::to_string(uid) +
                                            " not above the previous uid " +
                                            std::to_string(prev_uid)});
      continue;
    }
    prev_uid = uid;
    f.records.push_back(DecodeRecord(rec, minor));
  }
}

}  // namespace

Result<IndexHeader> ParseIndexHeader(std::span<const std::uint8_t> b) {
  if (b.size() < 12)
    return Error{Code::kCorrupt, Where("file too short for a header (" +
                                       std::to_string(b.size()) + " bytes)")};
  IndexHeader h;
  h.generation_no = Get32(b, 0);
  h.format = Get32(b, 4);
  h.minor_version = Get32(b, 8);
  const std::size_t hlen = HeaderLenFor(h.minor_version);
  if (hlen == 0)
    return Error{Code::kUnsupported,
                 Where("unsupported minor version " + std::to_string(h.minor_version))};
  if (b.size() < hlen)
    return Error{Code::kCorrupt, Where("header truncated (" + std::to_string(b.size()) +
                                       " of " + std::to_string(hlen) + " bytes)")};
  const std::uint32_t stored_crc = Get32(b, hlen - 4);
  if (stored_crc != Crc32(b.subspan(0, hlen - 4)))
    return Error{Code::kCorrupt, Where("header CRC mismatch")};

  h.start_offset = Get32(b, 12);
  h.record_size = Get32(b, 16);
  h.num_records = Get32(b, 20);
  h.last_appenddate = Get32(b, 24);
  h.last_uid = Get32(b, 28);
  h.quota_mailbox_used = Get64(b, 32);
  h.pop3_last_login = Get32(b, 40);
  h.uidvalidity = Get32(b, 44);
  h.deleted = Get32(b, 48);
  h.answered = Get32(b, 52);
  h.flagged = Get32(b, 56);
  h.options = Get32(b, 60);
  h.leaked_cache = Get32(b, 64);
  h.highestmodseq = Get64(b, 68);
  h.deletedmodseq = Get64(b, 76);
  h.exists = Get32(b, 84);
  h.first_expunged = Get32(b, 88);
  h.last_repack_time = Get32(b, 92);
  h.header_file_crc = Get32(b, 96);
  h.sync_crc = Get32(b, 100);
  h.recentuid = Get32(b, 104);
  h.recenttime = Get32(b, 108);
  if (h.minor_version >= 13) {
    h.pop3_show_after = Get32(b, 112);
    h.quota_annot_used = Get32(b, 116);
    h.sync_crc_annot = Get32(b, 120);
  }
  if (h.minor_version >= 14) h.unseen = Get32(b, 124);
  if (h.minor_version >= 16) h.createdmodseq = Get64(b, 128);
  if (h.minor_version >= 17) h.changes_epoch = Get32(b, 136);

  if (h.start_offset < hlen || h.start_offset > kMaxStartOffset)
    return Error{Code::kCorrupt, Where("bad start_offset " + std::to_string(h.start_offset))};
  const std::size_t need = RecordCrcOffsetFor(h.minor_version) + 4;
  if (h.record_size < need || h.record_size > kMaxRecordSize)
    return Error{Code::kCorrupt, Where("bad record_size " + std::to_string(h.record_size) +
                                       " for minor version " +
                                       std::to_string(h.minor_version))};
  return h;
}

Result<IndexFile> ParseIndex(std::span<const std::uint8_t> b) {
  auto hr = ParseIndexHeader(b);
  if (!hr.ok()) return hr.error();
  IndexFile f;
  f.header = *hr;
  const IndexHeader& h = f.header;
  const std::uint64_t avail =
      b.size() > h.start_offset ? (b.size() - h.start_offset) / h.record_size : 0;
  const std::uint64_t present = std::min<std::uint64_t>(avail, h.num_records);
  if (present > 0)
    ScanRecords(b.subspan(h.start_offset), h.record_size, present, h.minor_version, f);
  if (present < h.num_records) {
    f.problems.push_back(
        {static_cast<std::uint32_t>(present), 0,
         "records " + std::to_string(present) + ".." + std::to_string(h.num_records - 1) +
             " missing: file truncated at " + std::to_string(b.size()) + " bytes"});
  }
  return f;
}

Result<IndexFile> ParseIndexSalvage(std::span<const std::uint8_t> b) {
  auto normal = ParseIndex(b);
  if (normal.ok()) return normal;
  std::uint32_t minor = b.size() >= 12 ? Get32(b, 8) : 0;
  if (HeaderLenFor(minor) == 0) minor = kIndexMinorVersion;
  const std::size_t hlen = HeaderLenFor(minor);
  if (b.size() < hlen) return normal.error();
  IndexFile f;
  f.header_ok = false;
  f.problems.push_back({kHeaderProblem, 0,
                        normal.error().message +
                            "; header fields untrusted, records recovered by their own CRCs"});
  // Decode the header fields without trusting them: take the version's own
  // geometry, re-seal the copy's CRC and read it with the normal decoder.
  const std::size_t rec_size = minor < 13 ? 96 : (minor < 16 ? 104 : 112);
  std::vector<std::uint8_t> copy(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(hlen));
  Put32(copy.data() + 8, minor);
  Put32(copy.data() + 12, static_cast<std::uint32_t>(hlen));
  Put32(copy.data() + 16, static_cast<std::uint32_t>(rec_size));
  Put32(copy.data() + hlen - 4, Crc32(std::span<const std::uint8_t>(copy.data(), hlen - 4)));
  auto hdr = ParseIndexHeader(copy);
  if (hdr.ok()) f.header = *hdr;
  ScanRecords(b.subspan(hlen), rec_size, (b.size() - hlen) / rec_size, minor, f);
  return f;
}

Result<IndexFile> ReadIndexFile(const std::string& path) {
  auto bytes = mr::ReadFile(path);
  if (!bytes.ok()) return bytes.error();
  auto r = ParseIndex(*bytes);
  if (!r.ok()) return Error{r.error().code, path + ": " + r.error().message};
  return r;
}

std::vector<std::uint8_t> SerializeIndex(const IndexHeader& header,
                                         std::span<const IndexRecord> records) {
  std::vector<std::uint8_t> out(kIndexHeaderSize + records.size() * kIndexRecordSize);
  EncodeHeader(header, out.data());
  std::uint8_t* p = out.data() + kIndexHeaderSize;
  for (const IndexRecord& r : records) {
    EncodeRecord(r, p);
    p += kIndexRecordSize;
  }
  return out;
}

namespace {

// CRC32 of each user flag's lower-cased name; 0 = no name (bit ignored).
struct FlagNameCrcs {
  std::array<std::uint32_t, kMaxUserFlags> crc{};
  std::array<bool, kMaxUserFlags> named{};
  explicit FlagNameCrcs(const std::vector<std::string>& names) {
    const std::size_t n = std::min<std::size_t>(names.size(), kMaxUserFlags);
    for (std::size_t i = 0; i < n; ++i) {
      if (names[i].empty()) continue;
      std::string lower = names[i];
      for (char& c : lower)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      crc[i] = CrcString(lower);
      named[i] = true;
    }
  }
};

std::uint32_t SyncCrcWith(const IndexRecord& r, const FlagNameCrcs& names) {
  static const std::uint32_t kDeleted = CrcString("\\deleted");
  static const std::uint32_t kAnswered = CrcString("\\answered");
  static const std::uint32_t kFlagged = CrcString("\\flagged");
  static const std::uint32_t kDraft = CrcString("\\draft");
  static const std::uint32_t kSeen = CrcString("\\seen");
  // XOR, so the order of flags does not matter.
  std::uint32_t flagcrc = 0;
  if (r.system_flags & kFlagDeleted) flagcrc ^= kDeleted;
  if (r.system_flags & kFlagAnswered) flagcrc ^= kAnswered;
  if (r.system_flags & kFlagFlagged) flagcrc ^= kFlagged;
  if (r.system_flags & kFlagDraft) flagcrc ^= kDraft;
  if (r.system_flags & kFlagSeen) flagcrc ^= kSeen;
  for (std::size_t w = 0; w < 4; ++w) {
    std::uint32_t bits = r.user_flags[w];
    while (bits) {
      const int b = __builtin_ctz(bits);
      bits &= bits - 1;
      const std::size_t i = w * 32 + static_cast<std::size_t>(b);
      if (names.named[i]) flagcrc ^= names.crc[i];
    }
  }
  static constexpr char kHex[] = "0123456789abcdef";
  char guid[41];
  for (std::size_t i = 0; i < 20; ++i) {
    guid[2 * i] = kHex[r.guid[i] >> 4];
    guid[2 * i + 1] = kHex[r.guid[i] & 15];
  }
  guid[40] = 0;
  char buf[160];
  const int n = std::snprintf(buf, sizeof buf,
                              "%" PRIu32 " %" PRIu64 " %" PRId64 " (%" PRIu32 ") %" PRId64 " %s",
                              r.uid, r.modseq, static_cast<std::int64_t>(Lo32(r.last_updated)),
                              flagcrc, static_cast<std::int64_t>(Lo32(r.internaldate)), guid);
  return CrcString(std::string_view(buf, static_cast<std::size_t>(n)));
}

}  // namespace

std::uint32_t RecordSyncCrc(const IndexRecord& r,
                            const std::vector<std::string>& user_flag_names) {
  return SyncCrcWith(r, FlagNameCrcs(user_flag_names));
}

std::uint32_t AnnotationCrc(const MessageAnnotation& a) {
  std::string s = std::to_string(a.uid);
  s += ' ';
  s += a.entry;
  s += ' ';
  s += a.userid;
  s += ' ';
  s += a.value;
  return CrcString(s);
}

std::uint32_t RecordAnnotCrc(const IndexRecord& r) {
  std::uint32_t crc = 0;
  const std::string ns = "/vendor/cmu/cyrus-imapd/";
  char buf[32];
  if (r.thrid) {
    std::snprintf(buf, sizeof buf, "%" PRIx64, r.thrid);
    crc ^= AnnotationCrc({r.uid, ns + "thrid", "", buf});
  }
  if (r.savedate) {
    crc ^= AnnotationCrc({r.uid, ns + "savedate", "",
                          std::to_string(static_cast<std::int64_t>(Lo32(r.savedate)))});
  }
  if (r.createdmodseq) {
    crc ^= AnnotationCrc({r.uid, ns + "createdmodseq", "", std::to_string(r.createdmodseq)});
  }
  return crc;
}

std::vector<std::string> CompactUserFlags(const std::vector<std::string>& names,
                                          std::span<IndexRecord> recs) {
  std::vector<std::string> out;
  std::array<int, kMaxUserFlags> map;
  map.fill(-1);
  const std::size_t n = std::min<std::size_t>(names.size(), kMaxUserFlags);
  for (std::size_t i = 0; i < n; ++i) {
    if (names[i].empty()) continue;
    map[i] = static_cast<int>(out.size());
    out.push_back(names[i]);
  }
  for (IndexRecord& r : recs) {
    std::array<std::uint32_t, 4> nf{};
    for (std::size_t i = 0; i < kMaxUserFlags; ++i) {
      if (!(r.user_flags[i / 32] & (1u << (i & 31))) || map[i] < 0) continue;
      const auto j = static_cast<std::size_t>(map[i]);
      nf[j / 32] |= 1u << (j & 31);
    }
    r.user_flags = nf;
  }
  return out;
}

void FinalizeIndexHeader(IndexHeader& h, std::span<const IndexRecord> recs,
                         const std::vector<std::string>& user_flag_names,
                         const AnnotationsForCrc* annots) {
  h.format = 0;
  h.minor_version = kIndexMinorVersion;
  h.start_offset = kIndexHeaderSize;
  h.record_size = kIndexRecordSize;
  h.num_records = static_cast<std::uint32_t>(recs.size());
  h.exists = h.deleted = h.answered = h.flagged = h.unseen = 0;
  h.quota_mailbox_used = 0;
  h.first_expunged = 0;
  h.sync_crc = 0;
  h.sync_crc_annot = kSyncCrcAnnotSeed;
  std::vector<std::uint32_t> live_uids;
  const FlagNameCrcs names(user_flag_names);
  for (const IndexRecord& r : recs) {
    h.last_uid = std::max(h.last_uid, r.uid);
    h.highestmodseq = std::max(h.highestmodseq, r.modseq);
    if (r.system_flags & kFlagExpunged) {
      const std::uint32_t lu = Lo32(r.last_updated);
      if (h.first_expunged == 0 || lu < h.first_expunged) h.first_expunged = lu;
      continue;
    }
    live_uids.push_back(r.uid);
    ++h.exists;
    h.quota_mailbox_used += r.size;
    if (r.system_flags & kFlagAnswered) ++h.answered;
    if (r.system_flags & kFlagFlagged) ++h.flagged;
    if (r.system_flags & kFlagDeleted) ++h.deleted;
    if (!(r.system_flags & kFlagSeen)) ++h.unseen;
    h.sync_crc ^= SyncCrcWith(r, names);
    h.sync_crc_annot ^= RecordAnnotCrc(r);
  }
  if (annots) {
    std::sort(live_uids.begin(), live_uids.end());
    const std::string ns = "/vendor/cmu/cyrus-imapd/";
    for (const MessageAnnotation& a : *annots) {
      if (a.uid == 0) continue;  // mailbox-level annotations do not count
      if (a.entry == ns + "thrid" || a.entry == ns + "savedate" ||
          a.entry == ns + "createdmodseq")
        continue;  // virtual annotations come from the record itself
      if (!std::binary_search(live_uids.begin(), live_uids.end(), a.uid)) continue;
      if (a.value.empty()) continue;  // Cyrus stores no empty values
      h.sync_crc_annot ^= AnnotationCrc(a);
    }
  }
}

}  // namespace mr::cyrus
