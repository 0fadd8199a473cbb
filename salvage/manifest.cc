#include "salvage/manifest.h"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>

#include "common/fsutil.h"

namespace mr::salvage {
namespace {

bool PlainJson(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') return false;
  return true;
}

}  // namespace

std::string JsonEscape(const std::string& s) {
  if (PlainJson(s)) return s;
  // nlohmann replaces invalid UTF-8 (names from a damaged disk) instead of throwing.
  std::string d = nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return d.substr(1, d.size() - 2);
}

MemoryFileSource::MemoryFileSource(std::vector<FileRecord> files) : files_(std::move(files)) {
  std::stable_sort(files_.begin(), files_.end(), [](const FileRecord& a, const FileRecord& b) {
    const int c = a.path.compare(b.path);
    return c != 0 ? c < 0 : a.ino < b.ino;
  });
  for (const auto& f : files_) totals_.Add(f);
}

Status MemoryFileSource::ForEach(const std::function<bool(const FileRecord&)>& visit) {
  for (const auto& f : files_)
    if (!visit(f)) break;
  return {};
}

Manifest::Totals Manifest::ComputeTotals() const {
  Totals t;
  if (files) {
    const FileTotals ft = files->totals();
    t.files = ft.files;
    t.bytes = ft.bytes;
    t.damaged_files = ft.damaged_files;
    t.journal_fallback_files = ft.journal_fallback_files;
  }
  t.journal_fallback_blocks = journal_fallback.size();
  for (const auto& d : dirs)
    if (!d.complete) ++t.incomplete_dirs;
  t.lost_found = lost_found.size();
  return t;
}

namespace {

// Appends straight into one buffer (no temporaries per field) and hands it to
// the sink every ~1 MiB.
class Emitter {
 public:
  explicit Emitter(const std::function<bool(std::string_view)>& sink) : sink_(sink) { buf_.reserve(kChunk + 4096); }
  Emitter& operator<<(std::string_view s) { buf_.append(s); Maybe(); return *this; }
  Emitter& operator<<(const char* s) { return *this << std::string_view(s); }  // not the bool overload
  Emitter& operator<<(std::uint64_t v) { return Int(v); }
  Emitter& operator<<(std::int64_t v) { return Int(v); }
  Emitter& operator<<(std::uint32_t v) { return Int(v); }
  Emitter& operator<<(bool b) { return *this << std::string_view(b ? "true" : "false"); }
  // A quoted, escaped JSON string.
  Emitter& Q(const std::string& s) {
    buf_.push_back('"');
    if (PlainJson(s)) buf_.append(s);
    else buf_.append(JsonEscape(s));
    buf_.push_back('"');
    Maybe();
    return *this;
  }
  bool Finish() { Flush(); return ok_; }
  bool ok() const { return ok_; }

 private:
  static constexpr size_t kChunk = 1 << 20;
  template <typename T>
  Emitter& Int(T v) {
    char tmp[24];
    auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
    buf_.append(tmp, static_cast<size_t>(r.ptr - tmp));
    return *this;
  }
  void Maybe() { if (buf_.size() >= kChunk) Flush(); }
  void Flush() {
    if (!buf_.empty() && ok_) ok_ = sink_(buf_);
    buf_.clear();
  }
  const std::function<bool(std::string_view)>& sink_;
  std::string buf_;
  bool ok_ = true;
};

std::string_view Sep(size_t i) { return i ? "," : ""; }

}  // namespace

Result<std::string> ManifestJson(const Manifest& m, const std::string& command) {
  std::string out;
  Status s = EmitManifestJson(m, command, [&](std::string_view p) { out.append(p); return true; });
  if (!s.ok()) return s.error();
  return out;
}

Status EmitManifestJson(const Manifest& m, const std::string& command,
                      const std::function<bool(std::string_view)>& sink) {
  Emitter o(sink);
  o << "{\"tool\":\"mailrescue\",\"version\":";
  o.Q(MAILRESCUE_VERSION) << ",\"command\":";
  o.Q(command) << ",\n\"source\":{\"path\":";
  o.Q(m.source_path) << ",\"size\":" << m.source_size;
  if (!m.sha256_before.empty()) {
    o << ",\"sha256_before\":";
    o.Q(m.sha256_before);
  }
  o << "},\n\"filesystem\":{\"superblock_used\":" << m.fs.superblock_used
    << ",\"superblock_rebuilt\":" << (m.fs.superblock_rebuilt ? "true" : "false")
    << ",\"blocksize\":" << std::uint64_t(m.fs.blocksize) << ",\"blocks_count\":" << m.fs.blocks_count
    << ",\"inodes_count\":" << m.fs.inodes_count << ",\"groups\":" << m.fs.groups << ",\"uuid\":";
  o.Q(m.fs.uuid) << ",\"needs_recovery\":" << m.fs.needs_recovery << ",\"damage\":[";
  for (size_t i = 0; i < m.damage.size(); ++i) {
    o << Sep(i) << "\n {\"kind\":";
    o.Q(m.damage[i].kind) << ",\"detail\":";
    o.Q(m.damage[i].detail) << "}";
  }
  o << "],\n \"journal_fallback\":[";
  for (size_t i = 0; i < m.journal_fallback.size(); ++i)
    o << Sep(i) << "[" << m.journal_fallback[i].fs_block << "," << m.journal_fallback[i].sequence << "]";
  o << "]";
  if (m.fs.journal)
    o << ",\n \"journal\":"
      << m.fs.journal->ToJson().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  o << "},\n\"spool_path\":";
  o.Q(m.spool_path) << ",\"config_path\":";
  o.Q(m.config_path) << ",\n\"dirs\":[";
  for (size_t i = 0; i < m.dirs.size(); ++i) {
    const auto& d = m.dirs[i];
    o << Sep(i) << "\n {\"path\":";
    o.Q(d.path) << ",\"ino\":" << d.ino << ",\"complete\":" << d.complete;
    if (!d.problem.empty()) {
      o << ",\"problem\":";
      o.Q(d.problem);
    }
    if (d.journal_fallback) o << ",\"journal_fallback\":true";
    o << "}";
  }
  o << "],\n\"files\":[";
  size_t i = 0;
  Status read = m.files ? m.files->ForEach([&](const FileRecord& f) {
    o << Sep(i++) << "\n {\"path\":";
    o.Q(f.path) << ",\"ino\":" << f.ino << ",\"size\":" << f.size << ",\"sha1\":";
    o.Q(f.sha1) << ",\"mtime\":" << f.mtime << ",\"mtime_ns\":" << f.mtime_ns << ",\"damaged\":[";
    for (size_t k = 0; k < f.damaged.size(); ++k)
      o << Sep(k) << "[" << f.damaged[k].offset << "," << f.damaged[k].length << "]";
    o << "]";
    if (!f.problem.empty()) {
      o << ",\"problem\":";
      o.Q(f.problem);
    }
    if (f.FromJournal()) {
      o << ",\"journal_fallback\":{\"ranges\":[";
      for (size_t k = 0; k < f.journal_fallback.size(); ++k)
        o << Sep(k) << "[" << f.journal_fallback[k].offset << "," << f.journal_fallback[k].length << "]";
      o << "],\"block_map\":" << f.map_from_journal;
      if (f.inode_from_journal) o << ",\"inode_sequence\":" << f.inode_journal_sequence;
      o << "}";
    }
    o << "}";
    return o.ok();
  }) : Status();
  if (!read.ok()) return read;
  o << "],\n\"symlinks\":[";
  for (size_t i = 0; i < m.symlinks.size(); ++i) {
    o << Sep(i) << "\n {\"path\":";
    o.Q(m.symlinks[i].path) << ",\"ino\":" << m.symlinks[i].ino << ",\"target\":";
    o.Q(m.symlinks[i].target) << "}";
  }
  o << "],\n\"lost_found\":[";
  for (size_t i = 0; i < m.lost_found.size(); ++i) {
    o << Sep(i) << "\n {\"path\":";
    o.Q(m.lost_found[i].path) << ",\"ino\":" << m.lost_found[i].ino << ",\"note\":";
    o.Q(m.lost_found[i].note) << "}";
  }
  o << "],\n\"users\":[";
  for (size_t i = 0; i < m.users.size(); ++i) {
    o << Sep(i) << "\n {\"user\":";
    o.Q(m.users[i].user) << ",\"done\":" << m.users[i].done << "}";
  }
  auto t = m.ComputeTotals();
  o << "],\n\"rest_done\":" << m.rest_done << ",\n\"totals\":{\"files\":" << t.files << ",\"bytes\":" << t.bytes
    << ",\"damaged_files\":" << t.damaged_files << ",\"incomplete_dirs\":" << t.incomplete_dirs
    << ",\"lost_found\":" << t.lost_found << ",\"journal_fallback_files\":" << t.journal_fallback_files
    << ",\"journal_fallback_blocks\":" << t.journal_fallback_blocks << "}}\n";
  if (!o.Finish()) return Error{Code::kIoError, ""};
  return {};
}

Status WriteManifest(const Manifest& m, const std::string& path) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wbe");
  if (!f) return ErrnoError("write " + tmp, errno);
  Status emitted = EmitManifestJson(m, "salvage", [&](std::string_view s) {
    return std::fwrite(s.data(), 1, s.size(), f) == s.size();
  });
  if (!emitted.ok() && !emitted.message().empty()) {  // the records, not the file, failed
    std::fclose(f);
    std::remove(tmp.c_str());
    return emitted;
  }
  bool ok = emitted.ok();
  ok = std::fflush(f) == 0 && ok;
  ok = ::fsync(::fileno(f)) == 0 && ok;
  int e = errno;
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) e = errno;
    std::remove(tmp.c_str());
    return ErrnoError("write " + path, e);
  }
  return {};
}

}  // namespace mr::salvage
