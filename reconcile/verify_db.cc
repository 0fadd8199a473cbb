// verify_db: N and I records of mailboxes.db, decoded independently so that
// they can be compared. See verify_db.h.
#include "reconcile/verify_db.h"

#include <algorithm>
#include <charconv>

#include "common/cyrus_layout.h"
#include "common/fsutil.h"
#include "reconcile/cyrus/dlist.h"
#include "reconcile/cyrus/flatdb.h"
#include "reconcile/cyrus/mboxdb.h"
#include "reconcile/cyrus/twoskip.h"
#include "reconcile/verify_folder.h"

namespace mr::verify {
namespace {

// Decodes one record value; the key has already given name or uniqueid.
Status Decode(const std::string& value, DbRecord* r) {
  auto dl = cyrus::ParseDlist(value);
  if (!dl.ok()) return dl.error();
  if (dl->kind != cyrus::Dlist::Kind::kKvList)
    return Error{Code::kCorrupt, "value is not a %(...) list"};
  r->mbtype = dl->GetAtom("T", "e");
  r->partition = dl->GetAtom("P");
  if (const cyrus::Dlist* id = dl->Get("I"); id && id->kind == cyrus::Dlist::Kind::kAtom)
    r->uniqueid = id->atom;
  if (const cyrus::Dlist* n = dl->Get("N"); n && n->kind == cyrus::Dlist::Kind::kAtom)
    r->name = cyrus::InternalFromDbKey(n->atom);
  std::string v = dl->GetAtom("V", "0");
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), r->uidvalidity);
  if (ec != std::errc() || p != v.data() + v.size())
    return Error{Code::kCorrupt, "uidvalidity \"" + v + "\" is not a number"};
  if (const cyrus::Dlist* a = dl->Get("A")) {
    if (a->kind != cyrus::Dlist::Kind::kKvList)
      return Error{Code::kCorrupt, "ACL is not a %(...) list"};
    for (const auto& [id, rights] : a->kv) r->acl.emplace_back(id, rights.atom);
  }
  return Status::Ok();
}

}  // namespace

Result<DbView> LoadDbView(const std::string& path) {
  auto bytes = ReadFile(path);
  if (!bytes.ok()) return Error{bytes.error().code, "mailboxes.db " + bytes.error().message};
  DbView view;
  std::vector<std::string> problems;
  cyrus::KvPairs kv;
  if (cyrus::IsTwoskip(*bytes)) {
    auto r = cyrus::ReadTwoskip(*bytes, &problems);
    if (!r.ok()) return Error{Code::kCorrupt, "mailboxes.db " + path + ": " + r.error().message};
    kv = std::move(*r);
  } else {
    kv = cyrus::ReadFlat(*bytes, &problems);
  }
  for (const auto& p : problems) view.problems.push_back("mailboxes.db: " + p);
  for (const auto& [key, value] : kv) {
    if (key.size() < 2) continue;
    DbRecord r;
    if (key[0] == 'N') {
      r.name = cyrus::InternalFromDbKey(std::string_view(key).substr(1));
      Status s = Decode(value, &r);
      if (!s.ok()) {
        view.problems.push_back("mailboxes.db: N record " + r.name + ": " + s.message());
        continue;
      }
      view.n.push_back(std::move(r));
    } else if (key[0] == 'I') {
      Status s = Decode(value, &r);
      std::string id = key.substr(1);
      if (!s.ok()) {
        view.problems.push_back("mailboxes.db: I record " + id + ": " + s.message());
        continue;
      }
      r.uniqueid = id;
      view.i.emplace(id, std::move(r));
    }
  }
  std::sort(view.n.begin(), view.n.end(),
            [](const DbRecord& a, const DbRecord& b) { return a.name < b.name; });
  return view;
}

std::vector<std::string> CheckNI(const DbRecord& n, const DbRecord* i) {
  std::vector<std::string> out;
  auto add = [&](const std::string& what) { out.push_back(n.name + ": " + what); };
  if (n.mbtype.find('d') != std::string::npos) return out;  // tombstone: I moved on
  if (n.uniqueid.empty()) {
    add("mailboxes.db N record has no uniqueid");
    return out;
  }
  if (!i) {
    add("mailboxes.db has no I record for uniqueid " + n.uniqueid);
    return out;
  }
  if (i->name != n.name)
    add("mailboxes.db I record " + n.uniqueid + " names " + i->name);
  if (i->uidvalidity != n.uidvalidity)
    add("mailboxes.db I record uidvalidity " + std::to_string(i->uidvalidity) +
        " differs from N record's " + std::to_string(n.uidvalidity));
  if (i->mbtype != n.mbtype)
    add("mailboxes.db I record type " + i->mbtype + " differs from N record's " + n.mbtype);
  if (i->partition != n.partition)
    add("mailboxes.db I record partition " + i->partition + " differs from N record's " +
        n.partition);
  if (AclString(i->acl) != AclString(n.acl))
    add("mailboxes.db I record ACL \"" + AclString(i->acl) + "\" differs from N record's \"" +
        AclString(n.acl) + "\"");
  return out;
}

bool HasNoDirectory(const DbRecord& n) {
  return n.mbtype.find_first_of("dir") != std::string::npos;
}

std::string UserOfMailbox(const std::string& name) {
  std::string_view s = name;
  std::string domain;
  if (auto bang = s.find('!'); bang != std::string_view::npos) {
    domain = std::string(s.substr(0, bang + 1));
    s = s.substr(bang + 1);
  }
  constexpr std::string_view kDeleted = "DELETED.";
  if (s.substr(0, kDeleted.size()) == kDeleted) s = s.substr(kDeleted.size());
  return UserOf(domain + std::string(s));
}

std::string UnitOfMailbox(const std::string& name) {
  if (name.empty()) return {};
  std::string user = UserOfMailbox(name);
  return user.empty() ? std::string(kSharedUnit) : user;
}

}  // namespace mr::verify
