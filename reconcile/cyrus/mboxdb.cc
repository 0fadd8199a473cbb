// mailboxes.db records <-> MboxEntry, and the file-level read/write; see mboxdb.h.
#include "reconcile/cyrus/mboxdb.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>

#include "common/fsutil.h"
#include "reconcile/cyrus/flatdb.h"

namespace mr::cyrus {
namespace {

constexpr char kHierSep = '\x1F';
constexpr char kDomainSep = '\x1D';
constexpr char kSkiplistMagic[] = "\xa1\x02\x8b\x0dskiplist file";

template <class T>
bool ParseNum(const std::string& s, T* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// For problem messages: one line, bounded, db separators shown as . and !.
std::string Printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 200)) {
    if (c == kHierSep) out.push_back('.');
    else if (c == kDomainSep) out.push_back('!');
    else if (static_cast<unsigned char>(c) < 0x20) out.push_back('?');
    else out.push_back(c);
  }
  return out;
}

// Fields shared by N and I records. `what` names the record in problems.
void ReadCommon(const Dlist& dl, MboxEntry* e, const std::string& what,
                std::vector<std::string>* problems) {
  e->mbtype = dl.GetAtom("T", "e");
  e->partition = dl.GetAtom("P");
  e->server = dl.GetAtom("S");
  auto num = [&](const char* key, auto* field) {
    const std::string v = dl.GetAtom(key);
    if (v.empty()) return;
    if (!ParseNum(v, field)) problems->push_back(what + ": bad " + key + " value '" + Printable(v) + "'");
  };
  num("V", &e->uidvalidity);
  num("C", &e->createdmodseq);
  num("F", &e->foldermodseq);
  num("M", &e->mtime);
  e->acl.clear();
  if (const Dlist* a = dl.Get("A")) {
    if (a->kind == Dlist::Kind::kKvList) {
      for (const auto& [id, rights] : a->kv) {
        if (rights.kind == Dlist::Kind::kAtom) e->acl.emplace_back(id, rights.atom);
      }
    } else {
      problems->push_back(what + ": ACL is not a key-value list");
    }
  }
}

void WriteCommonTail(const MboxEntry& e, Dlist* dl) {
  if (!e.partition.empty()) dl->kv.emplace_back("P", Dlist::Atom(e.partition));
  if (!e.server.empty()) dl->kv.emplace_back("S", Dlist::Atom(e.server));
  if (e.uidvalidity) dl->kv.emplace_back("V", Dlist::Atom(std::to_string(e.uidvalidity)));
  if (e.createdmodseq) dl->kv.emplace_back("C", Dlist::Atom(std::to_string(e.createdmodseq)));
  if (e.foldermodseq) dl->kv.emplace_back("F", Dlist::Atom(std::to_string(e.foldermodseq)));
  dl->kv.emplace_back("M", Dlist::Atom(std::to_string(e.mtime)));
  // A tombstone left by DELETE has neither partition nor ACL; Cyrus writes no A then.
  if (e.deleted() && e.partition.empty() && e.acl.empty()) return;
  Dlist acl = Dlist::KvList({});
  for (const auto& [id, rights] : e.acl) acl.kv.emplace_back(id, Dlist::Atom(rights));
  dl->kv.emplace_back("A", std::move(acl));
}

std::string TypeOf(const MboxEntry& e) { return e.mbtype.empty() ? "e" : e.mbtype; }

}  // namespace

std::string DbKeyFromInternal(std::string_view internal) {
  std::string out;
  out.reserve(internal.size());
  std::size_t bang = internal.find('!');
  if (bang != std::string_view::npos) {
    out.append(internal.substr(0, bang));
    out.push_back(kDomainSep);
    internal.remove_prefix(bang + 1);
  }
  for (char c : internal) {
    if (c == '.') out.push_back(kHierSep);
    else if (c == '^') out.push_back('.');
    else out.push_back(c);
  }
  return out;
}

std::string InternalFromDbKey(std::string_view dbname) {
  std::string out;
  out.reserve(dbname.size());
  std::size_t gs = dbname.find(kDomainSep);
  if (gs != std::string_view::npos) {
    out.append(dbname.substr(0, gs));
    out.push_back('!');
    dbname.remove_prefix(gs + 1);
  }
  for (char c : dbname) {
    if (c == kHierSep) out.push_back('.');
    else if (c == '.') out.push_back('^');
    else out.push_back(c);
  }
  return out;
}

std::string NRecordValue(const MboxEntry& e) {
  Dlist n = Dlist::KvList({});
  n.kv.emplace_back("T", Dlist::Atom(TypeOf(e)));
  if (!e.uniqueid.empty()) n.kv.emplace_back("I", Dlist::Atom(e.uniqueid));
  WriteCommonTail(e, &n);
  return FormatDlist(n);
}

std::string IRecordValue(const MboxEntry& e) {
  Dlist i = Dlist::KvList({});
  i.kv.emplace_back("T", Dlist::Atom(TypeOf(e)));
  i.kv.emplace_back("N", Dlist::Atom(DbKeyFromInternal(e.name)));
  WriteCommonTail(e, &i);
  i.kv.emplace_back("H", Dlist::List(e.history));
  return FormatDlist(i);
}

bool GivesIRecordOver(const MboxEntry& candidate, const MboxEntry& current) {
  return current.deleted() || !candidate.deleted();
}

KvPairs MailboxesDbRecords(const std::vector<MboxEntry>& entries) {
  std::map<std::string, std::string> out;
  std::map<std::string, const MboxEntry*> by_id;
  for (const MboxEntry& e : entries) {
    out["N" + DbKeyFromInternal(e.name)] = NRecordValue(e);
    if (e.uniqueid.empty()) continue;
    auto [it, inserted] = by_id.emplace(e.uniqueid, &e);
    if (!inserted && GivesIRecordOver(e, *it->second)) it->second = &e;
  }
  for (const auto& [id, e] : by_id) out["I" + id] = IRecordValue(*e);
  return KvPairs(out.begin(), out.end());
}

std::vector<MboxEntry> EntriesFromRecords(const KvPairs& records,
                                          std::vector<std::string>* problems) {
  std::vector<std::string> local;
  if (!problems) problems = &local;
  std::map<std::string, MboxEntry> by_name;
  std::map<std::string, MboxEntry> by_id;  // from I records
  for (const auto& [key, value] : records) {
    if (key.empty()) continue;
    const char type = key[0];
    if (type == 'A' || type == '$') continue;  // reverse ACL cache, $RACL markers
    if (type != 'N' && type != 'I') {
      problems->push_back("mailboxes.db: unrecognized key '" + Printable(key) + "', skipped");
      continue;
    }
    const std::string what =
        std::string(type == 'N' ? "mailbox " : "mailbox id ") +
        Printable(type == 'N' ? InternalFromDbKey(key.substr(1)) : key.substr(1));
    auto dl = ParseDlist(value);
    if (!dl.ok() || dl->kind != Dlist::Kind::kKvList) {
      problems->push_back(what + ": unparseable record (" +
                          (dl.ok() ? std::string("not a kvlist") : dl.error().message) +
                          "), skipped");
      continue;
    }
    MboxEntry e;
    ReadCommon(*dl, &e, what, problems);
    if (type == 'N') {
      e.name = InternalFromDbKey(key.substr(1));
      e.uniqueid = dl->GetAtom("I");
      by_name[e.name] = std::move(e);
    } else {
      e.uniqueid = key.substr(1);
      e.name = InternalFromDbKey(dl->GetAtom("N"));
      if (const Dlist* h = dl->Get("H"); h && h->kind == Dlist::Kind::kList) e.history = h->items;
      by_id[e.uniqueid] = std::move(e);
    }
  }
  std::vector<MboxEntry> out;
  std::map<std::string, bool> id_used;
  for (auto& [name, e] : by_name) {
    auto it = by_id.find(e.uniqueid);
    if (!e.uniqueid.empty() && it != by_id.end()) {
      e.history = it->second.history;
      id_used[e.uniqueid] = true;
    } else if (!e.uniqueid.empty() && !e.deleted()) {
      problems->push_back("mailbox " + Printable(name) + ": no I record for uniqueid " +
                          Printable(e.uniqueid));
    }
    out.push_back(std::move(e));
  }
  for (auto& [id, e] : by_id) {
    if (id_used.count(id)) continue;
    if (e.name.empty()) {
      problems->push_back("mailbox id " + Printable(id) + ": I record without a name, skipped");
      continue;
    }
    if (by_name.count(e.name)) {
      problems->push_back("mailbox id " + Printable(id) + ": I record names " +
                          Printable(e.name) + " whose N record has another uniqueid, skipped");
      continue;
    }
    problems->push_back("mailbox " + Printable(e.name) + ": no N record, rebuilt from I record " +
                        Printable(id));
    out.push_back(std::move(e));
  }
  std::sort(out.begin(), out.end(),
            [](const MboxEntry& a, const MboxEntry& b) { return a.name < b.name; });
  return out;
}

const char* DbFormatName(DbFormat f) { return f == DbFormat::kFlat ? "flat" : "twoskip"; }

Result<DbFormat> DbFormatFromBackend(std::string_view backend) {
  if (backend == "twoskip") return DbFormat::kTwoskip;
  if (backend == "flat") return DbFormat::kFlat;
  return Error{Code::kUnsupported, "mboxlist_db " + std::string(backend) +
                                       ": not supported (mailrescue writes twoskip or flat)"};
}

Result<DbFormat> DetectDbFormat(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error{Code::kIoError, path + ": " + std::strerror(errno)};
  std::uint8_t head[64] = {};
  ssize_t n = ::pread(fd, head, sizeof head, 0);
  int err = errno;
  ::close(fd);
  if (n < 0) return Error{Code::kIoError, path + ": " + std::strerror(err)};
  std::span<const std::uint8_t> bytes(head, static_cast<std::size_t>(n));
  if (bytes.size() >= 17 && std::memcmp(bytes.data(), kSkiplistMagic, 17) == 0)
    return Error{Code::kUnsupported, path + ": skiplist mailboxes.db is not supported"};
  if (IsTwoskip(bytes) || (bytes.size() >= 16 && std::memcmp(bytes.data() + 4, "twoskip file", 12) == 0))
    return DbFormat::kTwoskip;
  return DbFormat::kFlat;
}

Result<std::vector<MboxEntry>> ReadMailboxesDb(const std::string& path,
                                               std::vector<std::string>* problems) {
  std::vector<std::string> local;
  if (!problems) problems = &local;
  auto data = ReadFile(path);
  if (!data.ok()) return data.error();
  std::span<const std::uint8_t> bytes(*data);
  if (bytes.size() >= 17 && std::memcmp(bytes.data(), kSkiplistMagic, 17) == 0) {
    return Error{Code::kUnsupported, path + ": skiplist mailboxes.db is not supported"};
  }
  const bool twoskip =
      IsTwoskip(bytes) ||
      (bytes.size() >= 64 && std::memcmp(bytes.data() + 4, "twoskip file", 12) == 0);
  KvPairs records;
  if (twoskip) {
    auto r = ReadTwoskip(bytes, problems);
    if (!r.ok()) return Error{r.error().code, path + ": " + r.error().message};
    records = std::move(r).value();
  } else {
    std::vector<std::string> flat_problems;
    records = ReadFlat(bytes, &flat_problems);
    if (records.empty() && !bytes.empty()) {
      return Error{Code::kCorrupt, path + ": neither a twoskip nor a flat database"};
    }
    problems->insert(problems->end(), flat_problems.begin(), flat_problems.end());
  }
  return EntriesFromRecords(records, problems);
}

Status WriteMailboxesDb(const std::string& path, std::vector<MboxEntry> entries,
                        DbFormat format) {
  std::sort(entries.begin(), entries.end(),
            [](const MboxEntry& a, const MboxEntry& b) { return a.name < b.name; });
  for (std::size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].name == entries[i - 1].name) {
      return Error{Code::kInvalidArgument,
                   "mailboxes.db: mailbox " + entries[i].name + " given twice"};
    }
  }
  for (const MboxEntry& e : entries) {
    if (e.name.empty()) return Error{Code::kInvalidArgument, "mailboxes.db: empty mailbox name"};
  }
  const KvPairs records = MailboxesDbRecords(entries);
  const std::vector<std::uint8_t> bytes =
      format == DbFormat::kTwoskip ? WriteTwoskip(records) : WriteFlat(records);
  return WriteFileAtomic(path, bytes);
}

}  // namespace mr::cyrus
