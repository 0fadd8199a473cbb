#include "salvage/previous.h"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace mr::salvage {
namespace {

// Spill-file failures are output errors (kIoError: exit 2), whatever errno says.
Error SpillError(const std::string& what, int err) { return Error{Code::kIoError, ErrnoError(what, err).message}; }

// Block encoding: per record, u16 path length, path, u32 ino, u64 size,
// u8 intact, u8 sha1 length, sha1.
void PutRecord(std::string& b, const std::string& path, const PreviousFile& p) {
  const auto plen = static_cast<std::uint16_t>(path.size());
  b.append(reinterpret_cast<const char*>(&plen), 2).append(path);
  b.append(reinterpret_cast<const char*>(&p.ino), 4);
  b.append(reinterpret_cast<const char*>(&p.size), 8);
  b.push_back(p.intact ? 1 : 0);
  b.push_back(static_cast<char>(p.sha1.size()));
  b.append(p.sha1);
}

// Collects files[] records of a salvage manifest, one at a time.
class FilesSax : public nlohmann::json_sax<nlohmann::json> {
 public:
  using Emit = std::function<bool(std::string&& path, PreviousFile&& p)>;
  explicit FilesSax(Emit emit) : emit_(std::move(emit)) {}

  bool null() override { return Value(); }
  bool boolean(bool) override { return Value(); }
  bool number_integer(number_integer_t v) override {
    if (InRecord()) Num(v < 0 ? 0 : static_cast<std::uint64_t>(v));
    return Value();
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (InRecord()) Num(v);
    return Value();
  }
  bool number_float(number_float_t, const string_t&) override { return Value(); }
  bool string(string_t& s) override {
    if (InRecord()) {
      if (key_ == "path") { path_ = std::move(s); has_path_ = true; }
      else if (key_ == "sha1") rec_.sha1 = std::move(s);
    }
    return Value();
  }
  bool binary(binary_t&) override { return Value(); }
  bool start_object(std::size_t) override {
    Open();
    if (depth_ == 3 && in_files_) {
      rec_ = PreviousFile{};
      rec_.found = true;
      path_.clear();
      has_path_ = damaged_seen_ = damaged_nonempty_ = journal_ = false;
    }
    if (depth_ == 4 && in_files_ && key_ == "journal_fallback") journal_ = true;
    return true;
  }
  bool end_object() override {
    if (depth_ == 3 && in_files_ && has_path_) {
      rec_.intact = damaged_seen_ && !damaged_nonempty_ && !journal_;
      if (!emit_(std::move(path_), std::move(rec_))) return false;
    }
    return Close();
  }
  bool start_array(std::size_t) override {
    Open();
    if (depth_ == 2 && key_ == "files") in_files_ = true;
    if (depth_ == 4 && in_files_ && key_ == "damaged") damaged_seen_ = true;
    if (depth_ == 5 && in_files_ && key_ == "damaged") damaged_nonempty_ = true;
    if (depth_ == 4 && in_files_ && key_ == "journal_fallback") journal_ = true;
    return true;
  }
  bool end_array() override {
    if (depth_ == 2) in_files_ = false;
    return Close();
  }
  bool key(string_t& k) override {
    if (depth_ <= 3) key_ = std::move(k);  // keys deeper down do not matter
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  bool InRecord() const { return in_files_ && depth_ == 3; }
  void Num(std::uint64_t v) {
    if (key_ == "ino") rec_.ino = static_cast<std::uint32_t>(v);
    else if (key_ == "size") rec_.size = v;
  }
  bool Value() {
    if (in_files_ && depth_ == 3 && key_ == "journal_fallback") journal_ = true;
    return true;
  }
  void Open() { ++depth_; }
  bool Close() {
    --depth_;
    return true;
  }

  Emit emit_;
  int depth_ = 0;
  bool in_files_ = false;
  std::string key_;
  std::string path_;
  PreviousFile rec_;
  bool has_path_ = false, damaged_seen_ = false, damaged_nonempty_ = false, journal_ = false;
};

bool WriteAt(int fd, const std::string& b, std::uint64_t off) {
  std::size_t done = 0;
  while (done < b.size()) {
    ssize_t w = ::pwrite(fd, b.data() + done, b.size() - done, static_cast<off_t>(off + done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      if (w == 0) errno = ENOSPC;
      return false;
    }
    done += static_cast<std::size_t>(w);
  }
  return true;
}

}  // namespace

PreviousIndex::~PreviousIndex() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<PreviousIndex>> PreviousIndex::Load(const std::string& manifest_path,
                                                            const std::string& spill_dir) {
  std::ifstream in(manifest_path, std::ios::binary);
  if (!in) return ErrnoError("read " + manifest_path, errno);
  std::unique_ptr<PreviousIndex> ix(new PreviousIndex());
  std::string name = (spill_dir.empty() ? std::string(".") : spill_dir) + "/.salvage-resume-XXXXXX";
  ix->fd_ = ::mkstemp(name.data());
  if (ix->fd_ < 0) return SpillError("create resume index " + name, errno);
  ::fcntl(ix->fd_, F_SETFD, FD_CLOEXEC);
  ::unlink(name.c_str());
  ix->name_ = name + " (unlinked)";
  std::string buf, last;
  std::size_t in_block = 0;
  Status err;
  bool unsorted = false;
  auto flush = [&] {
    if (buf.empty()) return true;
    if (!WriteAt(ix->fd_, buf, ix->bytes_)) {
      err = SpillError("write resume index " + ix->name_, errno);
      return false;
    }
    ix->bytes_ += buf.size();
    buf.clear();
    return true;
  };
  FilesSax sax([&](std::string&& path, PreviousFile&& p) {
    if (path.size() > 0xffff || p.sha1.size() > 0xff) return true;  // not ours: never resumable
    if (ix->files_ > 0 && path <= last) {
      unsorted = true;
      return false;
    }
    if (in_block == kBlock) {
      if (!flush()) return false;
      in_block = 0;
    }
    if (in_block == 0) ix->blocks_.push_back({path, ix->bytes_ + buf.size()});
    PutRecord(buf, path, p);
    ++in_block;
    ++ix->files_;
    last = std::move(path);
    return buf.size() < (1u << 20) || flush();
  });
  const bool parsed = nlohmann::json::sax_parse(in, &sax);
  if (!err.ok()) return err.error();
  if (unsorted) return Error{Code::kCorrupt, manifest_path + ": files are not sorted by path"};
  if (!parsed) return Error{Code::kCorrupt, manifest_path + ": not a salvage manifest"};
  if (!flush()) return err.error();
  return ix;
}

Status PreviousIndex::ReadBlock(std::size_t b, std::vector<std::pair<std::string, PreviousFile>>* out) const {
  const std::uint64_t from = blocks_[b].offset;
  const std::uint64_t to = b + 1 < blocks_.size() ? blocks_[b + 1].offset : bytes_;
  std::string data(static_cast<std::size_t>(to - from), '\0');
  std::size_t got = 0;
  while (got < data.size()) {
    ssize_t k = ::pread(fd_, data.data() + got, data.size() - got, static_cast<off_t>(from + got));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return SpillError("read resume index " + name_, k < 0 ? errno : EIO);
    got += static_cast<std::size_t>(k);
  }
  out->clear();
  std::size_t p = 0;
  auto take = [&](void* dst, std::size_t n) {
    if (data.size() - p < n) return false;
    std::memcpy(dst, data.data() + p, n);
    p += n;
    return true;
  };
  while (p < data.size()) {
    std::uint16_t plen = 0;
    std::pair<std::string, PreviousFile> r;
    r.second.found = true;
    std::uint8_t intact = 0, slen = 0;
    if (!take(&plen, 2) || data.size() - p < plen) break;
    r.first.assign(data, p, plen);
    p += plen;
    if (!take(&r.second.ino, 4) || !take(&r.second.size, 8) || !take(&intact, 1) || !take(&slen, 1) ||
        data.size() - p < slen)
      break;
    r.second.intact = intact != 0;
    r.second.sha1.assign(data, p, slen);
    p += slen;
    out->push_back(std::move(r));
  }
  if (p != data.size()) return Error{Code::kIoError, "read resume index " + name_ + ": block does not decode"};
  return {};
}

Status PreviousIndex::Lookup(const std::vector<std::string_view>& paths, std::vector<PreviousFile>* out) const {
  out->assign(paths.size(), PreviousFile{});
  std::vector<std::pair<std::string, PreviousFile>> block;
  std::size_t loaded = SIZE_MAX;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    // The last block whose first path is <= paths[i].
    auto it = std::upper_bound(blocks_.begin(), blocks_.end(), paths[i],
                               [](std::string_view p, const Block& b) { return p < std::string_view(b.first); });
    if (it == blocks_.begin()) continue;
    const auto b = static_cast<std::size_t>(it - blocks_.begin() - 1);
    if (b != loaded) {
      if (Status s = ReadBlock(b, &block); !s.ok()) return s;
      loaded = b;
    }
    auto r = std::lower_bound(block.begin(), block.end(), paths[i],
                              [](const auto& e, std::string_view p) { return std::string_view(e.first) < p; });
    if (r != block.end() && r->first == paths[i]) (*out)[i] = r->second;
  }
  return {};
}

}  // namespace mr::salvage
