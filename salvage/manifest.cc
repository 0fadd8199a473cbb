#include "salvage/manifest.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "common/fsutil.h"

namespace mr::salvage {
namespace {

std::string Q(const std::string& s) { return "\"" + JsonEscape(s) + "\""; }

}  // namespace

std::string JsonEscape(const std::string& s) {
  // nlohmann replaces invalid UTF-8 (names from a damaged disk) instead of throwing.
  std::string d = nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return d.substr(1, d.size() - 2);
}

Manifest::Totals Manifest::ComputeTotals() const {
  Totals t;
  t.files = files.size();
  for (const auto& f : files) {
    t.bytes += f.size;
    if (!f.damaged.empty()) ++t.damaged_files;
  }
  for (const auto& d : dirs)
    if (!d.complete) ++t.incomplete_dirs;
  t.lost_found = lost_found.size();
  return t;
}

std::string ManifestJson(const Manifest& m, const std::string& command) {
  std::string o;
  o.reserve(256 + m.files.size() * 160);
  o += "{\"tool\":\"mailrescue\",\"version\":" + Q(MAILRESCUE_VERSION) + ",\"command\":" + Q(command);
  o += ",\n\"source\":{\"path\":" + Q(m.source_path) + ",\"size\":" + std::to_string(m.source_size);
  if (!m.sha256_before.empty()) o += ",\"sha256_before\":" + Q(m.sha256_before);
  o += "},\n\"filesystem\":{\"superblock_used\":" + std::to_string(m.fs.superblock_used) +
       ",\"blocksize\":" + std::to_string(m.fs.blocksize) +
       ",\"blocks_count\":" + std::to_string(m.fs.blocks_count) +
       ",\"inodes_count\":" + std::to_string(m.fs.inodes_count) +
       ",\"groups\":" + std::to_string(m.fs.groups) + ",\"uuid\":" + Q(m.fs.uuid) +
       ",\"needs_recovery\":" + (m.fs.needs_recovery ? "true" : "false") + ",\"damage\":[";
  for (size_t i = 0; i < m.damage.size(); ++i)
    o += std::string(i ? "," : "") + "\n {\"kind\":" + Q(m.damage[i].kind) + ",\"detail\":" +
         Q(m.damage[i].detail) + "}";
  o += "]},\n\"spool_path\":" + Q(m.spool_path) + ",\"config_path\":" + Q(m.config_path);
  o += ",\n\"dirs\":[";
  for (size_t i = 0; i < m.dirs.size(); ++i) {
    const auto& d = m.dirs[i];
    o += std::string(i ? "," : "") + "\n {\"path\":" + Q(d.path) + ",\"ino\":" + std::to_string(d.ino) +
         ",\"complete\":" + (d.complete ? "true" : "false");
    if (!d.problem.empty()) o += ",\"problem\":" + Q(d.problem);
    o += "}";
  }
  o += "],\n\"files\":[";
  for (size_t i = 0; i < m.files.size(); ++i) {
    const auto& f = m.files[i];
    o += std::string(i ? "," : "") + "\n {\"path\":" + Q(f.path) + ",\"ino\":" + std::to_string(f.ino) +
         ",\"size\":" + std::to_string(f.size) + ",\"sha1\":" + Q(f.sha1) +
         ",\"mtime\":" + std::to_string(f.mtime) + ",\"mtime_ns\":" + std::to_string(f.mtime_ns) +
         ",\"damaged\":[";
    for (size_t k = 0; k < f.damaged.size(); ++k)
      o += std::string(k ? "," : "") + "[" + std::to_string(f.damaged[k].offset) + "," +
           std::to_string(f.damaged[k].length) + "]";
    o += "]";
    if (!f.problem.empty()) o += ",\"problem\":" + Q(f.problem);
    o += "}";
  }
  o += "],\n\"symlinks\":[";
  for (size_t i = 0; i < m.symlinks.size(); ++i)
    o += std::string(i ? "," : "") + "\n {\"path\":" + Q(m.symlinks[i].path) + ",\"ino\":" +
         std::to_string(m.symlinks[i].ino) + ",\"target\":" + Q(m.symlinks[i].target) + "}";
  o += "],\n\"lost_found\":[";
  for (size_t i = 0; i < m.lost_found.size(); ++i)
    o += std::string(i ? "," : "") + "\n {\"path\":" + Q(m.lost_found[i].path) + ",\"ino\":" +
         std::to_string(m.lost_found[i].ino) + ",\"note\":" + Q(m.lost_found[i].note) + "}";
  o += "],\n\"users\":[";
  for (size_t i = 0; i < m.users.size(); ++i)
    o += std::string(i ? "," : "") + "\n {\"user\":" + Q(m.users[i].user) + ",\"done\":" +
         (m.users[i].done ? "true" : "false") + "}";
  auto t = m.ComputeTotals();
  o += "],\n\"totals\":{\"files\":" + std::to_string(t.files) + ",\"bytes\":" + std::to_string(t.bytes) +
       ",\"damaged_files\":" + std::to_string(t.damaged_files) +
       ",\"incomplete_dirs\":" + std::to_string(t.incomplete_dirs) +
       ",\"lost_found\":" + std::to_string(t.lost_found) + "}}\n";
  return o;
}

Status WriteManifest(const Manifest& m, const std::string& path) {
  return WriteFileAtomic(path, ManifestJson(m), /*do_fsync=*/true);
}

Result<std::map<std::string, PreviousFile>> ReadPreviousFiles(const std::string& path) {
  auto data = ReadFile(path, 2ull << 30);
  if (!data.ok()) return data.error();
  nlohmann::json j = nlohmann::json::parse(data->begin(), data->end(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("files") || !j["files"].is_array())
    return Error{Code::kCorrupt, path + ": not a salvage manifest"};
  std::map<std::string, PreviousFile> out;
  for (const auto& f : j["files"]) {
    if (!f.is_object() || !f.contains("path") || !f["path"].is_string()) continue;
    PreviousFile p;
    p.ino = f.value("ino", 0u);
    p.size = f.value("size", std::uint64_t(0));
    p.sha1 = f.value("sha1", std::string());
    p.intact = f.contains("damaged") && f["damaged"].is_array() && f["damaged"].empty();
    out[f["path"].get<std::string>()] = std::move(p);
  }
  return out;
}

}  // namespace mr::salvage
