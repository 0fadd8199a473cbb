// twoskip reader (with damage recovery) and writer; see twoskip.h for the contract.
#include "reconcile/cyrus/twoskip.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string_view>

#include "reconcile/cyrus/crc32.h"

namespace mr::cyrus {
namespace {

constexpr char kMagic[20] = {'\xa1', '\x02', '\x8b', '\x0d', 't', 'w', 'o', 's', 'k', 'i',
                             'p',    ' ',    'f',    'i',    'l', 'e', 0,   0,   0,   0};
constexpr char kBlank[8] = {' ', 'B', 'L', 'A', 'N', 'K', '\x07', '\xa0'};
constexpr std::size_t kHeaderSize = 64;
constexpr std::size_t kDummyOffset = 64;
constexpr int kMaxLevel = 31;
constexpr std::size_t kBlockSize = 512;
constexpr std::uint32_t kVersion = 1;

enum : std::uint8_t { kDummy = '=', kRecord = '+', kDelete = '-', kCommit = '$' };

std::uint64_t Be(std::span<const std::uint8_t> f, std::size_t off, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | f[off + static_cast<std::size_t>(i)];
  return v;
}

void PutBe(std::vector<std::uint8_t>* out, std::size_t off, std::uint64_t v, int n) {
  for (int i = n - 1; i >= 0; --i) {
    (*out)[off + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v & 0xff);
    v >>= 8;
  }
}

std::size_t RoundUp8(std::size_t n) { return (n + 7) & ~static_cast<std::size_t>(7); }

std::string Hex(std::size_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%zx", v);
  return buf;
}

struct Rec {
  std::size_t off = 0;
  std::size_t len = 0;
  std::uint8_t type = 0;
  std::uint8_t level = 0;
  std::size_t keyoff = 0;
  std::size_t keylen = 0;
  std::size_t vallen = 0;
  std::array<std::uint64_t, kMaxLevel + 1> ptr{};
  bool tail_ok = false;
};

// Parses the record at `off`, checking bounds and the head CRC. On failure returns nullopt
// and sets *why.
std::optional<Rec> ReadRecord(std::span<const std::uint8_t> f, std::size_t off,
                              std::string* why) {
  const std::size_t size = f.size();
  if (off < kHeaderSize || off % 8 != 0 || off > size || size - off < 24) {
    *why = "record offset " + Hex(off) + " out of range";
    return std::nullopt;
  }
  Rec r;
  r.off = off;
  r.type = f[off];
  r.level = f[off + 1];
  if (r.type != kDummy && r.type != kRecord && r.type != kDelete && r.type != kCommit) {
    *why = "bad record type at " + Hex(off);
    return std::nullopt;
  }
  if (r.level > kMaxLevel) {
    *why = "bad record level at " + Hex(off);
    return std::nullopt;
  }
  std::uint64_t keylen = Be(f, off + 2, 2);
  std::uint64_t vallen = Be(f, off + 4, 4);
  std::size_t p = off + 8;
  if (keylen == 0xFFFF) {
    if (size - p < 8) { *why = "truncated record at " + Hex(off); return std::nullopt; }
    keylen = Be(f, p, 8);
    p += 8;
  }
  if (vallen == 0xFFFFFFFFu) {
    if (size - p < 8) { *why = "truncated record at " + Hex(off); return std::nullopt; }
    vallen = Be(f, p, 8);
    p += 8;
  }
  const std::size_t ptrs = 8 * (static_cast<std::size_t>(r.level) + 1);
  if (size - p < ptrs + 8) { *why = "truncated record at " + Hex(off); return std::nullopt; }
  const std::size_t head_end = p + ptrs;  // CRCs start here
  const std::size_t kv_start = head_end + 8;
  if (keylen > size || vallen > size || keylen + vallen > size - kv_start) {
    *why = "record at " + Hex(off) + " extends past the end of the file";
    return std::nullopt;
  }
  const std::size_t padded = RoundUp8(static_cast<std::size_t>(keylen + vallen));
  if (padded > size - kv_start) {
    *why = "record at " + Hex(off) + " extends past the end of the file";
    return std::nullopt;
  }
  for (std::size_t i = 0; i <= r.level; ++i) r.ptr[i] = Be(f, p + 8 * i, 8);
  const std::uint32_t head_crc = static_cast<std::uint32_t>(Be(f, head_end, 4));
  const std::uint32_t tail_crc = static_cast<std::uint32_t>(Be(f, head_end + 4, 4));
  if (Crc32(f.subspan(off, head_end - off)) != head_crc) {
    *why = "record head CRC mismatch at " + Hex(off);
    return std::nullopt;
  }
  r.keyoff = kv_start;
  r.keylen = static_cast<std::size_t>(keylen);
  r.vallen = static_cast<std::size_t>(vallen);
  r.len = kv_start - off + padded;
  r.tail_ok = Crc32(f.subspan(kv_start, padded)) == tail_crc;
  return r;
}

std::string KeyOf(std::span<const std::uint8_t> f, const Rec& r) {
  return std::string(reinterpret_cast<const char*>(f.data() + r.keyoff), r.keylen);
}
std::string ValOf(std::span<const std::uint8_t> f, const Rec& r) {
  return std::string(reinterpret_cast<const char*>(f.data() + r.keyoff + r.keylen), r.vallen);
}

std::string Printable(std::string_view key) {
  std::string out;
  for (char c : key.substr(0, 80)) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// The live level-0 successor, as Cyrus's _getloc picks it.
std::uint64_t Next0(const Rec& r, std::uint64_t end) {
  if (r.type == kDelete || r.type == kCommit) return r.ptr[0];
  const std::uint64_t a = r.ptr[0], b = r.ptr[1];
  if (a >= end) return b;
  if (b >= end) return a;
  return std::max(a, b);
}

struct Header {
  bool ok = false;
  std::uint64_t current_size = 0;
};

Header ReadHeader(std::span<const std::uint8_t> f, std::vector<std::string>* problems) {
  Header h;
  if (std::memcmp(f.data(), kMagic, sizeof kMagic) != 0) {
    problems->push_back("twoskip: bad magic in header");
    return h;
  }
  if (Crc32(f.subspan(0, 60)) != static_cast<std::uint32_t>(Be(f, 60, 4))) {
    problems->push_back("twoskip: header CRC mismatch");
    return h;
  }
  if (Be(f, 20, 4) > kVersion) {
    problems->push_back("twoskip: unknown version " + std::to_string(Be(f, 20, 4)));
    return h;
  }
  h.current_size = Be(f, 48, 8);
  if (Be(f, 56, 4) & 1) problems->push_back("twoskip: header marks an unfinished transaction");
  if (h.current_size > f.size()) {
    problems->push_back("twoskip: file is shorter (" + std::to_string(f.size()) +
                        " bytes) than its committed size " + std::to_string(h.current_size));
  }
  h.ok = true;
  return h;
}

// Walks level 0 from the dummy, ignoring level-0 pointers at or past `end` (the committed
// size) as Cyrus does. Returns nullopt if the chain breaks.
std::optional<KvPairs> Walk(std::span<const std::uint8_t> f, std::uint64_t end,
                            std::vector<std::string>* problems) {
  if (end > f.size()) return std::nullopt;
  std::string why;
  auto dummy = ReadRecord(f, kDummyOffset, &why);
  if (!dummy || dummy->type != kDummy) {
    problems->push_back("twoskip: dummy record unreadable" + (why.empty() ? "" : ": " + why));
    return std::nullopt;
  }
  KvPairs out;
  std::vector<std::string> dropped;
  // Every step reads a distinct record of at least 24 bytes unless the chain loops.
  const std::size_t max_steps = f.size() / 24 + 1;
  std::size_t steps = 0;
  Rec cur = *dummy;
  for (;;) {
    std::uint64_t next = Next0(cur, end);
    if (next == 0) break;
    if (next >= end) {
      problems->push_back("twoskip: pointer " + Hex(next) + " past the committed end");
      return std::nullopt;
    }
    if (++steps > max_steps) {
      problems->push_back("twoskip: pointer cycle at " + Hex(next));
      return std::nullopt;
    }
    auto r = ReadRecord(f, static_cast<std::size_t>(next), &why);
    if (!r || r->type == kDummy || r->type == kCommit) {
      problems->push_back("twoskip: broken chain: " + (r ? "unexpected record type at " + Hex(next) : why));
      return std::nullopt;
    }
    if (r->type == kRecord) {
      if (r->tail_ok) {
        out.emplace_back(KeyOf(f, *r), ValOf(f, *r));
      } else {
        dropped.push_back("twoskip: record '" + Printable(KeyOf(f, *r)) + "' at " + Hex(r->off) +
                          ": value CRC mismatch, dropped");
      }
    }
    cur = *r;
  }
  problems->insert(problems->end(), dropped.begin(), dropped.end());
  return out;
}

// End offset of the last commit record that reads back intact (0 if none).
std::uint64_t LastCommitEnd(std::span<const std::uint8_t> f) {
  std::uint64_t last = 0;
  std::string why;
  for (std::size_t off = kDummyOffset; off + 8 <= f.size();) {
    if (std::memcmp(f.data() + off, kBlank, 8) == 0) { off += 8; continue; }
    auto r = ReadRecord(f, off, &why);
    if (!r) { off += 8; continue; }
    if (r->type == kCommit) last = r->off + r->len;
    off += r->len;
  }
  return last;
}

// Linear scan for records whose CRCs check; see the header for the rules. Keeps only
// offsets per record (pointers are re-read when needed) so memory stays small.
std::map<std::string, std::string> Scan(std::span<const std::uint8_t> f, std::uint64_t end,
                                        std::vector<std::string>* problems) {
  struct Found {
    std::size_t off, len, keyoff, keylen, vallen;
    std::uint8_t type;
  };
  std::vector<Found> found;  // every readable record, in file order
  std::size_t skipped = 0, last_delete = 0;
  std::string why;
  for (std::size_t off = kDummyOffset; off + 8 <= f.size();) {
    if (std::memcmp(f.data() + off, kBlank, 8) == 0) { off += 8; continue; }
    auto r = ReadRecord(f, off, &why);
    if (!r) { off += 8; ++skipped; continue; }
    if (r->type == kRecord && !r->tail_ok) {
      problems->push_back("twoskip: record '" + Printable(KeyOf(f, *r)) + "' at " +
                          Hex(r->off) + ": value CRC mismatch, dropped");
    } else {
      found.push_back(Found{r->off, r->len, r->keyoff, r->keylen, r->vallen, r->type});
      if (r->type == kDelete) last_delete = std::max(last_delete, r->off);
    }
    off += r->len;
  }
  if (skipped) {
    problems->push_back("twoskip: skipped " + std::to_string(skipped * 8) +
                        " unreadable bytes while scanning");
  }
  auto key_of = [&](const Found& r) {
    return std::string(reinterpret_cast<const char*>(f.data() + r.keyoff), r.keylen);
  };
  // newest committed version of each key
  std::map<std::string, const Found*> newest;
  std::size_t uncommitted = 0;
  for (const Found& r : found) {
    if (r.type != kRecord) continue;
    if (r.off + r.len > end) { ++uncommitted; continue; }
    auto [it, inserted] = newest.emplace(key_of(r), &r);
    if (!inserted && it->second->off < r.off) it->second = &r;
  }
  if (uncommitted) {
    problems->push_back("twoskip: ignored " + std::to_string(uncommitted) +
                        " uncommitted record(s)");
  }
  // A record some later delete may have unlinked must still be pointed at by a live
  // record: through its current level-0 slot (the other slot keeps the pre-transaction
  // pointer) or a higher level (rewritten in place on delete).
  std::set<std::uint64_t> pointed;
  if (last_delete) {
    for (const Found& r : found) {
      if (r.type == kCommit) continue;
      if (r.type == kRecord) {
        auto it = newest.find(key_of(r));
        if (it == newest.end() || it->second->off != r.off) continue;
      }
      auto rec = ReadRecord(f, r.off, &why);
      if (!rec) continue;
      pointed.insert(Next0(*rec, end));
      for (std::size_t i = 2; i <= rec->level; ++i) pointed.insert(rec->ptr[i]);
    }
  }
  std::map<std::string, std::string> out;
  for (const auto& [key, r] : newest) {
    if (last_delete > r->off && !pointed.count(r->off)) {
      problems->push_back("twoskip: record '" + Printable(key) + "' at " + Hex(r->off) +
                          " is no longer linked after a delete; treated as deleted");
      continue;
    }
    out.emplace(key, std::string(reinterpret_cast<const char*>(f.data() + r->keyoff + r->keylen),
                                 r->vallen));
  }
  return out;
}

// Deterministic skiplist level from the key: 1 + trailing one-bits of a hash.
std::uint8_t LevelFor(std::string_view key) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ull;
  }
  h ^= h >> 29;
  int lvl = 1;
  while ((h & 1) && lvl < kMaxLevel) {
    ++lvl;
    h >>= 1;
  }
  return static_cast<std::uint8_t>(lvl);
}

std::size_t HeadSize(std::size_t keylen, std::size_t vallen, int level) {
  std::size_t n = 8;
  if (keylen >= 0xFFFF) n += 8;
  if (vallen >= 0xFFFFFFFFu) n += 8;
  return n + 8 * (static_cast<std::size_t>(level) + 1) + 8;
}

// Cyrus pads with BLANKs so a record head never straddles a 512-byte block.
std::size_t PadBefore(std::size_t end, std::size_t head) {
  if (head > kBlockSize - 8) return end;
  while (((end + 8) % kBlockSize) > ((end - 8 + head) % kBlockSize)) end += 8;
  return end;
}

struct Layout {
  std::size_t off = 0;
  std::uint8_t level = 0;
  std::uint8_t type = 0;
  std::size_t keylen = 0, vallen = 0;
  std::array<std::uint64_t, kMaxLevel + 1> ptr{};
};

void Emit(std::vector<std::uint8_t>* out, const Layout& l,
          std::string_view key, std::string_view val) {
  // BLANK padding between the previous end and this record
  for (std::size_t p = out->size(); p < l.off; p += 8) {
    out->insert(out->end(), kBlank, kBlank + 8);
  }
  const std::size_t off = out->size();
  const std::size_t head = HeadSize(l.keylen, l.vallen, l.level);
  const std::size_t padded = RoundUp8(l.keylen + l.vallen);
  out->resize(off + head + padded, 0);
  (*out)[off] = l.type;
  (*out)[off + 1] = l.level;
  std::size_t p = off + 8;
  if (l.keylen >= 0xFFFF) {
    PutBe(out, off + 2, 0xFFFF, 2);
    PutBe(out, p, l.keylen, 8);
    p += 8;
  } else {
    PutBe(out, off + 2, l.keylen, 2);
  }
  if (l.vallen >= 0xFFFFFFFFu) {
    PutBe(out, off + 4, 0xFFFFFFFFu, 4);
    PutBe(out, p, l.vallen, 8);
    p += 8;
  } else {
    PutBe(out, off + 4, l.vallen, 4);
  }
  for (std::size_t i = 0; i <= l.level; ++i, p += 8) PutBe(out, p, l.ptr[i], 8);
  if (!key.empty()) std::memcpy(out->data() + p + 8, key.data(), key.size());
  if (!val.empty()) std::memcpy(out->data() + p + 8 + key.size(), val.data(), val.size());
  const std::uint32_t tail =
      Crc32(std::span<const std::uint8_t>(out->data() + p + 8, padded));
  const std::uint32_t headcrc = Crc32(std::span<const std::uint8_t>(out->data() + off, p - off));
  PutBe(out, p, headcrc, 4);
  PutBe(out, p + 4, tail, 4);
}

}  // namespace

bool IsTwoskip(std::span<const std::uint8_t> file) {
  return file.size() >= sizeof kMagic && std::memcmp(file.data(), kMagic, sizeof kMagic) == 0;
}

Result<KvPairs> ReadTwoskip(std::span<const std::uint8_t> file,
                            std::vector<std::string>* problems) {
  std::vector<std::string> local;
  if (!problems) problems = &local;
  if (file.size() < kHeaderSize) {
    return Error{Code::kCorrupt, "twoskip: file too short for a header (" +
                                     std::to_string(file.size()) + " bytes)"};
  }
  Header h = ReadHeader(file, problems);
  // The committed size: from the header, else the end of the last intact commit record.
  std::uint64_t end = h.current_size;
  if (!h.ok) {
    end = LastCommitEnd(file);
    if (end) {
      problems->push_back("twoskip: taking the end of the last commit record (" + Hex(end) +
                          ") as the committed size");
    } else {
      // Nothing says what was committed; a rescue keeps every intact record.
      end = file.size();
      problems->push_back("twoskip: no intact commit record either; keeping every intact record");
    }
  }
  if (auto walked = Walk(file, end, problems)) {
    KvPairs kv = std::move(*walked);
    bool sorted = true;
    for (std::size_t i = 1; i < kv.size() && sorted; ++i) sorted = kv[i - 1].first < kv[i].first;
    if (sorted) return kv;
    // not in raw order (e.g. a mailbox-sorted file): sort, first occurrence wins
    std::stable_sort(kv.begin(), kv.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    kv.erase(std::unique(kv.begin(), kv.end(),
                         [](const auto& a, const auto& b) { return a.first == b.first; }),
             kv.end());
    return kv;
  }
  problems->push_back("twoskip: scanning the whole file for intact records");
  auto kv = Scan(file, end, problems);
  return KvPairs(std::make_move_iterator(kv.begin()), std::make_move_iterator(kv.end()));
}

std::vector<std::uint8_t> WriteTwoskip(const KvPairs& sorted_kv) {
  const KvPairs* in = &sorted_kv;
  KvPairs sorted;
  bool ok = true;
  for (std::size_t i = 0; i < sorted_kv.size() && ok; ++i) {
    ok = !sorted_kv[i].first.empty() && (i == 0 || sorted_kv[i - 1].first < sorted_kv[i].first);
  }
  if (!ok) {
    std::map<std::string, std::string> m;
    for (const auto& [k, v] : sorted_kv) {
      if (!k.empty()) m[k] = v;
    }
    sorted.assign(m.begin(), m.end());
    in = &sorted;
  }
  std::vector<KvView> views;
  views.reserve(in->size());
  for (const auto& [k, v] : *in) views.emplace_back(k, v);
  return WriteTwoskipSorted(views);
}

std::vector<std::uint8_t> WriteTwoskipSorted(std::span<const KvView> kv) {
  // pass 1: offsets and levels
  std::vector<Layout> recs(kv.size());
  Layout dummy;
  dummy.off = kDummyOffset;
  dummy.type = kDummy;
  dummy.level = kMaxLevel;
  std::size_t end = kDummyOffset + HeadSize(0, 0, kMaxLevel);
  const std::size_t txn_start = end;
  for (std::size_t i = 0; i < kv.size(); ++i) {
    Layout& l = recs[i];
    l.type = kRecord;
    l.level = LevelFor(kv[i].first);
    l.keylen = kv[i].first.size();
    l.vallen = kv[i].second.size();
    l.off = PadBefore(end, HeadSize(l.keylen, l.vallen, l.level));
    end = l.off + HeadSize(l.keylen, l.vallen, l.level) + RoundUp8(l.keylen + l.vallen);
  }
  // pass 2: forward pointers, walking backwards keeping the next node at each level
  std::array<std::uint64_t, kMaxLevel> next_at{};  // level k -> next record offset
  for (std::size_t i = kv.size(); i-- > 0;) {
    Layout& l = recs[i];
    l.ptr[0] = next_at[0];
    l.ptr[1] = 0;
    for (int k = 1; k < l.level; ++k) l.ptr[static_cast<std::size_t>(k) + 1] = next_at[static_cast<std::size_t>(k)];
    for (int k = 0; k < l.level; ++k) next_at[static_cast<std::size_t>(k)] = l.off;
  }
  dummy.ptr[0] = next_at[0];
  for (int k = 1; k < kMaxLevel; ++k) dummy.ptr[static_cast<std::size_t>(k) + 1] = next_at[static_cast<std::size_t>(k)];

  std::vector<std::uint8_t> out(kHeaderSize, 0);
  out.reserve(end + kBlockSize);  // the records, then at most a commit record and its padding
  Emit(&out, dummy, {}, {});
  for (std::size_t i = 0; i < kv.size(); ++i) Emit(&out, recs[i], kv[i].first, kv[i].second);
  std::size_t repack_size = out.size();
  if (!kv.empty()) {
    Layout commit;
    commit.type = kCommit;
    commit.level = 0;
    commit.ptr[0] = txn_start;
    commit.off = PadBefore(out.size(), HeadSize(0, 0, 0));
    Emit(&out, commit, {}, {});
  }
  std::memcpy(out.data(), kMagic, sizeof kMagic);
  PutBe(&out, 20, kVersion, 4);
  PutBe(&out, 24, 1, 8);  // generation
  PutBe(&out, 32, kv.size(), 8);
  PutBe(&out, 40, repack_size, 8);
  PutBe(&out, 48, out.size(), 8);
  PutBe(&out, 56, 0, 4);  // flags: clean
  PutBe(&out, 60, Crc32(std::span<const std::uint8_t>(out.data(), 60)), 4);
  return out;
}

}  // namespace mr::cyrus
