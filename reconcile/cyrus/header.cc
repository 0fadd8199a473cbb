// cyrus.header parse (3.6 dlist and pre-3.6 tab forms) and 3.6 serialize.
// See header.h for the contract and docs/formats.md for the byte layout.
#include "reconcile/cyrus/header.h"

#include "common/fsutil.h"
#include "reconcile/cyrus/dlist.h"

namespace mr::cyrus {

const std::string_view kHeaderMagic =
    "\241\002\213\015Cyrus mailbox header\n"
    "\"The best thing about this system was that it had lots of goals.\"\n"
    "\t--Jim Morris on Andrew\n";

namespace {

constexpr std::size_t kMaxUserFlagNames = 128;
constexpr std::uint64_t kMaxHeaderFile = 1u << 20;

Error Bad(const std::string& what) { return Error{Code::kCorrupt, "cyrus.header: " + what}; }

Result<MailboxHeader> ParseDlistForm(std::string_view line) {
  auto dl = ParseDlist(line);
  if (!dl.ok()) return Bad(dl.error().message);
  if (dl->kind != Dlist::Kind::kKvList) return Bad("body is not a %(...) key list");
  MailboxHeader h;
  h.type = dl->GetAtom("T", "e");
  h.name = dl->GetAtom("N");
  h.uniqueid = dl->GetAtom("I");
  h.quotaroot = dl->GetAtom("Q");
  if (const Dlist* a = dl->Get("A")) {
    if (a->kind != Dlist::Kind::kKvList) return Bad("A (ACL) is not a key list");
    for (const auto& [id, rights] : a->kv) {
      if (rights.kind != Dlist::Kind::kAtom) return Bad("ACL rights for " + id + " not a string");
      h.acl.emplace_back(id, rights.atom);
    }
  }
  if (const Dlist* u = dl->Get("U")) {
    if (u->kind != Dlist::Kind::kList) return Bad("U (user flags) is not a list");
    if (u->items.size() > kMaxUserFlagNames) return Bad("more than 128 user flags");
    for (const Dlist& f : u->items) {
      if (f.kind != Dlist::Kind::kAtom) return Bad("user flag name is not a string");
      h.user_flags.push_back(f.nil ? std::string() : f.atom);
    }
  }
  if (h.uniqueid.empty()) return Bad("no uniqueid (I)");
  return h;
}

std::vector<std::string_view> SplitOn(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t p = s.find(sep, start);
    out.push_back(s.substr(start, p == std::string_view::npos ? s.npos : p - start));
    if (p == std::string_view::npos) break;
    start = p + 1;
  }
  return out;
}

Result<MailboxHeader> ParseTabForm(std::string_view body) {
  auto lines = SplitOn(body, '\n');
  if (lines.size() < 4) return Bad("pre-3.6 header has fewer than 3 lines");
  MailboxHeader h;
  h.name.clear();
  const std::string_view l1 = lines[0];
  const std::size_t tab = l1.find('\t');
  h.quotaroot = std::string(l1.substr(0, tab));
  if (tab != std::string_view::npos) {
    std::string_view id = l1.substr(tab + 1);
    const std::size_t t2 = id.find('\t');
    if (t2 != std::string_view::npos) id = id.substr(0, t2);
    if (id.empty()) return Bad("empty uniqueid");
    h.uniqueid = std::string(id);
  }
  if (!lines[1].empty()) {
    for (std::string_view f : SplitOn(lines[1], ' ')) {
      if (h.user_flags.size() == kMaxUserFlagNames) break;
      h.user_flags.emplace_back(f);
    }
    while (!h.user_flags.empty() && h.user_flags.back().empty()) h.user_flags.pop_back();
  }
  auto acl = SplitOn(lines[2], '\t');
  for (std::size_t i = 0; i + 1 < acl.size(); i += 2) {
    if (acl[i].empty()) continue;
    h.acl.emplace_back(std::string(acl[i]), std::string(acl[i + 1]));
  }
  // As in the dlist form: a header without a uniqueid names no mailbox (and what we
  // would write from it could not be read back).
  if (h.uniqueid.empty()) return Bad("no uniqueid (first line has no TAB)");
  return h;
}

}  // namespace

Result<MailboxHeader> ParseHeader(std::span<const std::uint8_t> bytes) {
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (text.size() < kHeaderMagic.size() || text.substr(0, kHeaderMagic.size()) != kHeaderMagic)
    return Bad("bad magic (not a Cyrus mailbox header)");
  const std::string_view body = text.substr(kHeaderMagic.size());
  const std::size_t eol = body.find('\n');
  if (eol == std::string_view::npos) return Bad("truncated (no end of line after the magic)");
  if (!body.empty() && body[0] == '%') {
    auto line = ParseDlistForm(body.substr(0, eol));
    // A value with a CR, LF or 8-bit byte prints as a literal ({n+} CRLF bytes), which
    // spans lines: SerializeHeader writes such headers, so read them back whole.
    if (!line.ok() && body.find("}\r\n") != std::string_view::npos) {
      auto whole = ParseDlistForm(body);
      if (whole.ok()) return whole;
    }
    return line;
  }
  return ParseTabForm(body);
}

Result<MailboxHeader> ReadHeaderFile(const std::string& path) {
  auto bytes = mr::ReadFile(path, kMaxHeaderFile);
  if (!bytes.ok()) return bytes.error();
  auto r = ParseHeader(*bytes);
  if (!r.ok()) return Error{r.error().code, path + ": " + r.error().message};
  return r;
}

std::string SerializeHeader(const MailboxHeader& h) {
  std::vector<std::pair<std::string, Dlist>> kv;
  kv.emplace_back("T", Dlist::Atom(h.type));
  kv.emplace_back("N", Dlist::Atom(h.name));
  kv.emplace_back("I", Dlist::Atom(h.uniqueid));
  if (!h.quotaroot.empty()) kv.emplace_back("Q", Dlist::Atom(h.quotaroot));
  std::vector<std::pair<std::string, Dlist>> acl;
  for (const auto& [id, rights] : h.acl) acl.emplace_back(id, Dlist::Atom(rights));
  kv.emplace_back("A", Dlist::KvList(std::move(acl)));
  if (!h.user_flags.empty() && !h.user_flags[0].empty()) {
    std::vector<Dlist> flags;
    for (std::size_t i = 0; i < h.user_flags.size() && i < kMaxUserFlagNames; ++i) {
      if (h.user_flags[i].empty()) break;  // Cyrus stops at the first gap
      flags.push_back(Dlist::Atom(h.user_flags[i]));
    }
    kv.emplace_back("U", Dlist::List(std::move(flags)));
  }
  std::string out(kHeaderMagic);
  out += FormatDlist(Dlist::KvList(std::move(kv)));
  out += '\n';
  return out;
}

std::string AclString(const MailboxHeader& h) {
  std::string out;
  for (const auto& [id, rights] : h.acl) {
    out += id;
    out += '\t';
    out += rights;
    out += '\t';
  }
  return out;
}

}  // namespace mr::cyrus
