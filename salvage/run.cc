#include "salvage/run.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

namespace mr::salvage {
namespace {

using Clock = std::chrono::steady_clock;

Status WriteReport(const std::string& path, const Manifest& m) {
  if (path == "-") {
    std::fflush(stdout);
    std::cout.flush();
    Status st = EmitManifestJson(m, "salvage", [](std::string_view s) {
      return std::fwrite(s.data(), 1, s.size(), stdout) == s.size();
    });
    std::fflush(stdout);
    if (!st.ok() && !st.message().empty()) return st;
    return st.ok() ? Status() : Status(Error{Code::kIoError, "--report -: write failed"});
  }
  std::FILE* f = std::fopen(path.c_str(), "wbe");
  if (!f) return Error{Code::kInvalidArgument, "--report " + path + ": cannot be written"};
  Status st = EmitManifestJson(m, "salvage", [&](std::string_view s) {
    return std::fwrite(s.data(), 1, s.size(), f) == s.size();
  });
  const bool closed = std::fclose(f) == 0;
  if (!st.ok() && !st.message().empty()) {  // the records could not be read back: no half report
    std::remove(path.c_str());
    return st;
  }
  return st.ok() && closed ? Status() : Status(Error{Code::kIoError, "--report " + path + ": write failed"});
}

std::string Human(std::uint64_t b) {
  const char* u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int i = 0;
  while (v >= 1024 && i < 4) { v /= 1024; ++i; }
  char buf[32];
  std::snprintf(buf, sizeof buf, i ? "%.1f %s" : "%.0f %s", v, u[i]);
  return buf;
}

std::string Row(const std::string& k, const std::string& v) {
  std::string s = "  " + k;
  s.resize(std::max<size_t>(s.size() + 1, 22), ' ');
  return s + v + "\n";
}

std::string Summary(Salvager& s, const Manifest& m, bool dry_run, double secs) {
  auto t = m.ComputeTotals();
  std::map<std::string, int> kinds;
  for (const auto& d : m.damage) ++kinds[d.kind];
  std::string k;
  for (auto& [kind, n] : kinds) k += (k.empty() ? "" : ", ") + kind + " " + std::to_string(n);
  size_t done = std::count_if(m.users.begin(), m.users.end(), [](auto& u) { return u.done; });
  std::string o = std::string("salvage") + (dry_run ? " (dry run: nothing written)" : "") + " of " +
                  m.source_path + "\n";
  o += Row("superblock used", (m.fs.superblock_rebuilt ? std::string("none readable: rebuilt")
                                                       : std::to_string(m.fs.superblock_used)) +
                                  " (blocksize " + std::to_string(m.fs.blocksize) + ")");
  o += Row("spool", m.spool_path + (m.config_path.empty() ? "" : "   config " + m.config_path));
  o += Row("users", std::to_string(m.users.size()) + " (" + std::to_string(done) + " done)");
  o += Row("files", std::to_string(t.files) + " (" + Human(t.bytes) + ")");
  o += Row("damaged files", std::to_string(t.damaged_files));
  o += Row("incomplete dirs", std::to_string(t.incomplete_dirs));
  o += Row("lost+found", std::to_string(t.lost_found));
  o += Row("rehomed", std::to_string(s.catalog().rehomed_dirs) + " folders, " +
                          std::to_string(s.catalog().rehomed_files) + " files");
  if (!m.journal_fallback.empty()) {
    std::string b;
    for (size_t i = 0; i < m.journal_fallback.size() && i < 8; ++i)
      b += (i ? ", " : "") + std::to_string(m.journal_fallback[i].fs_block) + " (transaction " +
           std::to_string(m.journal_fallback[i].sequence) + ")";
    if (m.journal_fallback.size() > 8) b += ", ...";
    o += Row("journal fallback", std::to_string(m.journal_fallback.size()) + " unreadable block(s) from older journal copies: " +
                                     b + "; " + std::to_string(t.journal_fallback_files) + " files marked");
  }
  o += Row("damage", k.empty() ? "none" : k);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f s", secs);
  o += Row("elapsed", buf);
  if (t.damaged_files || t.incomplete_dirs || t.lost_found)
    o += "some data may have been lost: see the damaged files, incomplete directories and lost+found above\n";
  return o;
}

}  // namespace

Result<RunOutcome> RunSalvage(const SalvageOptions& opts, const RunOptions& run, ProgressSink* progress) {
  const auto t0 = Clock::now();
  std::optional<std::set<std::string>> only;
  if (run.users_file) {
    auto u = ReadUserList(*run.users_file);
    if (!u.ok()) return Error{Code::kInvalidArgument, "--users " + u.error().message};
    only = std::set<std::string>(u->begin(), u->end());
  }
  if (run.priority_file) {
    auto p = ReadUserList(*run.priority_file);  // validate now; re-read while running
    if (!p.ok()) return Error{Code::kInvalidArgument, "--priority " + p.error().message};
  }
  SalvageOptions so = opts;
  if (so.spill_dir.empty() && (so.dry_run || so.out_dir.empty()) && run.report && *run.report != "-") {
    // A dry run writes nothing under DIR: spill beside the report.
    const auto slash = run.report->rfind('/');
    so.spill_dir = slash == std::string::npos ? "." : slash == 0 ? "/" : run.report->substr(0, slash);
  }
  auto s = Salvager::Open(so);
  if (!s.ok()) return s.error();
  Salvager& sv = **s;
  if (Status st = sv.Scan(); !st.ok()) return st.error();
  std::vector<std::string> pending;
  for (const auto& u : sv.Users())
    if (!only || only->count(u)) pending.push_back(u);
  std::vector<std::string> missing;
  if (only)
    for (const auto& u : *only)
      if (!sv.HasUser(u)) missing.push_back(u);
  sv.PlanProgress(pending, !only);
  while (!pending.empty()) {
    size_t pick = 0;
    if (run.priority_file) {
      auto p = ReadUserList(*run.priority_file);
      if (p.ok()) {
        for (const auto& want : *p) {
          auto it = std::find(pending.begin(), pending.end(), want);
          if (it != pending.end()) { pick = static_cast<size_t>(it - pending.begin()); break; }
        }
      }
    }
    std::string user = pending[pick];
    pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(pick));
    if (Status st = sv.ExtractUser(user, progress); !st.ok()) return st.error();
  }
  if (!only) {
    if (Status st = sv.ExtractConfig(progress); !st.ok()) return st.error();
    if (Status st = sv.ExtractRest(progress); !st.ok()) return st.error();
  }
  if (Status st = sv.WriteManifest(); !st.ok()) return st.error();
  RunOutcome out;
  out.needs_attention = sv.NeedsAttention();
  const Manifest& m = sv.BuildManifest();
  out.totals = m.ComputeTotals();
  out.summary = Summary(sv, m, opts.dry_run,
                        std::chrono::duration<double>(Clock::now() - t0).count());
  out.missing_users = missing;
  if (!missing.empty()) {
    out.needs_attention = true;
    std::string list;
    for (size_t i = 0; i < missing.size() && i < 20; ++i) list += (i ? ", " : "") + missing[i];
    if (missing.size() > 20) list += ", ...";
    out.summary += "not in the salvaged spool: " + std::to_string(missing.size()) + " user(s) from --users: " +
                   list + "\n";
  }
  if (run.report) {
    if (Status st = WriteReport(*run.report, m); !st.ok()) return st.error();
  }
  return out;
}

Result<std::string> Inspect(const SalvageOptions& opts_in, bool json, bool* damaged) {
  SalvageOptions opts = opts_in;
  opts.out_dir.clear();
  opts.dry_run = true;
  opts.jobs = 1;
  auto s = Salvager::Open(opts);
  if (!s.ok()) return s.error();
  Salvager& sv = **s;
  if (Status st = sv.Scan(); !st.ok()) return st.error();
  const FsInfo& fi = sv.info();
  const Catalog& c = sv.catalog();
  std::vector<DamageNote> dmg = fi.damage;
  dmg.insert(dmg.end(), c.damage.begin(), c.damage.end());
  *damaged = !dmg.empty();
  const std::uint64_t files = c.other_nodes, dirs = c.dir_nodes;
  const std::string layout = c.layout == CyrusLayout::kUuid ? "uuid" : "legacy";
  if (json) {
    nlohmann::json j;
    j["tool"] = "mailrescue";
    j["version"] = MAILRESCUE_VERSION;
    j["command"] = "inspect";
    j["source"] = {{"path", fi.source_path}, {"size", fi.source_size}};
    j["filesystem"] = {{"superblock_used", fi.superblock_used}, {"superblock_rebuilt", fi.superblock_rebuilt},
                       {"blocksize", fi.blocksize},
                       {"blocks_count", fi.blocks_count}, {"inodes_count", fi.inodes_count},
                       {"groups", fi.groups}, {"inode_size", fi.inode_size},
                       {"features", fi.features}, {"label", fi.label}, {"uuid", fi.uuid},
                       {"state", fi.state}, {"has_journal", fi.has_journal},
                       {"needs_recovery", fi.needs_recovery}};
    if (fi.journal) j["filesystem"]["journal"] = fi.journal->ToJson(false);
    nlohmann::json d = nlohmann::json::array();
    for (const auto& n : dmg) d.push_back({{"kind", n.kind}, {"detail", n.detail}});
    j["filesystem"]["damage"] = d;
    j["spool_path"] = c.spool_path;
    j["config_path"] = c.config_path;
    j["layout"] = layout;
    j["hashimapspool"] = c.hashimapspool;
    j["mailboxes"] = c.mailboxes;
    j["users"] = sv.Users().size();
    j["entries"] = {{"files", files}, {"dirs", dirs}, {"lost", c.tree.lost.size()},
                    {"live_inodes", c.live_inodes}};
    return j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  std::ostringstream o;
  o << "source            " << fi.source_path << " (" << Human(fi.source_size) << ")\n";
  o << "superblock used   " << fi.superblock_used
    << (fi.superblock_rebuilt ? " (none readable: rebuilt from the disk)"
                              : fi.superblock_used ? " (backup)" : " (primary)")
    << ", blocksize " << fi.blocksize << "\n";
  o << "size              " << fi.blocks_count << " blocks, " << fi.inodes_count << " inodes, "
    << fi.groups << " groups\n";
  o << "features          ";
  for (size_t i = 0; i < fi.features.size(); ++i) o << (i ? " " : "") << fi.features[i];
  o << "\nstate             " << fi.state << "\n";
  o << "journal           " << (fi.has_journal ? (fi.needs_recovery ? "needs recovery" : "clean") : "none")
    << "\n";
  if (fi.journal) o << "                  " << fi.journal->Summary() << "\n";
  o << "spool             " << c.spool_path << " (" << layout << " layout"
    << (c.layout == CyrusLayout::kLegacy && c.hashimapspool ? ", hashimapspool" : "") << ")\n";
  o << "config            " << (c.config_path.empty() ? "(not found)" : c.config_path) << "\n";
  o << "mailboxes         " << c.mailboxes << " in " << sv.Users().size() << " users\n";
  o << "entries           " << files << " files, " << dirs << " directories, " << c.tree.lost.size()
    << " lost inodes\n";
  o << "damage            " << (dmg.empty() ? "none" : std::to_string(dmg.size()) + " findings") << "\n";
  for (size_t i = 0; i < dmg.size() && i < 20; ++i) o << "  " << dmg[i].kind << ": " << dmg[i].detail << "\n";
  if (dmg.size() > 20) o << "  ... " << dmg.size() - 20 << " more (use --json)\n";
  return o.str();
}

StreamProgress::~StreamProgress() {
  if (tty_ && drew_) std::fputc('\n', f_);
}

void StreamProgress::Update(const ProgressSnapshot& s) {
  std::lock_guard<std::mutex> lk(mu_);
  const double now = std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
  static const double start = now;
  const double el = now - start;
  const bool group_done = s.groups_done != last_groups_;
  last_groups_ = s.groups_done;
  if (!tty_ && !group_done && now - last_line_ < 5) return;
  last_line_ = now;
  const double rate = el > 0 ? static_cast<double>(s.bytes_done) / el : 0;
  const double frate = el > 0 ? static_cast<double>(s.files_done) / el : 0;
  const double eta = frate > 0 && s.files_total > s.files_done
                         ? static_cast<double>(s.files_total - s.files_done) / frate : 0;
  char line[256];
  std::snprintf(line, sizeof line, "salvage: %s groups %llu/%llu files %llu/%llu %s %.1f MiB/s ETA %.0f s",
                s.phase.c_str(), static_cast<unsigned long long>(s.groups_done),
                static_cast<unsigned long long>(s.groups_total),
                static_cast<unsigned long long>(s.files_done),
                static_cast<unsigned long long>(s.files_total), Human(s.bytes_done).c_str(),
                rate / 1048576.0, eta);
  if (tty_) {
    std::fprintf(f_, "\r%-100s", line);
    drew_ = true;
  } else {
    std::fprintf(f_, "%s\n", line);
  }
  std::fflush(f_);
}

}  // namespace mr::salvage
