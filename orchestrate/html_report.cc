#include "orchestrate/html_report.h"

#include <algorithm>
#include <sstream>

namespace mr::orchestrate {

namespace {

std::string Esc(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string Str(const nlohmann::json& j, const char* key, const std::string& dflt = "") {
  if (!j.is_object() || !j.contains(key)) return dflt;
  const auto& v = j.at(key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return dflt;
  return v.dump();
}

long long Num(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j.at(key).is_number()) return 0;
  return j.at(key).get<long long>();
}

// `shared` (when an object) heads the table, then every entry of `users`.
void UserTable(std::ostringstream& o, const nlohmann::json& shared, const nlohmann::json& users) {
  o << "<h2>Users</h2>\n<table id=\"users\"><thead><tr><th>user</th><th>status</th><th>folders</th>"
       "<th>kept</th><th>from salvage</th><th>from backup</th><th>deleted since backup</th>"
       "<th>renumbered</th><th>unrecoverable</th></tr></thead><tbody>\n";
  auto row = [&](const nlohmann::json& u) {
    long long kept = 0, fs = 0, fb = 0, dd = 0, rn = 0, un = 0, nf = 0;
    if (u.contains("folders") && u["folders"].is_array())
      for (const auto& f : u["folders"]) {
        ++nf;
        kept += Num(f, "kept");
        fs += Num(f, "from_salvage");
        fb += Num(f, "from_backup");
        dd += Num(f, "dropped_deleted");
        if (f.contains("renumbered") && f["renumbered"].is_array()) rn += static_cast<long long>(f["renumbered"].size());
        if (f.contains("unrecoverable") && f["unrecoverable"].is_array())
          un += static_cast<long long>(f["unrecoverable"].size());
      }
    std::string st = Str(u, "status", "?");
    o << "<tr class=\"st-" << Esc(st) << "\"><td>" << Esc(Str(u, "user")) << "</td><td>" << Esc(st) << "</td><td>"
      << nf << "</td><td>" << kept << "</td><td>" << fs << "</td><td>" << fb << "</td><td>" << dd << "</td><td>" << rn
      << "</td><td>" << un << "</td></tr>\n";
  };
  if (shared.is_object()) row(shared);
  if (users.is_array())
    for (const auto& u : users) row(u);
  o << "</tbody></table>\n";
}

void Timeline(std::ostringstream& o, const nlohmann::json& tl) {
  if (!tl.is_array() || tl.empty()) return;
  long long t0 = Num(tl.front(), "done_at"), t1 = t0;
  for (const auto& e : tl) {
    t0 = std::min(t0, Num(e, "done_at"));
    t1 = std::max(t1, Num(e, "done_at"));
  }
  double span = t1 > t0 ? static_cast<double>(t1 - t0) : 1.0;
  o << "<h2>Users coming back</h2>\n<div id=\"timeline\">\n";
  int i = 0;
  for (const auto& e : tl) {
    double pct = 100.0 * static_cast<double>(Num(e, "done_at") - t0) / span;
    o << "<div class=\"tl\"><span class=\"tlname\">" << ++i << ". " << Esc(Str(e, "user")) << " <small>("
      << Esc(Str(e, "target")) << ", +" << (Num(e, "done_at") - t0) << " s)</small></span><span class=\"bar st-"
      << Esc(Str(e, "status")) << "\" style=\"width:" << std::max(0.5, pct) << "%\"></span></div>\n";
  }
  o << "</div>\n";
}

void DamageMap(std::ostringstream& o, const nlohmann::json& fs) {
  if (!fs.is_object()) return;
  long long groups = Num(fs, "groups");
  o << "<h2>Filesystem damage</h2>\n";
  o << "<p>superblock used: " << Esc(Str(fs, "superblock_used", "?")) << "</p>\n";
  if (groups > 0 && groups <= 1 << 20) {
    const nlohmann::json dg = fs.contains("damaged_groups") ? fs["damaged_groups"] : nlohmann::json::object();
    o << "<div id=\"damagemap\" title=\"one cell per block group\">";
    for (long long g = 0; g < groups; ++g) {
      std::string k = std::to_string(g);
      long long n = dg.is_object() && dg.contains(k) && dg[k].is_number() ? dg[k].get<long long>() : 0;
      o << "<span class=\"g" << (n ? " bad" : "") << "\" title=\"group " << g << ": " << n
        << " damaged items\"></span>";
    }
    o << "</div>\n";
  }
  if (fs.contains("damage") && fs["damage"].is_array() && !fs["damage"].empty()) {
    o << "<table id=\"damage\"><thead><tr><th>kind</th><th>detail</th></tr></thead><tbody>\n";
    std::size_t shown = 0;
    for (const auto& d : fs["damage"]) {
      if (++shown > 500) break;
      std::string detail = d.dump();
      o << "<tr><td>" << Esc(Str(d, "kind")) << "</td><td><code>" << Esc(detail) << "</code></td></tr>\n";
    }
    o << "</tbody></table>\n";
    if (fs["damage"].size() > 500) o << "<p>… " << fs["damage"].size() - 500 << " more in the JSON report</p>\n";
  }
}

}  // namespace

std::string RenderHtmlReport(const nlohmann::json& report) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>mailrescue report</title>\n"
       "<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
       "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
       ".st-ok td:nth-child(2){color:#070}.st-attention td:nth-child(2){color:#a60}.st-lost td:nth-child(2){color:#b00}"
       "#timeline .tl{display:flex;align-items:center;margin:2px 0}.tlname{width:22em}"
       ".bar{display:inline-block;height:10px;background:#4a4}.bar.st-attention{background:#e90}"
       ".bar.st-lost{background:#c22}#damagemap{display:flex;flex-wrap:wrap;max-width:60em}"
       ".g{width:10px;height:10px;margin:1px;background:#9c9}.g.bad{background:#c22}</style></head><body>\n";
  o << "<h1>mailrescue report</h1>\n<p>command: <b>" << Esc(Str(report, "command")) << "</b>, version "
    << Esc(Str(report, "version")) << "</p>\n";
  if (report.contains("source")) o << "<p>source: <code>" << Esc(report["source"].dump()) << "</code></p>\n";
  if (report.contains("totals")) {
    o << "<h2>Totals</h2>\n<table id=\"totals\"><tbody>\n";
    for (auto it = report["totals"].begin(); it != report["totals"].end(); ++it)
      o << "<tr><td>" << Esc(it.key()) << "</td><td>" << Esc(it.value().is_string() ? it.value().get<std::string>()
                                                                                      : it.value().dump())
        << "</td></tr>\n";
    o << "</tbody></table>\n";
  }
  if (report.contains("users")) {
    // The shared mailboxes (a "%shared" row) head the table: one unit like a user.
    // (Rows are read in place: a store of thousands of users is not copied.)
    static const nlohmann::json kNone;
    UserTable(o, report.contains("shared") ? report["shared"] : kNone, report["users"]);
  }
  if (report.contains("timeline")) Timeline(o, report["timeline"]);
  if (report.contains("filesystem")) DamageMap(o, report["filesystem"]);
  o << "</body></html>\n";
  return o.str();
}

}  // namespace mr::orchestrate
