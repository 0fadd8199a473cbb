// The parser fuzz targets (targets.h): each feeds the input to one parser of
// untrusted bytes and checks that parser's documented contract.
#include "fuzz/targets.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "reconcile/cyrus/dlist.h"
#include "reconcile/cyrus/flatdb.h"
#include "reconcile/cyrus/header.h"
#include "reconcile/cyrus/index.h"
#include "reconcile/cyrus/mboxdb.h"
#include "reconcile/cyrus/twoskip.h"
#include "salvage/badmap.h"
#include "salvage/dir_parse.h"

namespace mr::fuzz {

void FuzzFail(std::string_view what) {
  std::fprintf(stderr, "FUZZ CONTRACT BROKEN: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

namespace {

std::uint32_t Le32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) | (std::uint32_t(p[1]) << 8) | (std::uint32_t(p[2]) << 16) |
         (std::uint32_t(p[3]) << 24);
}

void CheckDirParse(const salvage::DirBlockParse& r, const salvage::DirParseParams& p) {
  for (const auto& e : r.entries) {
    if (e.ino == 0 || e.ino > p.inodes_count) FuzzFail("dir entry inode out of range");
    if (e.name.empty() || e.name.size() > 255) FuzzFail("dir entry name length");
    if (e.name.find('/') != std::string::npos || e.name.find('\0') != std::string::npos)
      FuzzFail("dir entry name with '/' or NUL");
  }
  if (!r.clean && r.problem.empty()) FuzzFail("unclean dir block without a problem");
}

bool SortedUnique(const cyrus::KvPairs& kv) {
  for (std::size_t i = 1; i < kv.size(); ++i)
    if (!(kv[i - 1].first < kv[i].first)) return false;
  return true;
}

}  // namespace

// Input: 1 byte of options (blocksize, filetype, inline form), 4 bytes of
// inodes_count, then the block.
int FuzzDirBlock(const std::uint8_t* data, std::size_t size) {
  if (size < 5) return 0;
  salvage::DirParseParams p;
  static constexpr std::uint32_t kSizes[] = {1024, 2048, 4096, 65536};
  p.blocksize = kSizes[data[0] & 3];
  p.has_filetype = (data[0] & 4) == 0;
  p.inodes_count = Le32(data + 1);
  const std::uint8_t* buf = data + 5;
  const std::size_t n = size - 5;
  if (data[0] & 8) {
    CheckDirParse(salvage::ParseInlineDir(buf, n, (data[0] & 16) != 0, p), p);
  } else {
    CheckDirParse(salvage::ParseDirBlock(buf, n, p), p);
  }
  return 0;
}

int FuzzBadmap(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto m = salvage::BadMap::Parse(text, "fuzz");
  if (!m.ok()) {
    if (m.error().message.empty() || m.error().message.find('\n') != std::string::npos)
      FuzzFail("badmap error is not one line");
    return 0;
  }
  const auto& r = m->ranges();
  for (std::size_t i = 0; i < r.size(); ++i) {
    if (r[i].length == 0) FuzzFail("badmap empty range");
    if (i && r[i - 1].end() >= r[i].offset) FuzzFail("badmap ranges not sorted and merged");
  }
  if (!r.empty()) {
    const std::uint64_t q = r.front().offset / 2, len = r.back().end() - q;
    for (const auto& o : m->Overlaps(q, len))
      if (o.offset < q || o.end() > q + len || o.length == 0) FuzzFail("badmap overlap not clipped");
  }
  return 0;
}

int FuzzIndex(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> bytes(data, size);
  auto idx = cyrus::ParseIndex(bytes);
  if (idx.ok()) {
    const auto& h = idx->header;
    if (h.record_size == 0 || idx->records.size() > size / h.record_size)
      FuzzFail("index: more records than the file can hold");
    auto hdr = cyrus::ParseIndexHeader(bytes);
    if (!hdr.ok()) FuzzFail("index: ParseIndex ok but ParseIndexHeader fails");
  }
  auto sal = cyrus::ParseIndexSalvage(bytes);
  if (idx.ok() && !sal.ok()) FuzzFail("index: salvage parse fails where the strict one works");
  if (sal.ok() && sal->records.size() > size / 64 + 1)  // smallest record (v12) is > 64 bytes
    FuzzFail("index salvage: more records than the file can hold");
  return 0;
}

int FuzzHeader(const std::uint8_t* data, std::size_t size) {
  auto h = cyrus::ParseHeader(std::span<const std::uint8_t>(data, size));
  if (!h.ok()) return 0;
  // What we write from a parsed header must parse back to the same header
  // (user flags only up to the first gap, as Cyrus writes them).
  const std::string out = cyrus::SerializeHeader(*h);
  auto back = cyrus::ParseHeader(std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(out.data()), out.size()));
  if (!back.ok()) FuzzFail("header: SerializeHeader output does not parse: " + back.error().message);
  if (back->uniqueid != h->uniqueid || back->acl != h->acl || back->quotaroot != h->quotaroot)
    FuzzFail("header: round trip changed uniqueid, quotaroot or ACL");
  return 0;
}

int FuzzDlist(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto d = cyrus::ParseDlist(text);
  if (!d.ok()) return 0;
  const std::string out = cyrus::FormatDlist(*d);
  auto back = cyrus::ParseDlist(out);
  if (!back.ok()) FuzzFail("dlist: FormatDlist output does not parse: " + back.error().message);
  if (!(*back == *d)) FuzzFail("dlist: parse(format(x)) != x");
  return 0;
}

int FuzzTwoskip(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> problems;
  auto kv = cyrus::ReadTwoskip(std::span<const std::uint8_t>(data, size), &problems);
  if (!kv.ok()) return 0;
  if (!SortedUnique(*kv)) FuzzFail("twoskip: pairs not sorted and unique");
  std::uint64_t bytes = 0;
  for (const auto& [k, v] : *kv) bytes += k.size() + v.size();
  if (bytes > size) FuzzFail("twoskip: returned more key+value bytes than the file has");
  // Writing what we read and reading it back gives the same pairs, cleanly.
  cyrus::KvPairs want;
  for (const auto& p : *kv)
    if (!p.first.empty()) want.push_back(p);
  const auto file = cyrus::WriteTwoskip(*kv);
  std::vector<std::string> p2;
  auto back = cyrus::ReadTwoskip(file, &p2);
  if (!back.ok()) FuzzFail("twoskip: our own file does not read");
  if (!p2.empty()) FuzzFail("twoskip: our own file has problems: " + p2.front());
  if (*back != want) FuzzFail("twoskip: write/read round trip changed the pairs");
  return 0;
}

// mailboxes.db from bytes: the same detection and joining ReadMailboxesDb does.
int FuzzMboxdb(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> bytes(data, size);
  std::vector<std::string> problems;
  cyrus::KvPairs kv;
  if (cyrus::IsTwoskip(bytes)) {
    auto r = cyrus::ReadTwoskip(bytes, &problems);
    if (!r.ok()) return 0;
    kv = std::move(*r);
  } else {
    kv = cyrus::ReadFlat(bytes, &problems);
    if (!SortedUnique(kv)) FuzzFail("flat: pairs not sorted and unique");
    std::vector<std::string> p2;
    auto back = cyrus::ReadFlat(cyrus::WriteFlat(kv), &p2);
    if (back != kv || !p2.empty()) FuzzFail("flat: write/read round trip changed the pairs");
  }
  auto entries = cyrus::EntriesFromRecords(kv, &problems);
  for (const auto& e : entries)
    if (e.name.empty() && e.uniqueid.empty()) FuzzFail("mboxdb: entry with neither name nor id");
  // Records of what we read must be well formed: reading them again succeeds.
  std::vector<std::string> p3;
  auto again = cyrus::EntriesFromRecords(cyrus::MailboxesDbRecords(entries), &p3);
  if (again.size() > entries.size() * 2) FuzzFail("mboxdb: records multiply entries");
  return 0;
}

const std::vector<Target>& Targets() {
  static const std::vector<Target> t = {
      {"dirblock", FuzzDirBlock}, {"badmap", FuzzBadmap},   {"index", FuzzIndex},
      {"header", FuzzHeader},     {"dlist", FuzzDlist},     {"twoskip", FuzzTwoskip},
      {"mboxdb", FuzzMboxdb},     {"image", FuzzImage},
  };
  return t;
}

}  // namespace mr::fuzz
