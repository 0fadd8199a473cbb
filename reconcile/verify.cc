// verify: per-user orchestration of the store checks. See verify.h.
#include "reconcile/verify.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/parallel.h"
#include "reconcile/verify_store.h"

namespace mr::verify {
namespace {

FolderSpec SpecOf(const DbRecord& n) {
  FolderSpec s;
  s.name = n.name;
  s.uniqueid = n.uniqueid;
  s.uidvalidity = n.uidvalidity;
  s.mbtype = n.mbtype;
  s.acl = n.acl;
  return s;
}

UserVerdict CheckUser(const StoreSnapshot& snap, const VerifyOptions& opts,
                      const std::string& user) {
  UserVerdict v;
  v.user = user;
  auto it = snap.users.find(user);
  if (it == snap.users.end()) {
    v.problems.push_back("user " + user + ": no mailboxes in mailboxes.db");
    return v;
  }
  const UserPart& part = it->second;
  v.problems = part.db_problems;
  for (const auto& n : part.mailboxes) {
    auto ii = part.i_of.find(n.name);
    for (auto& line : CheckNI(n, ii == part.i_of.end() ? nullptr : ii->second))
      v.problems.push_back(std::move(line));
    if (HasNoDirectory(n)) continue;
    FolderSpec spec = SpecOf(n);
    if (snap.annotations) {
      std::uint64_t bytes = 0;
      if (auto a = snap.annotations->by_mailbox.find(n.uniqueid); a != snap.annotations->by_mailbox.end())
        for (const auto& r : a->second) bytes += cyrus::AnnotationQuotaSize(r);
      spec.mailbox_annot_bytes = bytes;
    }
    FolderVerdict fv = VerifyFolder(spec, snap.layout, opts.skip_messages);
    ++v.folders;
    v.messages += fv.messages;
    v.bytes += fv.bytes;
    for (auto& line : fv.problems) v.problems.push_back(std::move(line));
  }
  v.problems.insert(v.problems.end(), part.orphan_dirs.begin(), part.orphan_dirs.end());
  return v;
}

std::shared_ptr<const StoreSnapshot> SnapshotOf(const VerifyOptions& opts,
                                                Result<std::shared_ptr<const StoreSnapshot>>& r) {
  if (opts.snapshot) return opts.snapshot;
  r = BuildSnapshot(opts);
  return r.ok() ? *r : nullptr;
}

}  // namespace

Result<std::shared_ptr<const StoreSnapshot>> OpenStore(const VerifyOptions& opts) {
  return BuildSnapshot(opts);
}

Result<UserVerdict> VerifyUser(const VerifyOptions& opts, const std::string& user) {
  Result<std::shared_ptr<const StoreSnapshot>> built = std::shared_ptr<const StoreSnapshot>();
  std::shared_ptr<const StoreSnapshot> snap;
  if (opts.snapshot) {
    snap = opts.snapshot;
  } else {
    VerifyOptions one = opts;
    one.users = {user};
    built = BuildSnapshot(one);
    if (!built.ok()) return built.error();
    snap = *built;
  }
  return CheckUser(*snap, opts, user);
}

Result<VerifyOutcome> VerifyAll(const VerifyOptions& opts) {
  Result<std::shared_ptr<const StoreSnapshot>> built = std::shared_ptr<const StoreSnapshot>();
  auto snap = SnapshotOf(opts, built);
  if (!snap) return built.error();

  std::vector<std::string> users;
  if (opts.users.empty()) {
    for (const auto& [u, part] : snap->users) users.push_back(u);
  } else {
    users = opts.users;
    // Store-wide findings are reported even when only some users are asked for.
    if (snap->users.count("")) users.push_back("");
    std::sort(users.begin(), users.end());
    users.erase(std::unique(users.begin(), users.end()), users.end());
  }
  VerifyOutcome out;
  out.users.resize(users.size());
  auto body = [&] {
    ParallelFor(0, users.size(), [&](std::size_t k) {
      out.users[k] = CheckUser(*snap, opts, users[k]);
    });
  };
  if (opts.jobs > 0) {
    InArena(opts.jobs, body);
  } else {
    body();
  }
  for (const auto& v : out.users) {
    ++out.totals.users;
    if (v.ok()) ++out.totals.users_ok;
    out.totals.folders += v.folders;
    out.totals.messages += v.messages;
    out.totals.bytes += v.bytes;
    out.totals.problems += v.problems.size();
  }
  return out;
}

std::string ReportJson(const VerifyOptions& opts, const VerifyOutcome& outcome) {
  nlohmann::ordered_json j;
  j["tool"] = "mailrescue";
  j["version"] = MAILRESCUE_VERSION;
  j["command"] = "verify";
  j["spool"] = opts.spool;
  j["db"] = opts.db;
  j["status"] = outcome.ok() ? "ok" : "attention";
  auto users = nlohmann::ordered_json::array();
  for (const auto& v : outcome.users) {
    nlohmann::ordered_json u;
    u["user"] = v.user;
    u["status"] = v.ok() ? "ok" : "attention";
    u["folders"] = v.folders;
    u["messages"] = v.messages;
    u["bytes"] = v.bytes;
    u["problems"] = v.problems;
    users.push_back(std::move(u));
  }
  j["users"] = std::move(users);
  const VerifyTotals& t = outcome.totals;
  j["totals"] = {{"users", t.users},       {"users_ok", t.users_ok}, {"folders", t.folders},
                 {"messages", t.messages}, {"bytes", t.bytes},       {"problems", t.problems}};
  return j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace mr::verify
