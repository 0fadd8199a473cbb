#include "orchestrate/rescue.h"

#include <sys/stat.h>

#include <oneapi/tbb/global_control.h>

#include <algorithm>
#include <cstdio>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/cyrus_layout.h"
#include "common/fsutil.h"
#include "common/parallel.h"
#include "orchestrate/announce.h"
#include "orchestrate/attribute.h"
#include "orchestrate/html_report.h"
#include "orchestrate/run_state.h"
#include "orchestrate/target_lock.h"
#include "orchestrate/user_queue.h"
#include "orchestrate/userlist.h"
#include "reconcile/cyrus/imapd_conf.h"
#include "reconcile/cyrus/mboxdb.h"
#include "reconcile/reconcile.h"
#include "reconcile/report.h"
#include "reconcile/verify.h"
#include "salvage/journal.h"
#include "salvage/run.h"
#include "salvage/salvage.h"

namespace mr::orchestrate {

namespace {

std::atomic<bool> g_stop{false};

using nlohmann::json;

std::string DirName(const std::string& p) {
  auto s = p.rfind('/');
  if (s == std::string::npos) return ".";
  return s == 0 ? "/" : p.substr(0, s);
}

const char* SeverityStatus(reconcile::Severity s) {
  switch (s) {
    case reconcile::Severity::kInfo: return "ok";
    case reconcile::Severity::kAttention: return "attention";
    case reconcile::Severity::kLost: return "lost";
  }
  return "attention";
}

// Everything a worker needs, shared and read-mostly.
struct Run {
  const RescueOptions& opts;
  std::string salvage_dir;
  std::unique_ptr<salvage::Salvager> salvager;
  std::mutex salvage_mu;  // Salvager::Extract* is one thread at a time
  // Under salvage_mu: what salvage.json would say (read once after the config
  // group, then kept current from each user's ExtractDelta), and the
  // directories extracted since, in order. Per-user reconciles use these
  // instead of re-reading salvage.json and re-walking the salvaged spool.
  reconcile::SalvageManifest manifest;
  std::vector<std::string> extracted_dirs;  // relative to the salvaged spool
  // One per target, touched only by that target's worker: both dbs loaded
  // once, and the salvaged folder directories attributed to users.
  struct TargetCache {
    std::shared_ptr<const reconcile::StoreDbs> dbs;
    reconcile::FolderIndex index;
    std::size_t consumed = 0;  // extracted_dirs already in the index
    reconcile::OutputDbWriter out_db;  // the target's db between per-user writes
  };
  std::map<std::string, TargetCache> caches;
  std::unique_ptr<RunState> state;
  EventLog events;
  std::unique_ptr<UserQueue> queue;
  std::map<std::string, const RescueTarget*> target_by_name;
  std::mutex log_mu;
  std::vector<std::string> run_errors;
  std::mutex err_mu;

  explicit Run(const RescueOptions& o) : opts(o) {}

  void Log(const std::string& line) {
    if (opts.quiet) return;
    std::lock_guard<std::mutex> lock(log_mu);
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  void RunError(const std::string& e) {
    std::lock_guard<std::mutex> lock(err_mu);
    run_errors.push_back(e);
  }
};

reconcile::ReconcileOptions ReconcileOptionsFor(const Run& run, const RescueTarget& t, const std::string& user) {
  reconcile::ReconcileOptions ro;
  ro.paths.salvaged_dir = run.salvage_dir;
  ro.paths.backup_spool = t.backup_spool;
  ro.paths.backup_db = t.backup_db;
  ro.paths.backup_conf = t.backup_conf;
  ro.out_spool = t.out_spool;
  ro.out_db = t.out_db;
  ro.in_place = t.in_place;
  ro.users = {user};
  ro.jobs = run.opts.jobs;
  ro.db_format = run.opts.db_format;
  ro.dry_run = run.opts.dry_run;
  ro.fsync = run.opts.fsync;
  return ro;
}

// Folds one user's ExtractDelta (the rest group's for kSharedUnit) into the
// running manifest. REQUIRES salvage_mu.
void NoteExtracted(Run& run, const std::string& user, const salvage::ExtractDelta& delta) {
  run.manifest.present = true;
  if (user == kSharedUnit) run.manifest.rest_done = true;
  else run.manifest.users_done[user] = true;
  for (const auto& d : delta.dirs) {
    if (!d.complete) run.manifest.incomplete_dirs.insert(d.path);
    if (d.path.rfind("spool/", 0) == 0) run.extracted_dirs.push_back(d.path.substr(6));
  }
  for (const auto& f : delta.damaged_files) {
    if (f.damaged.empty()) continue;  // as reconcile reads salvage.json: damaged ranges only
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
    for (const auto& r : f.damaged) ranges.emplace_back(r.offset, r.length);
    run.manifest.damaged_files[f.path] = reconcile::DescribeDamagedRanges(ranges);
  }
}

bool IsFolderDir(const std::string& abs) {
  struct stat st {};
  return ::stat((abs + "/cyrus.header").c_str(), &st) == 0 || ::stat((abs + "/cyrus.index").c_str(), &st) == 0;
}

// The target's cache; the map is shared between target workers, the entry is not.
Run::TargetCache& CacheOf(Run& run, const RescueTarget& t) {
  std::lock_guard<std::mutex> g(run.salvage_mu);
  return run.caches[t.name];
}

// One user's StoreView: the target's dbs (loaded once), the salvaged folder
// directories attributed so far (one walk per target, then only the
// directories extracted since) and the running manifest.
Result<reconcile::StoreView> ViewFor(Run& run, const RescueTarget& t, const reconcile::ReconcileOptions& ro,
                                     const std::string& user) {
  Run::TargetCache* c = &CacheOf(run, t);
  if (!c->dbs) {
    auto dbs = reconcile::StoreDbs::Load(ro.paths);
    if (!dbs) return dbs.error();
    c->dbs = std::move(*dbs);
    std::lock_guard<std::mutex> g(run.salvage_mu);
    c->index.AddWalk(*c->dbs);
    c->consumed = run.extracted_dirs.size();
  }
  reconcile::SalvageManifest manifest;
  {
    std::lock_guard<std::mutex> g(run.salvage_mu);
    const std::string spool = run.salvage_dir + "/spool/";
    for (; c->consumed < run.extracted_dirs.size(); ++c->consumed) {
      const std::string& rel = run.extracted_dirs[c->consumed];
      if (IsFolderDir(spool + rel)) c->index.Add(*c->dbs, rel);
    }
    manifest = run.manifest;
  }
  return reconcile::StoreView::Compose(c->dbs, std::move(manifest), {{user, c->index.Of(user)}});
}

// A user whose reconcile is done (by this run: its outcome still to be
// written into the target's db) or who an earlier run left reconciled or
// verified; FlushBatch takes it the rest of the way.
struct Staged {
  std::string user;
  Phase phase = Phase::kQueued;
  std::optional<reconcile::UserOutcome> outcome;  // this run's, not in the db yet
  std::optional<std::vector<std::string>> wrote_dirs;  // uuid dirs this run's reconcile wrote
  json detail = json::object();
  std::string status;
};

// Detail key (run state only): the user's reconcile saw the rest group extracted.
constexpr const char* kRestSeen = "rest_seen";

enum class Stage {
  kStaged,    // in the batch
  kFinished,  // nothing more this run (dry run, a failed reconcile, announced)
  kStopped,   // stop requested or a run-level error: left for the next run
};

// One user up to (not including) the target db write: salvage, then
// reconcile. What is left goes into *batch.
Stage StageUser(Run& run, const RescueTarget& t, const std::string& user, std::vector<Staged>* batch) {
  auto st = run.state->Get(user);
  Staged sg;
  sg.user = user;
  sg.phase = st ? st->phase : Phase::kQueued;
  if (st && !st->detail.empty()) sg.detail = json::parse(st->detail, nullptr, false);
  if (sg.detail.is_discarded()) sg.detail = json::object();
  sg.status = st ? st->status : "";
  Phase& phase = sg.phase;
  run.events.Emit("user_started", {{"user", user}, {"target", t.name}, {"phase", PhaseName(phase)}});
  run.Log("rescue: " + user + " (" + t.name + "): starting at phase " + PhaseName(phase));

  // Salvage again whenever the user is not reconciled yet, even when a killed
  // run got it salvaged: the in-memory manifest must know its files (the
  // resume skips every file already complete on disk).
  if (phase < Phase::kReconciled) {
    std::lock_guard<std::mutex> g(run.salvage_mu);
    if (run.salvager->HasUser(user)) {
      salvage::ExtractDelta delta;
      if (auto s = run.salvager->ExtractUser(user, nullptr, &delta); !s) {
        run.RunError("salvage of " + user + ": " + s.message());
        return Stage::kStopped;
      }
      NoteExtracted(run, user, delta);
    }
    if (!run.opts.dry_run && phase < Phase::kSalvaged) {
      if (auto s = run.state->SetPhase(user, Phase::kSalvaged); !s) run.RunError(s.message());
    }
    phase = std::max(phase, Phase::kSalvaged);
  }
  if (StopRequested()) return Stage::kStopped;

  if (phase < Phase::kReconciled) {
    auto ro = ReconcileOptionsFor(run, t, user);
    if (!run.opts.dry_run) {
      if (auto s = MakeDirs(t.out_spool); !s) {
        run.RunError(s.message());
        return Stage::kStopped;
      }
    }
    bool rest_seen;
    {
      std::lock_guard<std::mutex> g(run.salvage_mu);
      rest_seen = run.manifest.rest_done;
    }
    auto view = ViewFor(run, t, ro, user);
    if (!view) {
      run.RunError("reconcile of " + user + ": " + view.error().message);
      return Stage::kStopped;
    }
    auto rec = reconcile::Reconciler::Open(ro, std::move(*view));
    if (!rec) {
      run.RunError("reconcile of " + user + ": " + rec.error().message);
      return Stage::kStopped;
    }
    auto uo = rec->ReconcileUser(user, run.opts.dry_run);
    if (!uo) {
      run.RunError("reconcile of " + user + ": " + uo.error().message);
      return Stage::kStopped;
    }
    if (!run.opts.dry_run && !uo->done) {
      std::string why = uo->errors.empty() ? "not every folder could be written" : uo->errors.front();
      run.RunError("reconcile of " + user + ": " + why);
      run.events.Emit("user_failed", {{"user", user}, {"target", t.name}, {"error", why}});
      return Stage::kFinished;  // left at this phase; a rerun repeats it
    }
    sg.wrote_dirs.emplace();
    for (const auto& f : uo->folders)
      if (!f.uniqueid.empty()) sg.wrote_dirs->push_back(MailboxRelDir(f.name, f.uniqueid, CyrusLayout::kUuid, true));
    sg.detail = reconcile::UserReportJson(*uo);
    sg.detail["target"] = t.name;
    // Whether the rest group was out when this reconcile looked (kRestSeen;
    // not in the report): else a folder it brings may still be this user's.
    if (rest_seen) sg.detail[kRestSeen] = true;
    sg.status = SeverityStatus(uo->status);
    if (run.opts.dry_run) {
      sg.detail["phase"] = "planned";
      std::lock_guard<std::mutex> g(run.err_mu);
      run.state->PutMeta("dryrun:" + user, sg.detail.dump());
      return Stage::kFinished;
    }
    sg.outcome = std::move(*uo);
  }
  if (phase >= Phase::kAnnounced) return Stage::kFinished;
  // Reconciled in memory; the batch's db write, verify and announce follow.
  run.events.Emit("user_staged", {{"user", user}, {"target", t.name}, {"status", sg.status}});
  batch->push_back(std::move(sg));
  return Stage::kStaged;
}

// The staged users the rest of the way, in batch order: their outcomes go
// into the target's db in one write (then they are "reconciled"), the db is
// read back once for all of them, and each is verified and announced.
// Returns the users that are finished for this run; false when the run must
// stop (the others stay at their phase and the next run repeats from there).
bool FlushBatch(Run& run, const RescueTarget& t, std::vector<Staged>& batch, std::vector<std::string>* finished) {
  if (batch.empty()) return true;
  std::vector<reconcile::UserOutcome> outcomes;
  for (auto& sg : batch)
    if (sg.outcome) outcomes.push_back(std::move(*sg.outcome));
  if (!outcomes.empty()) {
    if (auto s = MakeDirs(DirName(t.out_db)); !s) {
      run.RunError(s.message());
      return false;
    }
    auto ro = ReconcileOptionsFor(run, t, batch.front().user);
    if (auto s = CacheOf(run, t).out_db.Write(ro, outcomes); !s) {
      run.RunError("mailboxes.db of " + t.name + ": " + s.message());
      return false;
    }
  }
  for (auto& sg : batch) {
    if (sg.phase >= Phase::kReconciled) continue;
    if (auto s = run.state->SetPhase(sg.user, Phase::kReconciled, sg.status, sg.detail.dump()); !s)
      run.RunError(s.message());
    sg.phase = Phase::kReconciled;
  }
  if (StopRequested()) return false;

  // One read of the db and one spool scan for the batch. Orphans are looked
  // for only where this run's reconciles wrote, unless a user was reconciled
  // by an earlier (killed) run: then the whole spool is walked.
  verify::VerifyOptions vo;
  vo.spool = t.out_spool;
  vo.db = t.out_db;
  vo.jobs = run.opts.jobs;
  vo.uuid_dirs.emplace();
  bool to_verify = false;
  for (const auto& sg : batch) {
    if (sg.phase >= Phase::kVerified) continue;
    to_verify = true;
    vo.users.push_back(sg.user);
    if (!sg.wrote_dirs) vo.uuid_dirs.reset();
    if (vo.uuid_dirs) vo.uuid_dirs->insert(vo.uuid_dirs->end(), sg.wrote_dirs->begin(), sg.wrote_dirs->end());
  }
  std::optional<std::string> store_error;
  if (to_verify) {
    auto snap = verify::OpenStore(vo);
    if (snap) vo.snapshot = *snap;
    else store_error = snap.error().message;
  }
  for (auto& sg : batch) {
    if (sg.phase < Phase::kVerified) {
      // The status is the reconcile's until verify says otherwise (an earlier
      // run's failed verify left "attention" in the state, not in the detail).
      if (sg.detail.contains("status") && sg.detail["status"].is_string()) sg.status = sg.detail["status"];
      json problems = json::array();
      if (store_error) {
        problems.push_back(*store_error);
      } else {
        auto v = verify::VerifyUser(vo, sg.user);
        if (!v) {
          problems.push_back(v.error().message);
        } else {
          for (const auto& p : v->problems) problems.push_back(p);
        }
      }
      sg.detail["verify_problems"] = problems;
      if (!problems.empty()) {
        // Not verified, so not announced: no hook releases this user's held
        // mail onto a store that may not serve it. The user stays reconciled;
        // a rerun verifies again (after the operator has looked).
        sg.status = "attention";
        if (auto s = run.state->SetPhase(sg.user, Phase::kReconciled, sg.status, sg.detail.dump()); !s)
          run.RunError(s.message());
        run.events.Emit("user_attention", {{"user", sg.user}, {"target", t.name}, {"status", sg.status},
                                           {"verified", false}});
        run.Log("rescue: " + sg.user + " (" + t.name + "): does not verify (" +
                problems.front().get<std::string>() + "); not announced");
        finished->push_back(sg.user);
        continue;
      }
      sg.detail["done_at"] = static_cast<std::int64_t>(std::time(nullptr));
      if (auto s = run.state->SetPhase(sg.user, Phase::kVerified, sg.status, sg.detail.dump()); !s)
        run.RunError(s.message());
      sg.phase = Phase::kVerified;
    }
    json ev = {{"user", sg.user}, {"target", t.name}, {"status", sg.status}};
    if (sg.detail.contains("folders") && sg.detail["folders"].is_array()) ev["folders"] = sg.detail["folders"].size();
    run.events.Emit(sg.status == "ok" ? "user_done" : "user_attention", ev);
    run.Log("rescue: " + sg.user + " (" + t.name + "): back, " + sg.status);
    if (run.opts.on_user_done) {
      auto hr = RunUserHook(*run.opts.on_user_done, sg.user, t.name, sg.status);
      if (hr.exit_code != 0) {
        run.events.Emit("hook_failed", {{"user", sg.user}, {"target", t.name}, {"error", hr.error}});
        run.RunError(hr.error + " (retried on the next run)");
        finished->push_back(sg.user);  // stays "verified": the hook runs again on resume
        continue;
      }
    }
    if (auto s = run.state->SetPhase(sg.user, Phase::kAnnounced); !s) run.RunError(s.message());
    finished->push_back(sg.user);
  }
  return true;
}

// The folder directories the rest group brought (extracted_dirs from
// `from` on), by the unit reconcile attributes them to.
std::map<std::string, std::vector<std::string>> LateFolders(Run& run, std::size_t from) {
  std::shared_ptr<const reconcile::StoreDbs> dbs;  // the salvaged side is the same for every target
  for (const auto& [name, c] : run.caches)
    if (c.dbs) dbs = c.dbs;
  if (!dbs) return {};  // nobody reconciled yet: nobody to do again
  reconcile::FolderIndex late;
  {
    std::lock_guard<std::mutex> g(run.salvage_mu);
    const std::string spool = run.salvage_dir + "/spool/";
    for (std::size_t i = from; i < run.extracted_dirs.size(); ++i)
      if (IsFolderDir(spool + run.extracted_dirs[i])) late.Add(*dbs, run.extracted_dirs[i]);
  }
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& [u, folders] : late.All())
    for (const auto& f : folders) out[u].push_back(f.rel_dir);
  return out;
}

// The user was reconciled (this run or an earlier one, or planned in a dry
// run) before the rest group was out.
bool NeedsRestForFolders(Run& run, const std::string& user) {
  json d;
  if (run.opts.dry_run) {
    auto m = run.state->GetMeta("dryrun:" + user);
    if (!m) return true;
    d = json::parse(*m, nullptr, false);
  } else {
    auto st = run.state->Get(user);
    if (!st || st->phase < Phase::kReconciled) return true;
    d = json::parse(st->detail, nullptr, false);
  }
  return !(d.is_object() && d.value(kRestSeen, false));
}

// One target's users, in queue order. Users are staged one at a time and
// flushed (db write, verify, announce) in batches: a flush waits until the
// staging since the last flush has taken as long as that flush did, so the
// per-flush cost, which grows with the db, is never more than half the
// run (one flush per user made a store of thousands of users quadratic),
// while the first users, on a small db, still come back one by one.
// The target lock is held from a batch's first user to its flush.
// `next` hands out the users (nullopt: none left).
void RunTarget(Run& run, const RescueTarget& t, const std::function<std::optional<std::string>()>& next) {
  using Clock = std::chrono::steady_clock;
  constexpr std::size_t kMaxBatch = 256;
  std::vector<Staged> batch;
  std::optional<TargetLock> lock;
  Clock::duration last_flush{0};
  Clock::time_point since = Clock::now();
  auto flush = [&] {
    const auto t0 = Clock::now();
    std::vector<std::string> finished;
    const bool ok = FlushBatch(run, t, batch, &finished);
    for (const auto& u : finished) run.queue->Finish(u);
    batch.clear();
    lock.reset();
    last_flush = Clock::now() - t0;
    since = Clock::now();
    return ok;
  };
  while (!StopRequested()) {
    auto u = next();
    if (!u) break;
    // Dry runs touch no target, so they take no target lock either.
    if (!lock && !run.opts.dry_run) {
      Status made = MakeDirs(DirName(t.out_db));
      auto l = made ? TargetLock::Acquire(t.out_db + ".mailrescue.lock") : Result<TargetLock>(made.error());
      if (!l) {
        run.RunError(l.error().message);
        break;
      }
      lock.emplace(std::move(*l));
    }
    const Stage r = StageUser(run, t, *u, &batch);
    if (r == Stage::kStopped) break;
    if (r == Stage::kFinished) run.queue->Finish(*u);
    if (batch.empty()) {
      lock.reset();
      continue;
    }
    if (batch.size() >= kMaxBatch || Clock::now() - since >= last_flush)
      if (!flush()) return;
  }
  if (!batch.empty() && !StopRequested()) flush();
}

// The table of `shared` (when not null) and then every entry of `users` (a JSON array).
std::string SummaryTable(const json& shared, const json& users) {
  std::ostringstream o;
  char line[512];
  std::snprintf(line, sizeof line, "%-24s %-10s %-10s %7s %7s %7s %7s %7s %7s %7s\n", "user", "target", "status",
                "kept", "salvage", "backup", "deleted", "renum", "unrec", "verify");
  o << line;
  auto row = [&](const json& u) {
    long long kept = 0, fs = 0, fb = 0, dd = 0, rn = 0, un = 0;
    if (u.contains("folders") && u["folders"].is_array())
      for (const auto& f : u["folders"]) {
        kept += f.value("kept", 0LL);
        fs += f.value("from_salvage", 0LL);
        fb += f.value("from_backup", 0LL);
        dd += f.value("dropped_deleted", 0LL);
        if (f.contains("renumbered") && f["renumbered"].is_array()) rn += static_cast<long long>(f["renumbered"].size());
        if (f.contains("unrecoverable") && f["unrecoverable"].is_array())
          un += static_cast<long long>(f["unrecoverable"].size());
      }
    long long vp = u.contains("verify_problems") && u["verify_problems"].is_array()
                       ? static_cast<long long>(u["verify_problems"].size())
                       : 0;
    std::snprintf(line, sizeof line, "%-24s %-10s %-10s %7lld %7lld %7lld %7lld %7lld %7lld %7lld\n",
                  u.value("user", std::string()).c_str(), u.value("target", std::string()).c_str(),
                  u.value("status", std::string()).c_str(), kept, fs, fb, dd, rn, un, vp);
    o << line;
  };
  if (!shared.is_null()) row(shared);
  for (const auto& u : users) row(u);
  return o.str();
}

json FilesystemJson(const Run& run) {
  json fs = json::object();
  const auto& info = run.salvager->info();
  fs["superblock_used"] = info.superblock_used;
  fs["superblock_rebuilt"] = info.superblock_rebuilt;
  fs["blocksize"] = info.blocksize;
  fs["groups"] = info.groups;
  fs["needs_recovery"] = info.needs_recovery;
  json damage = json::array();
  json damaged_groups = json::object();
  auto bump = [&](std::uint64_t ino) {
    if (!info.inodes_per_group || !ino) return;
    std::string g = std::to_string((ino - 1) / info.inodes_per_group);
    damaged_groups[g] = damaged_groups.value(g, 0) + 1;
  };
  // Streamed: each files[] entry is looked at and dropped as it is parsed, so
  // the report costs memory for the damage, not for a manifest of millions of files.
  bool in_files = false;
  json::parser_callback_t keep = [&](int depth, json::parse_event_t ev, json& parsed) -> bool {
    if (ev == json::parse_event_t::key && depth == 1) in_files = parsed == "files";
    if (ev == json::parse_event_t::object_end && in_files && depth == 2) {
      auto d = parsed.find("damaged");
      if (d != parsed.end() && d->is_array() && !d->empty()) bump(parsed.value("ino", 0ULL));
      return false;
    }
    return true;
  };
  std::ifstream in(run.salvage_dir + "/salvage.json");
  json m = json::parse(in, keep, /*allow_exceptions=*/false);
  if (!m.is_discarded() && m.is_object()) {
    if (m.contains("filesystem") && m["filesystem"].contains("damage")) damage = m["filesystem"]["damage"];
    if (m.contains("dirs"))
      for (const auto& d : m["dirs"])
        if (!d.value("complete", true)) bump(d.value("ino", 0ULL));
  }
  fs["damage"] = damage;
  fs["damaged_groups"] = damaged_groups;
  return fs;
}

Status WriteText(const std::string& path, const std::string& text) {
  if (path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return Status::Ok();
  }
  return WriteFileAtomic(path, std::string_view(text));
}

}  // namespace

void RequestStop() { g_stop.store(true); }
bool StopRequested() { return g_stop.load(); }

Result<RescueTarget> TargetFromImapdConf(const std::string& spec) {
  auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
    return Error{Code::kInvalidArgument, "--target " + spec + ": expected NAME=IMAPD_CONF"};
  RescueTarget t;
  t.name = spec.substr(0, eq);
  std::string conf = spec.substr(eq + 1);
  auto cfg = cyrus::ReadImapdConf(conf);
  if (!cfg) return Error{Code::kInvalidArgument, "--target " + t.name + ": " + cfg.error().message};
  if (cfg->partition_default.empty() || cfg->configdirectory.empty())
    return Error{Code::kInvalidArgument, "--target " + t.name + ": " + conf +
                                             " names no partition-default or configdirectory"};
  if (auto f = cyrus::DbFormatFromBackend(cfg->mboxlist_db); !f)
    return Error{Code::kInvalidArgument, "--target " + t.name + ": " + conf + ": " + f.error().message};
  t.backup_spool = t.out_spool = cfg->partition_default;
  t.backup_db = t.out_db = cfg->MailboxesDbPath();
  t.backup_conf = conf;
  t.in_place = true;
  return t;
}

Result<RescueOutcome> RunRescue(const RescueOptions& opts) {
  if (opts.targets.empty()) return Error{Code::kInvalidArgument, "rescue: no target (give --backup-spool/--backup-db/--out-spool/--out-db or --target)"};
  if (opts.workdir.empty()) return Error{Code::kInvalidArgument, "--workdir: required"};
  std::set<std::string> names;
  for (const auto& t : opts.targets)
    if (!names.insert(t.name).second) return Error{Code::kInvalidArgument, "--target " + t.name + ": given twice"};
  // Arguments first, then the source, and only then anything written (the
  // workdir): bad input costs a one-line error and leaves nothing behind.
  for (const auto& t : opts.targets) {
    if (auto s = reconcile::CheckTargetPaths(t.backup_spool, t.backup_db, t.out_spool, t.out_db, !opts.dry_run);
        !s.ok()) {
      Error e = s.error();
      if (opts.targets.size() > 1) e.message = "--target " + t.name + ": " + e.message;
      return e;
    }
  }
  std::optional<std::set<std::string>> only;
  if (opts.users_file) {
    auto l = ReadUserNames(*opts.users_file);
    if (!l) return l.error();
    only.emplace(l->begin(), l->end());
  }
  Shard shard;
  if (opts.shard) {
    auto s = ParseShard(*opts.shard);
    if (!s) return s.error();
    shard = *s;
  }

  Run run(opts);
  run.salvage_dir = opts.workdir + "/salvage";

  // 1. Source: open, scan, config.
  salvage::SalvageOptions so;
  so.source = opts.source;
  so.out_dir = run.salvage_dir;
  so.spool_path = opts.spool_path;
  so.config_path = opts.config_path;
  so.badmap_path = opts.badmap;
  so.superblock = opts.superblock;
  so.blocksize = opts.blocksize;
  so.jobs = opts.jobs;
  if (opts.journal != "auto") {
    auto jm = salvage::ParseJournalMode(opts.journal);
    if (!jm) return Error{Code::kInvalidArgument, "--journal " + opts.journal + ": expected replay, ignore or auto"};
    so.journal = *jm;
  }
  auto sv = salvage::Salvager::Open(so);
  if (!sv) return sv.error();
  run.salvager = std::move(*sv);
  auto state = RunState::Open(opts.workdir);
  if (!state) return state.error();
  run.state = std::move(*state);
  if (opts.events)
    if (auto s = run.events.Open(*opts.events); !s) return Error{Code::kInvalidArgument, s.message()};
  run.Log("rescue: scanning " + opts.source);
  if (auto s = run.salvager->Scan(); !s) return s.error();
  if (auto s = run.salvager->ExtractConfig(); !s) return s.error();
  if (auto s = run.salvager->WriteManifest(); !s) return s.error();
  {
    auto m = reconcile::ReadSalvageManifest(run.salvage_dir + "/salvage.json");
    if (!m) return m.error();
    run.manifest = std::move(*m);
  }
  // A folder whose cyrus.header does not name its user (garbage, or another
  // user than the db says) but whose uuid directory the salvaged db, or whose
  // legacy path, does: extracted with that user, as reconcile will look for it
  // there (orchestrate/attribute.h), not with the rest after the user is back.
  const SalvagedDb sdb = ReadSalvagedDb(run.salvage_dir + "/conf/mailboxes.db");
  if (auto moves = FolderMoves(sdb, run.salvager->FolderDirs()); !moves.empty()) {
    if (auto s = run.salvager->AssignFolders(moves); !s) return s.error();
    run.Log("rescue: folder directories extracted with the user the salvaged mailboxes.db or their path "
            "names, not their cyrus.header: " + std::to_string(moves.size()));
  }

  // 2. Users and their targets.
  std::map<std::string, std::string> target_of;
  for (const auto& t : opts.targets) {
    run.target_by_name[t.name] = &t;
    std::vector<std::string> problems;
    auto entries = cyrus::ReadMailboxesDb(t.backup_db, &problems);
    if (!entries) return Error{Code::kInvalidArgument, "--backup-db " + t.backup_db + ": " + entries.error().message};
    for (const auto& e : *entries) {
      std::string u = UnitOf(e.name);
      if (!u.empty() && !target_of.count(u)) target_of[u] = t.name;
    }
  }
  std::vector<std::string> sorted_targets(names.begin(), names.end());
  std::vector<std::string> placed;
  // Every unit salvage found files of, and every one the salvaged db lists: a
  // user whose folders were all destroyed is still reported (what is lost).
  std::set<std::string> salvaged_units(sdb.units.begin(), sdb.units.end());
  for (auto& u : run.salvager->Users()) salvaged_units.insert(std::move(u));
  for (const auto& u : salvaged_units) {
    if (target_of.count(u)) continue;
    target_of[u] = sorted_targets[StableUserHash(u) % sorted_targets.size()];
    placed.push_back(u);
  }
  // A --users name that matches nobody would otherwise just quietly do nothing.
  if (only)
    for (const auto& u : *only)
      if (!target_of.count(u))
        run.Log("rescue: --users names " + u + ", who is in no backup db and not in the salvaged store; skipped");
  std::vector<std::pair<std::string, std::string>> base;
  std::optional<std::string> shared_target;  // the shared unit, done after ExtractRest
  for (const auto& [u, t] : target_of) {
    if (only && !only->count(u)) continue;
    if (!InShard(u, shard)) continue;
    std::string target = t;
    if (!opts.dry_run) {
      if (auto s = run.state->Enqueue(u, t); !s) return s.error();
      auto cur = run.state->Get(u);
      if (cur && cur->phase == Phase::kAnnounced) continue;
      if (cur) target = cur->target;
    }
    if (u == kSharedUnit) shared_target = target;
    else base.emplace_back(u, target);
    run.events.Emit("user_queued", {{"user", u}, {"target", t}});
  }
  for (const auto& u : placed)
    if (std::any_of(base.begin(), base.end(), [&](auto& p) { return p.first == u; }))
      run.Log("rescue: " + u + " has no backup on any target; placed on " + target_of[u]);
  std::set<std::string> this_run;
  for (const auto& [u, t] : target_of)
    if ((!only || only->count(u)) && InShard(u, shard)) this_run.insert(u);
  run.queue = std::make_unique<UserQueue>(base, opts.priority_file.value_or(""));
  run.Log("rescue: " + std::to_string(this_run.size()) + " users, " + std::to_string(base.size()) +
          " to do, over " + std::to_string(opts.targets.size()) + " target(s)");

  // 3. One worker per target, all in parallel.
  int threads = std::max<int>(static_cast<int>(opts.targets.size()),
                              opts.jobs > 0 ? opts.jobs : static_cast<int>(std::thread::hardware_concurrency()));
  tbb::global_control gc(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads) + 1);
  InArena(threads, [&] {
    TaskGroup tg;
    for (const auto& t : opts.targets) {
      tg.Run([&run, &t] { RunTarget(run, t, [&] { return run.queue->Next(t.name); }); });
    }
    tg.Wait();
  });

  // 4. Whatever is left of the source (shared folders, lost+found) once all
  // users are out; then the shared unit, whose folders only that extracted.
  std::size_t rest_from = 0;  // extracted_dirs from here on came with the rest group
  if (!StopRequested() && run.run_errors.empty()) {
    std::lock_guard<std::mutex> g(run.salvage_mu);
    rest_from = run.extracted_dirs.size();
    salvage::ExtractDelta delta;
    if (auto s = run.salvager->ExtractRest(nullptr, &delta); !s) run.RunError("salvage: " + s.message());
    else NoteExtracted(run, std::string(kSharedUnit), delta);
    if (auto s = run.salvager->WriteManifest(); !s) run.RunError("salvage manifest: " + s.message());
  }
  // A user's folder that still came only with the rest group (nothing named
  // its user before): the user was reconciled without it, so it is reconciled,
  // verified and announced again with it (a user nobody knew of is placed
  // and done like any other), never left reported complete without it.
  if (!StopRequested() && run.run_errors.empty()) {
    std::map<std::string, std::vector<std::string>> again;  // target -> users
    for (const auto& [u, dirs] : LateFolders(run, rest_from)) {
      if (u == kSharedUnit || (only && !only->count(u)) || !InShard(u, shard)) continue;
      if (!target_of.count(u)) {
        target_of[u] = sorted_targets[StableUserHash(u) % sorted_targets.size()];
        placed.push_back(u);
        this_run.insert(u);
      } else if (!NeedsRestForFolders(run, u)) {
        continue;
      }
      std::string target = target_of[u];
      if (!opts.dry_run) {
        if (auto s = run.state->Enqueue(u, target); !s) {
          run.RunError(s.message());
          break;
        }
        if (auto cur = run.state->Get(u)) target = cur->target;
        if (auto s = run.state->SetPhase(u, Phase::kSalvaged); !s) {
          run.RunError(s.message());
          break;
        }
      }
      std::string list;
      for (const auto& d : dirs) list += (list.empty() ? "" : ", ") + d;
      run.Log("rescue: " + u + " (" + target + "): folder(s) " + list +
              " came only with the rest of the image; reconciling the user again");
      run.events.Emit("user_requeued", {{"user", u}, {"target", target}, {"folders", dirs}});
      again[target].push_back(u);
    }
    for (const auto& [target, users] : again) {
      auto it = run.target_by_name.find(target);
      if (it == run.target_by_name.end()) {
        run.RunError("users " + users.front() + "...: target " + target + " is not given in this run");
        continue;
      }
      std::size_t next = 0;
      auto hand = [&]() -> std::optional<std::string> {
        if (next >= users.size()) return std::nullopt;
        return users[next++];
      };
      InArena(threads, [&] { RunTarget(run, *it->second, hand); });
    }
  }
  if (shared_target && !StopRequested() && run.run_errors.empty()) {
    auto it = run.target_by_name.find(*shared_target);
    if (it == run.target_by_name.end()) {
      run.RunError("shared mailboxes: target " + *shared_target + " is not given in this run");
    } else {
      bool handed = false;
      auto once = [&]() -> std::optional<std::string> {
        if (std::exchange(handed, true)) return std::nullopt;
        return std::string(kSharedUnit);
      };
      InArena(threads, [&] { RunTarget(run, *it->second, once); });
    }
  }

  // 5. Report.
  // Each user's detail is moved, not copied, into the report (one copy of them in memory).
  json users = json::array();
  json shared = nullptr;
  json timeline = json::array();
  bool attention = !run.run_errors.empty();
  std::map<std::string, std::string> proxy;
  for (const auto& u : this_run) {
    json d;
    std::string target = target_of[u];
    std::string phase = "queued";
    if (opts.dry_run) {
      auto m = run.state->GetMeta("dryrun:" + u);
      d = m ? json::parse(*m, nullptr, false) : json::object();
      phase = m ? "planned" : "queued";
    } else {
      auto st = run.state->Get(u);
      if (st) {
        d = st->detail.empty() ? json::object() : json::parse(st->detail, nullptr, false);
        target = st->target;
        phase = PhaseName(st->phase);
        if (!d.is_discarded() && d.is_object()) d["status"] = st->status.empty() ? "pending" : st->status;
        if (st->phase >= Phase::kVerified && d.is_object() && d.contains("done_at"))
          timeline.push_back({{"user", u}, {"target", target}, {"status", st->status}, {"done_at", d["done_at"]}});
      }
    }
    if (d.is_discarded() || !d.is_object()) d = json::object();
    d.erase(kRestSeen);
    d["user"] = u;
    d["target"] = target;
    d["phase"] = phase;
    if (!d.contains("status")) d["status"] = "pending";
    if (!d.contains("folders")) d["folders"] = json::array();
    std::string s = d["status"].get<std::string>();
    if (s != "ok" || (!opts.dry_run && phase != "announced")) attention = true;
    if (u == kSharedUnit) {
      shared = std::move(d);  // not a login: no proxy map line
      continue;
    }
    proxy[u] = target;
    users.push_back(std::move(d));
  }
  const std::size_t nusers = users.size();
  std::sort(timeline.begin(), timeline.end(),
            [](const json& a, const json& b) { return a["done_at"].get<long long>() < b["done_at"].get<long long>(); });

  json report = {{"tool", "mailrescue"},
                 {"version", MAILRESCUE_VERSION},
                 {"command", "rescue"},
                 {"dry_run", opts.dry_run},
                 {"source", {{"path", opts.source}, {"size", run.salvager->info().source_size}}},
                 {"filesystem", FilesystemJson(run)},
                 {"users", std::move(users)},
                 {"shared", std::move(shared)},
                 {"timeline", timeline},
                 {"errors", run.run_errors}};
  json targets = json::array();
  for (const auto& t : opts.targets)
    targets.push_back({{"name", t.name}, {"spool", t.out_spool}, {"db", t.out_db}, {"in_place", t.in_place}});
  report["targets"] = targets;
  long long ok = 0, att = 0, pending = 0;
  for (const auto& d : report["users"]) {
    if (d["status"] == "ok" && (opts.dry_run || d["phase"] == "announced"))
      ++ok;
    else if (d["status"] == "pending")
      ++pending;
    else
      ++att;
  }
  report["totals"] = {{"users", nusers}, {"ok", ok}, {"attention", att}, {"pending", pending},
                      {"placed_without_backup", placed.size()}};

  if (opts.report)
    if (auto s = WriteText(*opts.report, report.dump(2) + "\n"); !s) run.RunError(s.message());
  std::string html_path = opts.html_report.value_or(opts.workdir + "/report.html");
  if (auto s = WriteText(html_path, RenderHtmlReport(report)); !s) run.RunError(s.message());
  if (!opts.dry_run) {
    std::string pm = opts.proxy_map.value_or(opts.workdir + "/proxy.map");
    if (auto s = WriteProxyMap(pm, proxy); !s) run.RunError(s.message());
  }

  RescueOutcome out;
  out.summary = SummaryTable(report["shared"], report["users"]);
  for (const auto& e : run.run_errors) out.summary += "error: " + e + "\n";
  if (StopRequested()) out.summary += "stopped: run the same command again to continue\n";
  out.summary += std::to_string(ok) + " users ok, " + std::to_string(att) + " need attention, " +
                 std::to_string(pending) + " pending\n";
  out.exit_code = attention || StopRequested() ? 1 : 0;
  return out;
}

}  // namespace mr::orchestrate
