// Quota root files (quotalegacy). See quota.h.
#include "reconcile/quota.h"

#include <sys/stat.h>

#include <charconv>
#include <vector>

#include "common/cyrus_layout.h"
#include "reconcile/cyrus/dlist.h"

namespace mr::reconcile {
namespace {

constexpr std::array<std::string_view, kQuotaResources> kNames = {"STORAGE", "MESSAGE", "X-ANNOTATION-STORAGE",
                                                                  "X-NUM-FOLDERS"};
constexpr std::array<std::string_view, kQuotaResources> kDbNames = {"S", "M", "AS", "NF"};

template <typename T>
bool Num(std::string_view s, T* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::vector<std::string_view> Fields(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
    std::size_t b = i;
    while (i < s.size() && !(s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
    if (i > b) out.push_back(s.substr(b, i - b));
  }
  return out;
}

// Pre-2.5 form: "used limit [NAME used limit]...", STORAGE first; names as IMAP spells them.
Result<QuotaRecord> ParseOld(std::string_view text) {
  QuotaRecord q;
  auto f = Fields(text);
  std::size_t i = 0;
  int res = kQuotaStorage;
  while (true) {
    if (i + 2 > f.size()) return Error{Code::kCorrupt, "quota record: truncated"};
    std::int64_t limit = 0;
    if (!Num(f[i], &q.used[res]) || !Num(f[i + 1], &limit)) return Error{Code::kCorrupt, "quota record: not a number"};
    if (limit >= 0) q.limit[res] = limit;
    i += 2;
    if (i == f.size()) return q;
    res = kQuotaResources;
    for (int r = 0; r < kQuotaResources; ++r)
      if (f[i] == kNames[r] || f[i] == kDbNames[r]) res = r;
    if (res == kQuotaResources) return Error{Code::kCorrupt, "quota record: unknown resource"};
    ++i;
  }
}

}  // namespace

Result<QuotaRecord> ParseQuotaRecord(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  if (text.empty()) return Error{Code::kCorrupt, "quota record: empty"};
  if (text[0] != '%') return ParseOld(text);
  auto dl = cyrus::ParseDlist(text);
  if (!dl) return Error{Code::kCorrupt, "quota record: " + dl.error().message};
  if (dl->kind != cyrus::Dlist::Kind::kKvList) return Error{Code::kCorrupt, "quota record: not a kvlist"};
  QuotaRecord q;
  for (int r = 0; r < kQuotaResources; ++r) {
    const cyrus::Dlist* item = dl->Get(kDbNames[r]);
    if (!item) continue;
    if (item->kind != cyrus::Dlist::Kind::kList || item->items.empty() || item->items.size() > 2)
      return Error{Code::kCorrupt, "quota record: bad " + std::string(kDbNames[r])};
    if (!Num(item->items[0].atom, &q.used[r])) return Error{Code::kCorrupt, "quota record: bad usage"};
    if (item->items.size() == 2) {
      std::int64_t limit = 0;
      if (!Num(item->items[1].atom, &limit)) return Error{Code::kCorrupt, "quota record: bad limit"};
      if (limit >= 0) q.limit[r] = limit;
    }
  }
  if (std::string m = dl->GetAtom("MODSEQ"); !m.empty()) {
    std::uint64_t v = 0;
    if (!Num(m, &v)) return Error{Code::kCorrupt, "quota record: bad MODSEQ"};
    q.modseq = v;
  }
  return q;
}

std::string FormatQuotaRecord(const QuotaRecord& q) {
  std::string out = "%(";
  for (int r = 0; r < kQuotaResources; ++r) {
    if (r) out += ' ';
    out += kDbNames[r];
    out += " (" + std::to_string(q.used[r]);
    if (q.limit[r]) out += ' ' + std::to_string(*q.limit[r]);
    out += ')';
  }
  if (q.modseq) out += " MODSEQ " + std::to_string(*q.modseq);
  out += ")\n";
  return out;
}

std::string QuotaRelPath(std::string_view root, bool fulldirhash) {
  if (root.empty() || root.find('/') != std::string_view::npos || root.find('\0') != std::string_view::npos)
    return "";
  std::string out;
  const std::size_t bang = root.find('!');
  if (bang != std::string_view::npos) {
    std::string_view domain = root.substr(0, bang);
    if (domain.empty() || domain == "." || domain == "..") return "";
    out = "domain/" + std::string(1, HashDirChar(domain, fulldirhash)) + "/" + std::string(domain) + "/";
    root = root.substr(bang + 1);
    if (root.empty()) return out + "quota/root";
  }
  if (root == "." || root == "..") return "";
  const std::size_t dot = root.find('.');
  std::string_view idx = dot == std::string_view::npos ? root : root.substr(dot + 1);
  return out + "quota/" + std::string(1, HashDirChar(idx, fulldirhash)) + "/" + std::string(root);
}

std::optional<std::string> FindQuotaFile(const std::string& conf, std::string_view root) {
  for (bool full : {false, true}) {
    std::string rel = QuotaRelPath(root, full);
    struct stat st {};
    if (!rel.empty() && ::stat((conf + "/" + rel).c_str(), &st) == 0 && S_ISREG(st.st_mode)) return rel;
  }
  return std::nullopt;
}

void SetUsage(QuotaRecord& q, const QuotaUsage& u) {
  q.used[kQuotaStorage] = u.storage;
  q.used[kQuotaMessage] = u.messages;
  q.used[kQuotaAnnotStorage] = u.annot;
  q.used[kQuotaFolders] = u.folders;
}

}  // namespace mr::reconcile
