#include "salvage/cyrus_meta.h"

#include <algorithm>
#include <cstring>
#include <string_view>

#include <zlib.h>

namespace mr::salvage {
namespace {

constexpr std::string_view kMagicStart = "\241\002\213\015Cyrus mailbox header\n";
constexpr std::string_view kMagicEnd = "\t--Jim Morris on Andrew\n";

std::uint32_t Be32(const std::uint8_t* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
         std::uint32_t(p[3]);
}

// Reads one dlist value at s[i] (atom, "quoted", {n+}\r\n literal, or a
// parenthesised list which is skipped); returns false on malformed input.
bool ReadValue(std::string_view s, size_t& i, std::string* out) {
  out->clear();
  if (i >= s.size()) return false;
  char c = s[i];
  if (c == '"') {
    for (++i; i < s.size(); ++i) {
      if (s[i] == '\\' && i + 1 < s.size()) { out->push_back(s[++i]); continue; }
      if (s[i] == '"') { ++i; return true; }
      out->push_back(s[i]);
    }
    return false;
  }
  if (c == '{') {
    size_t close = s.find('}', i);
    if (close == std::string_view::npos || close - i > 12) return false;
    std::string num(s.substr(i + 1, close - i - 1));
    if (!num.empty() && num.back() == '+') num.pop_back();
    if (num.empty() || num.find_first_not_of("0123456789") != std::string::npos) return false;
    size_t n = std::stoul(num);
    size_t start = close + 1;
    if (s.substr(start, 2) == "\r\n") start += 2;
    else if (s.substr(start, 1) == "\n") start += 1;
    if (start > s.size() || n > s.size() - start) return false;
    *out = std::string(s.substr(start, n));
    i = start + n;
    return true;
  }
  if (c == '(' || (c == '%' && i + 1 < s.size() && s[i + 1] == '(')) {
    int depth = 0;
    bool quoted = false;
    for (; i < s.size(); ++i) {
      char d = s[i];
      if (quoted) {
        if (d == '\\') ++i;
        else if (d == '"') quoted = false;
        continue;
      }
      if (d == '"') quoted = true;
      else if (d == '(') ++depth;
      else if (d == ')' && --depth == 0) { ++i; return true; }
    }
    return false;
  }
  while (i < s.size() && s[i] != ' ' && s[i] != ')' && s[i] != '\n' && s[i] != '\r') out->push_back(s[i++]);
  return !out->empty();
}

}  // namespace

Result<CyrusHeaderInfo> ParseCyrusHeader(std::span<const std::uint8_t> data) {
  std::string_view s(reinterpret_cast<const char*>(data.data()), data.size());
  if (s.substr(0, kMagicStart.size()) != kMagicStart)
    return Error{Code::kCorrupt, "cyrus.header: bad magic"};
  size_t p = s.find(kMagicEnd);
  if (p == std::string_view::npos) return Error{Code::kCorrupt, "cyrus.header: truncated magic"};
  std::string_view rest = s.substr(p + kMagicEnd.size());
  CyrusHeaderInfo info;
  if (rest.substr(0, 2) == "%(") {
    size_t i = 2;
    std::string key, val;
    while (i < rest.size() && rest[i] != ')') {
      while (i < rest.size() && rest[i] == ' ') ++i;
      if (i >= rest.size() || rest[i] == ')') break;
      if (!ReadValue(rest, i, &key)) return Error{Code::kCorrupt, "cyrus.header: malformed dlist"};
      while (i < rest.size() && rest[i] == ' ') ++i;
      if (!ReadValue(rest, i, &val)) return Error{Code::kCorrupt, "cyrus.header: malformed dlist value for " + key};
      if (key == "N") info.name = val;
      else if (key == "I") info.uniqueid = val;
    }
    if (info.name.empty() || info.uniqueid.empty())
      return Error{Code::kCorrupt, "cyrus.header: no N or I field"};
    return info;
  }
  // Pre-3.6: "quotaroot\tuniqueid\n".
  size_t nl = rest.find('\n');
  std::string_view line = rest.substr(0, nl);
  size_t tab = line.find('\t');
  if (tab == std::string_view::npos || tab + 1 >= line.size())
    return Error{Code::kCorrupt, "cyrus.header: no uniqueid line"};
  info.uniqueid = std::string(line.substr(tab + 1));
  return info;
}

Result<std::vector<IndexRecordKey>> ParseIndexGuids(std::span<const std::uint8_t> d) {
  if (d.size() < 160) return Error{Code::kCorrupt, "cyrus.index: shorter than its header"};
  const std::uint32_t start = Be32(d.data() + 12), rec = Be32(d.data() + 16), num = Be32(d.data() + 20);
  if (start < 160 || start > d.size() || rec < 80 || rec > 4096)
    return Error{Code::kCorrupt, "cyrus.index: bad start_offset/record_size"};
  const std::uint64_t fit = (d.size() - start) / rec;
  std::vector<IndexRecordKey> out;
  out.reserve(std::min<std::uint64_t>(num, fit));
  for (std::uint64_t k = 0; k < std::min<std::uint64_t>(num, fit); ++k) {
    const std::uint8_t* r = d.data() + start + k * rec;
    IndexRecordKey key;
    key.uid = Be32(r);
    std::memcpy(key.guid.data(), r + 60, 20);
    if (key.uid != 0) out.push_back(key);
  }
  return out;
}

Result<IndexCacheRefs> ParseIndexCacheRefs(std::span<const std::uint8_t> d, std::size_t max) {
  if (d.size() < 128) return Error{Code::kCorrupt, "cyrus.index: shorter than its header"};
  const std::uint32_t minor = Be32(d.data() + 8), start = Be32(d.data() + 12), rec = Be32(d.data() + 16),
                      num = Be32(d.data() + 20);
  if (minor < 12 || minor > 17) return Error{Code::kCorrupt, "cyrus.index: unknown minor version"};
  const std::uint32_t crc_at = minor == 12 ? 88 : minor <= 15 ? 96 : 104;
  if (start < 128 || start > d.size() || rec < crc_at + 4 || rec > 4096)
    return Error{Code::kCorrupt, "cyrus.index: bad start_offset/record_size"};
  IndexCacheRefs out;
  out.generation = Be32(d.data());
  const std::uint64_t n = std::min<std::uint64_t>(num, (d.size() - start) / rec);
  for (std::uint64_t k = 0; k < n && out.records.size() < max; ++k) {
    const std::uint8_t* r = d.data() + start + k * rec;
    if (Be32(r) == 0) continue;
    std::uint64_t off = Be32(r + 24);
    if (minor >= 16) off |= std::uint64_t(Be32(r + 56) >> 16) << 32;
    if (off == 0) continue;
    out.records.emplace_back(off, Be32(r + crc_at));
  }
  return out;
}

bool CacheMatchesIndex(std::span<const std::uint8_t> c, const IndexCacheRefs& refs) {
  if (c.size() < 4 || refs.records.empty() || Be32(c.data()) != refs.generation) return false;
  for (const auto& [off, crc] : refs.records) {
    std::uint64_t at = off;
    for (int item = 0; item < 10; ++item) {
      if (at > c.size() || c.size() - at < 4) return false;
      const std::uint64_t len = Be32(c.data() + at);
      const std::uint64_t padded = (len + 3) & ~std::uint64_t{3};
      if (padded > c.size() - at - 4) return false;
      at += 4 + padded;
    }
    const auto got = static_cast<std::uint32_t>(
        ::crc32(0L, c.data() + off, static_cast<uInt>(at - off)));
    if (got != crc) return false;
  }
  return true;
}

bool IsSkipDb(std::span<const std::uint8_t> d) {
  constexpr std::string_view kTwoskip("\241\002\213\015twoskip file\0\0\0\0", 20);
  constexpr std::string_view kSkiplist("\241\002\213\015skiplist file\0\0\0", 20);
  std::string_view s(reinterpret_cast<const char*>(d.data()), std::min<std::size_t>(d.size(), 20));
  return s == kTwoskip || s == kSkiplist;
}

std::size_t CountMailboxesDbRecords(std::span<const std::uint8_t> d) {
  std::string_view s(reinterpret_cast<const char*>(d.data()), std::min<std::size_t>(d.size(), 4u << 20));
  if (s.substr(0, kMagicStart.size()) == kMagicStart) return 0;  // a cyrus.header
  if (!IsSkipDb(d)) {
    // flat: the first line is `key TAB %(`
    const size_t nl = s.find('\n');
    const size_t tab = s.substr(0, nl).find('\t');
    if (tab == std::string_view::npos || tab == 0 || s.substr(tab + 1, 2) != "%(") return 0;
  }
  std::size_t n = 0;
  for (size_t p = s.find("%(T "); p != std::string_view::npos; p = s.find("%(T ", p + 4)) {
    size_t i = p + 4;
    while (i < s.size() && s[i] >= 'a' && s[i] <= 'z' && i - p < 16) ++i;
    if (i + 3 <= s.size() && s[i] == ' ' && (s[i + 1] == 'I' || s[i + 1] == 'N') && s[i + 2] == ' ') ++n;
  }
  return n;
}

std::size_t CountAnnotationsDbKeys(std::span<const std::uint8_t> d,
                                   const std::set<std::string, std::less<>>& known) {
  if (!IsSkipDb(d)) return 0;
  std::string_view s(reinterpret_cast<const char*>(d.data()), std::min<std::size_t>(d.size(), 4u << 20));
  constexpr std::string_view kSep("\0/", 2);
  std::size_t n = 0;
  for (size_t p = s.find(kSep); p != std::string_view::npos; p = s.find(kSep, p + 2)) {
    size_t b = p;
    while (b > 0 && p - b < 256 && static_cast<unsigned char>(s[b - 1]) >= 0x20 && s[b - 1] != 0x7f) --b;
    if (b < p && known.count(s.substr(b, p - b))) ++n;
  }
  return n;
}

}  // namespace mr::salvage
