// Cyrus flat database reader and writer; see flatdb.h for the contract.
#include "reconcile/cyrus/flatdb.h"

#include <algorithm>
#include <map>

namespace mr::cyrus {
namespace {

unsigned char ToCompare(unsigned char c) {
  if (c == '.') return 0x02;
  if (c == '\t' || c == '\n') return 0x01;
  if (c >= 0x01 && c <= 0x08) return static_cast<unsigned char>(c + 2);
  return c;
}

std::string Escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c == 0 || c == '\t' || c == '\r' || c == '\n') {
      out.push_back('\xff');
      out.push_back(static_cast<char>(c | 0x80));
    } else if (c == 0xff) {
      out.append("\xff\xff");
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

// Returns false if an escape was dangling or invalid (decoded best-effort anyway).
bool Unescape(std::string_view s, std::string* out) {
  bool ok = true;
  out->clear();
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c != 0xff) { out->push_back(s[i]); continue; }
    if (i + 1 >= s.size()) { ok = false; break; }
    unsigned char n = static_cast<unsigned char>(s[++i]);
    if (n == 0xff) {
      out->push_back('\xff');
    } else if (n == 0x80 || n == (0x80 | '\t') || n == (0x80 | '\r') || n == (0x80 | '\n')) {
      out->push_back(static_cast<char>(n & 0x7f));
    } else {
      ok = false;
      out->push_back(static_cast<char>(n & 0x7f));
    }
  }
  return ok;
}

}  // namespace

int CompareMbox(std::string_view a, std::string_view b) {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    int d = ToCompare(static_cast<unsigned char>(a[i])) - ToCompare(static_cast<unsigned char>(b[i]));
    if (d) return d;
  }
  if (a.size() < b.size()) return -1;
  if (a.size() > b.size()) return 1;
  return 0;
}

KvPairs ReadFlat(std::span<const std::uint8_t> file, std::vector<std::string>* problems) {
  std::vector<std::string> local;
  if (!problems) problems = &local;
  std::string_view text(reinterpret_cast<const char*>(file.data()), file.size());
  std::map<std::string, std::string> kv;
  std::size_t lineno = 0;
  std::size_t pos = 0;
  std::string key, val;
  while (pos < text.size()) {
    ++lineno;
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) {
      problems->push_back("flat db: line " + std::to_string(lineno) + " has no newline (truncated?)");
      nl = text.size();
    }
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    std::size_t tab = line.find('\t');
    if (tab == std::string_view::npos) {
      if (!line.empty()) {
        problems->push_back("flat db: line " + std::to_string(lineno) + " has no TAB, skipped");
      }
      continue;
    }
    bool ok = Unescape(line.substr(0, tab), &key);
    ok = Unescape(line.substr(tab + 1), &val) && ok;
    if (!ok) problems->push_back("flat db: line " + std::to_string(lineno) + " has a bad escape");
    if (key.empty()) {
      problems->push_back("flat db: line " + std::to_string(lineno) + " has an empty key, skipped");
      continue;
    }
    kv[key] = val;
  }
  return KvPairs(kv.begin(), kv.end());
}

std::vector<std::uint8_t> WriteFlat(const KvPairs& in) {
  std::map<std::string, std::string> dedup;
  for (const auto& [k, v] : in) dedup[k] = v;
  std::vector<std::pair<std::string, std::string>> lines;
  lines.reserve(dedup.size());
  for (const auto& [k, v] : dedup) lines.emplace_back(Escape(k), Escape(v));
  std::sort(lines.begin(), lines.end(),
            [](const auto& a, const auto& b) { return CompareMbox(a.first, b.first) < 0; });
  std::vector<std::uint8_t> out;
  for (const auto& [k, v] : lines) {
    out.insert(out.end(), k.begin(), k.end());
    out.push_back('\t');
    out.insert(out.end(), v.begin(), v.end());
    out.push_back('\n');
  }
  return out;
}

}  // namespace mr::cyrus
